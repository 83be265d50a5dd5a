"""A minimal ONVIF device on loopback that speaks the event service (PullPoint) only.

The camera simulator the suite uses (ipycam) has no event service, so the PullPoint calls are
tested against this real SOAP endpoint instead: the real client library sends real requests over
HTTP, and the answers are SOAP 1.2 envelopes in the shape the ONVIF Core specification gives.
It records every action it was asked for, so tests can check that subscriptions are renewed and
released.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).parent / "data" / "onvif"

_ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
  xmlns:wsa5="http://www.w3.org/2005/08/addressing" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"
  xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tev="http://www.onvif.org/ver10/events/wsdl"
  xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tns1="http://www.onvif.org/ver10/topics">
<env:Body>{body}</env:Body></env:Envelope>"""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _date_time(name: str, moment: datetime) -> str:
    """A `tt:DateTime` element named `name` holding `moment`'s date and time of day."""
    return (
        f"<tt:{name}><tt:Time><tt:Hour>{moment.hour}</tt:Hour><tt:Minute>{moment.minute}"
        f"</tt:Minute><tt:Second>{moment.second}</tt:Second></tt:Time><tt:Date><tt:Year>"
        f"{moment.year}</tt:Year><tt:Month>{moment.month}</tt:Month><tt:Day>{moment.day}"
        f"</tt:Day></tt:Date></tt:{name}>"
    )


@dataclass
class EventsDevice:
    """State of the fake device: what it was asked, and what it will answer."""

    port: int = 0
    lifetime: timedelta = timedelta(seconds=60)
    actions: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # raw PullMessages answers, in order
    subscriptions: int = 0
    forget_subscriptions: bool = False  # answer Renew/PullMessages with a fault, as after a reboot
    # How GetSystemDateAndTime answers: "utc" (UTCDateTime and LocalDateTime), "local" (only
    # LocalDateTime, in UTC+8, as some cameras do) or "none" (no time at all); the camera's
    # clock runs `clock_drift` ahead of ours.
    clock: str = "utc"
    clock_drift: timedelta = timedelta(0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, action: str, request: str) -> tuple[int, str]:
        now = datetime.now(UTC)
        if action == "GetSystemDateAndTime":
            camera_now = now + self.clock_drift
            times = ""
            if self.clock == "utc":
                times += _date_time("UTCDateTime", camera_now)
            if self.clock in ("utc", "local"):
                times += _date_time("LocalDateTime", camera_now + timedelta(hours=8))
            body = (
                "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                "<tt:DateTimeType>Manual</tt:DateTimeType>"
                "<tt:DaylightSavings>false</tt:DaylightSavings>"
                f"<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone>{times}"
                "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
            )
        elif action == "GetServices":
            services = [
                ("http://www.onvif.org/ver10/device/wsdl", "/onvif/device_service"),
                ("http://www.onvif.org/ver10/events/wsdl", "/onvif/events_service"),
            ]
            body = (
                "<tds:GetServicesResponse>"
                + "".join(
                    f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{self.url}{path}"
                    "</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor>"
                    "</tds:Version></tds:Service>"
                    for ns, path in services
                )
                + "</tds:GetServicesResponse>"
            )
        elif action == "CreatePullPointSubscription":
            self.subscriptions += 1
            self.forget_subscriptions = False
            body = (
                "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
                f"<wsa5:Address>{self.url}/onvif/subscription/{self.subscriptions}</wsa5:Address>"
                f"</tev:SubscriptionReference><wsnt:CurrentTime>{_stamp(now)}</wsnt:CurrentTime>"
                f"<wsnt:TerminationTime>{_stamp(now + self.lifetime)}</wsnt:TerminationTime>"
                "</tev:CreatePullPointSubscriptionResponse>"
            )
        elif self.forget_subscriptions and action in ("PullMessages", "Renew"):
            return 400, _ENVELOPE.format(
                body="<env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code>"
                "<env:Reason><env:Text xml:lang='en'>Unknown subscription</env:Text>"
                "</env:Reason></env:Fault>"
            )
        elif action == "PullMessages":
            if self.pending:
                return 200, self.pending.pop(0)
            body = (
                f"<tev:PullMessagesResponse><tev:CurrentTime>{_stamp(now)}</tev:CurrentTime>"
                f"<tev:TerminationTime>{_stamp(now + self.lifetime)}</tev:TerminationTime>"
                "</tev:PullMessagesResponse>"
            )
        elif action == "Renew":
            body = (
                f"<wsnt:RenewResponse><wsnt:TerminationTime>{_stamp(now + self.lifetime)}"
                f"</wsnt:TerminationTime><wsnt:CurrentTime>{_stamp(now)}</wsnt:CurrentTime>"
                "</wsnt:RenewResponse>"
            )
        elif action == "Unsubscribe":
            body = "<wsnt:UnsubscribeResponse/>"
        else:
            return 400, _ENVELOPE.format(
                body="<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code>"
                f"<env:Reason><env:Text xml:lang='en'>Action not supported: {action}</env:Text>"
                "</env:Reason></env:Fault>"
            )
        return 200, _ENVELOPE.format(body=body)


_ACTION = re.compile(r"<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)", re.DOTALL)


@contextmanager
def events_device(
    lifetime: timedelta = timedelta(seconds=60),
    *,
    clock: str = "utc",
    clock_drift: timedelta = timedelta(0),
) -> Iterator[EventsDevice]:
    """Serve an EventsDevice on a loopback port for the duration of the block."""
    device = EventsDevice(lifetime=lifetime, clock=clock, clock_drift=clock_drift)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            match = _ACTION.search(request)
            action = match.group(1) if match else ""
            with lock:
                device.actions.append(action)
                status, reply = device.answer(action, request)
            payload = reply.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    device.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield device
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
