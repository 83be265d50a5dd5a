"""WS-Discovery: the simulated camera found by a real multicast Probe, answers from the spec."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from defusedxml import ElementTree as SafeET
from typer.testing import CliRunner

from gridwatch.cli import app
from ingest.discovery import discover, parse_probe_matches, probe_message
from tests.ingest.onvif_sim import NAME, Simulator, shared_simulator

# The simulator adds a network link to the machine, and a browser drops its requests when the
# network changes: these run in the suite's serial part, never beside the console's tests.
pytestmark = pytest.mark.hostnet

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
}


@pytest.fixture(scope="session")
def onvif_sim(demo_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    yield from shared_simulator(demo_clip, tmp_path_factory.mktemp("onvif-sim") / "sim.log")


def probe_matches(relates_to: str, *matches: str) -> bytes:
    """A ProbeMatches answer as the WS-Discovery specification shapes it."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:d="{NS["d"]}"
            xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
  <s:Header>
    <a:Action>{NS["d"]}/ProbeMatches</a:Action>
    <a:MessageID>urn:uuid:5b7b1c4e-0000-4000-8000-000000000001</a:MessageID>
    <a:RelatesTo>{relates_to}</a:RelatesTo>
  </s:Header>
  <s:Body><d:ProbeMatches>{"".join(matches)}</d:ProbeMatches></s:Body>
</s:Envelope>""".encode()


def match(uuid: str, xaddrs: str, scopes: str) -> str:
    return (
        f"<d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:{uuid}</a:Address>"
        "</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
        f"<d:Scopes>{scopes}</d:Scopes><d:XAddrs>{xaddrs}</d:XAddrs>"
        "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch>"
    )


SCHOOL_GATE = match(
    "0001",
    "http://192.0.2.21/onvif/device_service http://[2001:db8::21]/onvif/device_service",
    "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/hardware/DS-2CD2043G2-I "
    "onvif://www.onvif.org/name/School%20Gate onvif://www.onvif.org/location/city/Wuhou",
)
CLINIC = match(
    "0002", "http://192.0.2.22:8000/onvif/device_service", "onvif://www.onvif.org/name/Clinic"
)


def test_the_probe_asks_for_video_transmitters() -> None:
    envelope = SafeET.fromstring(probe_message("urn:uuid:1234"))
    assert envelope.findtext("s:Header/a:Action", namespaces=NS) == f"{NS['d']}/Probe"
    assert envelope.findtext("s:Header/a:MessageID", namespaces=NS) == "urn:uuid:1234"
    assert (
        envelope.findtext("s:Body/d:Probe/d:Types", namespaces=NS) == "dn:NetworkVideoTransmitter"
    )


def test_probe_matches_give_address_model_name_and_scopes() -> None:
    gate, clinic = parse_probe_matches(
        probe_matches("urn:uuid:1", SCHOOL_GATE, CLINIC), "192.0.2.21"
    )
    assert gate.endpoint == "urn:uuid:0001" and gate.responder == "192.0.2.21"
    assert gate.xaddrs[0] == "http://192.0.2.21/onvif/device_service" and len(gate.xaddrs) == 2
    assert (gate.model, gate.name, gate.location) == ("DS-2CD2043G2-I", "School Gate", "city/Wuhou")
    assert gate.onvif_url == "onvif://192.0.2.21:80"
    assert "onvif://www.onvif.org/type/video_encoder" in gate.scopes
    assert (clinic.model, clinic.name, clinic.onvif_url) == (
        None,
        "Clinic",
        "onvif://192.0.2.22:8000",
    )


@pytest.mark.parametrize(
    "datagram",
    [
        b"not xml at all",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',  # entities refused
        probe_matches("urn:uuid:someone-else", SCHOOL_GATE),  # answers another client's probe
        probe_message("urn:uuid:2"),  # another client's probe, not an answer
    ],
)
def test_anything_else_on_the_port_is_ignored(datagram: bytes) -> None:
    assert parse_probe_matches(datagram, "192.0.2.99", message_id="urn:uuid:1") == []


@pytest.fixture
def loopback_responder() -> Iterator[tuple[int, list[bytes]]]:
    """A device on loopback that answers each probe twice (as UDP repeats do) plus a stray."""
    probes: list[bytes] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                datagram, sender = sock.recvfrom(65535)
            except TimeoutError:
                continue
            probes.append(datagram)
            message_id = SafeET.fromstring(datagram).findtext("s:Header/a:MessageID", namespaces=NS)
            sock.sendto(probe_matches(str(message_id), SCHOOL_GATE, CLINIC), sender)
            sock.sendto(probe_matches("urn:uuid:stale", match("9", "http://x/", "")), sender)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], probes
    stop.set()
    thread.join(timeout=2)
    sock.close()


def test_discover_collects_each_device_once(loopback_responder: tuple[int, list[bytes]]) -> None:
    port, probes = loopback_responder
    cameras = discover(1.0, group="127.0.0.1", port=port)
    assert [camera.endpoint for camera in cameras] == ["urn:uuid:0001", "urn:uuid:0002"]
    assert len(probes) == 2  # sent twice, since UDP may lose one


def test_discover_with_nobody_answering_is_empty() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as unused:
        unused.bind(("127.0.0.1", 0))  # bound and silent
        assert discover(0.3, group="127.0.0.1", port=unused.getsockname()[1]) == []


def test_the_simulated_camera_answers_a_multicast_probe(onvif_sim: Simulator) -> None:
    (camera,) = discover(1.5, interface=onvif_sim.host_ip)
    assert camera.xaddrs == (f"http://{onvif_sim.camera_ip}:8080/onvif/device_service",)
    assert camera.responder == onvif_sim.camera_ip and camera.endpoint.startswith("urn:uuid:")
    assert camera.name == NAME and "dn:NetworkVideoTransmitter" in camera.types
    assert camera.onvif_url == f"onvif://{onvif_sim.camera_ip}:8080"


def test_cameras_discover_command(onvif_sim: Simulator) -> None:
    result = CliRunner().invoke(
        app, ["cameras", "discover", "--timeout", "1.5", "--interface", onvif_sim.host_ip]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"onvif://{onvif_sim.camera_ip}:8080  model=-  name={NAME}"
        f"  xaddrs=http://{onvif_sim.camera_ip}:8080/onvif/device_service"
    )
    assert f"    onvif://www.onvif.org/name/{NAME}" in lines
    assert "1 camera(s) answered within 1.5 s" in result.stderr


def test_admins_discover_cameras_through_the_api(
    onvif_sim: Simulator, api_client, accounts
) -> None:  # type: ignore[no-untyped-def]
    body = {"timeout_s": 1.5, "interface": onvif_sim.host_ip}
    refused = api_client.post(
        "/api/v1/cameras/discover", json=body, headers=accounts.headers("school_owner")
    )
    assert refused.status_code == 403
    response = api_client.post(
        "/api/v1/cameras/discover", json=body, headers=accounts.headers("admin")
    )
    assert response.status_code == 200, response.text
    (camera,) = response.json()
    assert camera["source"] == f"onvif://{onvif_sim.camera_ip}:8080"
    assert camera["name"] == NAME
