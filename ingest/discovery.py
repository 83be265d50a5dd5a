"""WS-Discovery: find ONVIF cameras on the local network by a multicast Probe.

A Probe for `dn:NetworkVideoTransmitter` goes to 239.255.255.250:3702; every ONVIF camera on the
segment answers with a ProbeMatch naming its device service addresses (XAddrs) and its scopes,
which carry its name, model and location. Standard library sockets, and defusedxml for the
answers, since anything on the network may send us a datagram.

Example:
    >>> for camera in discover(timeout_s=2):
    ...     print(camera.xaddrs[0], camera.model, camera.name)
"""

from __future__ import annotations

import logging
import select
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET

log = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
NETWORK_VIDEO_TRANSMITTER = "dn:NetworkVideoTransmitter"

_SOAP = "http://www.w3.org/2003/05/soap-envelope"
_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
_DISCOVERY = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
_NS = {"s": _SOAP, "a": _ADDRESSING, "d": _DISCOVERY}
_SCOPE_PREFIX = "onvif://www.onvif.org/"

_PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="{soap}" xmlns:a="{addressing}" xmlns:d="{discovery}"
            xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
  <s:Header>
    <a:Action s:mustUnderstand="1">{discovery}/Probe</a:Action>
    <a:MessageID>{message_id}</a:MessageID>
    <a:ReplyTo><a:Address>{addressing}/role/anonymous</a:Address></a:ReplyTo>
    <a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>
  </s:Header>
  <s:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></s:Body>
</s:Envelope>"""


@dataclass(frozen=True, slots=True)
class DiscoveredCamera:
    """One device that answered a Probe.

    Attributes:
        endpoint: Its stable endpoint reference (usually `urn:uuid:...`).
        xaddrs: Its device service addresses, e.g. `http://192.0.2.10/onvif/device_service`.
        scopes: Its scope URIs as sent.
        types: The types it says it is (`dn:NetworkVideoTransmitter`, `tds:Device`, ...).
        responder: The IP address the answer came from.
    """

    endpoint: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]
    types: tuple[str, ...]
    responder: str

    def _scope(self, kind: str) -> str | None:
        prefix = f"{_SCOPE_PREFIX}{kind}/"
        for scope in self.scopes:
            if scope.lower().startswith(prefix):
                return unquote(scope[len(prefix) :]) or None
        return None

    @property
    def name(self) -> str | None:
        """The name scope (`onvif://www.onvif.org/name/...`), decoded."""
        return self._scope("name")

    @property
    def model(self) -> str | None:
        """The hardware scope (`onvif://www.onvif.org/hardware/...`): the model, where given."""
        return self._scope("hardware")

    @property
    def location(self) -> str | None:
        """The location scope (`onvif://www.onvif.org/location/...`), decoded."""
        return self._scope("location")

    @property
    def onvif_url(self) -> str:
        """An onvif:// source URL for a camera config (add the user and password yourself)."""
        for xaddr in self.xaddrs:
            parts = urlsplit(xaddr)
            if parts.hostname:
                host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
                return f"onvif://{host}:{parts.port or 80}"
        return f"onvif://{self.responder}:80"


def probe_message(message_id: str, types: str = NETWORK_VIDEO_TRANSMITTER) -> bytes:
    """The SOAP Probe datagram for `types`."""
    return _PROBE.format(
        soap=_SOAP,
        addressing=_ADDRESSING,
        discovery=_DISCOVERY,
        message_id=message_id,
        types=types,
    ).encode()


def _words(element: Element, path: str) -> tuple[str, ...]:
    return tuple((element.findtext(path, default="", namespaces=_NS) or "").split())


def parse_probe_matches(
    datagram: bytes, responder: str, message_id: str | None = None
) -> list[DiscoveredCamera]:
    """The devices in one ProbeMatches answer; empty when it is something else or malformed.

    With `message_id`, answers that say they reply to another Probe are dropped. A ProbeMatch
    straight in the Body, without the ProbeMatches around it, is accepted too, as is an
    EndpointReference in the discovery namespace: some devices send them that way.
    """
    try:
        envelope = SafeET.fromstring(datagram)
    except Exception:  # anything on the segment may send anything
        log.debug("discovery: unreadable datagram from %s", responder)
        return []
    relates_to = envelope.findtext("s:Header/a:RelatesTo", default="", namespaces=_NS).strip()
    if message_id and relates_to and relates_to != message_id:
        return []
    body = envelope.find("s:Body", _NS)
    if body is None:
        return []
    cameras = []
    for match in body.iter(f"{{{_DISCOVERY}}}ProbeMatch"):
        # The specification puts EndpointReference in the addressing namespace; some devices
        # put it in the discovery one.
        endpoint = match.findtext(
            "a:EndpointReference/a:Address", default="", namespaces=_NS
        ) or match.findtext("d:EndpointReference/a:Address", default="", namespaces=_NS)
        xaddrs = _words(match, "d:XAddrs")
        if not xaddrs and not endpoint:
            continue
        cameras.append(
            DiscoveredCamera(
                endpoint=endpoint.strip(),
                xaddrs=xaddrs,
                scopes=_words(match, "d:Scopes"),
                types=_words(match, "d:Types"),
                responder=responder,
            )
        )
    return cameras


def discover(
    timeout_s: float = 3.0,
    *,
    interface: str | None = None,
    types: str = NETWORK_VIDEO_TRANSMITTER,
    group: str = MULTICAST_GROUP,
    port: int = DISCOVERY_PORT,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[DiscoveredCamera]:
    """Probe the network and collect the devices that answer within `timeout_s`.

    Args:
        timeout_s: How long to listen for answers, in seconds.
        interface: IPv4 address of the local interface to probe from; the system's default
            multicast interface when None.
        types: The device types to ask for.
        group: Multicast group to send to (the WS-Discovery group unless testing).
        port: UDP port to send to.
        monotonic: Clock, for tests.

    Returns:
        One entry per device (by endpoint reference, else by address), in order of answer.
    """
    message_id = f"urn:uuid:{uuid.uuid4()}"
    probe = probe_message(message_id, types)
    found: dict[str, DiscoveredCamera] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
        sock.bind((interface or "", 0))
        # TTL 1: discovery is for the local segment, as the WS-Discovery profile says.
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        if interface:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        deadline = monotonic() + timeout_s
        # UDP may drop a datagram; a second Probe a moment later is what WS-Discovery clients do.
        resend_at: float | None = monotonic() + min(0.5, timeout_s / 3)
        sock.sendto(probe, (group, port))
        log.debug("discovery: probe %s sent to %s:%d", message_id, group, port)
        while (left := deadline - monotonic()) > 0:
            if resend_at is not None and monotonic() >= resend_at:
                sock.sendto(probe, (group, port))
                resend_at = None
            wait = left if resend_at is None else max(0.0, min(left, resend_at - monotonic()))
            readable, _, _ = select.select([sock], [], [], wait)
            if not readable:
                continue
            datagram, (responder, _port) = sock.recvfrom(65535)
            for camera in parse_probe_matches(datagram, responder, message_id):
                key = camera.endpoint or " ".join(camera.xaddrs)
                if key not in found:
                    log.debug("discovery: %s answered from %s", key, responder)
                    found[key] = camera
    return list(found.values())
