"""SIP messages as GB/T 28181 uses them (RFC 3261 text framing): parse, answer, build requests.

Why not a SIP stack from PyPI: `sippy` (2.5, the one maintained Python SIP stack) installs here,
but it runs its own global reactor (`sippy.Core.EventDispatcher`) that owns timers and sockets, so
it cannot share the service's asyncio loop, and it drags in Flask, G.722 and RTP-proxy code the
signalling side does not use. GB/T 28181 uses a small, fixed part of SIP (REGISTER, MESSAGE,
later INVITE/ACK/BYE) without proxies or forking, so the service parses the text framing here:
start line, headers (with compact forms), a body of `Content-Length` bytes. Everything a device
sends is checked here before anything reads it; a message that is not SIP raises `SipParseError`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

# RFC 3261 §7.3.3 compact header forms GB/T 28181 devices are known to send.
_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
            "l": "content-length", "c": "content-type"}  # fmt: skip
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 481: "Call/Transaction Does Not Exist",
           500: "Server Internal Error"}  # fmt: skip
MAX_MESSAGE_BYTES = 65_535


class SipParseError(ValueError):
    """The bytes are not a well-formed SIP message; the text says which part and why."""


@dataclass
class SipMessage:
    """One SIP request or response.

    Attributes:
        method: The request's method (``REGISTER``), or None for a response.
        uri: The request URI, or None for a response.
        status: The response's status code, or None for a request.
        headers: (name, value) pairs in arrival order; names lower-case and unabbreviated.
        body: The body, exactly `Content-Length` bytes.
    """

    method: str | None = None
    uri: str | None = None
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        name = name.lower()
        return next((v for n, v in self.headers if n == name), None)

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    @property
    def cseq(self) -> tuple[int, str]:
        """The CSeq header as (number, method)."""
        raw = self.header("cseq") or ""
        parts = raw.split()
        if len(parts) != 2 or not (parts[0].isascii() and parts[0].isdigit()):
            raise SipParseError(f"CSeq {raw!r} is not 'number METHOD'")
        return int(parts[0]), parts[1].upper()

    def encode(self) -> bytes:
        if self.method is not None:
            start = f"{self.method} {self.uri} SIP/2.0"
        else:
            start = f"SIP/2.0 {self.status} {self.reason or REASONS.get(self.status or 0, '')}"
        lines = [start]
        lines += [f"{_canonical(n)}: {v}" for n, v in self.headers if n != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def _canonical(name: str) -> str:
    special = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate"}
    return special.get(name, "-".join(p.capitalize() for p in name.split("-")))


def parse(data: bytes) -> SipMessage:
    """Parse one SIP message from a datagram.

    Raises:
        SipParseError: not SIP/2.0, a header line without a colon, a missing mandatory header
            (Via, From, To, Call-ID, CSeq) or a body shorter than its Content-Length.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SipParseError(f"header bytes are not UTF-8 at byte {err.start}") from err
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].split(" ", 2)
    message = SipMessage()
    if start[0] == "SIP/2.0":
        if len(start) < 2 or not (start[1].isascii() and start[1].isdigit()):
            raise SipParseError(f"status line {lines[0][:80]!r} has no status code")
        message.status = int(start[1])
        message.reason = start[2] if len(start) > 2 else ""
    elif len(start) == 3 and start[2] == "SIP/2.0" and start[0].isalpha() and start[0].isupper():
        message.method, message.uri = start[0], start[1]
    else:
        raise SipParseError(f"start line {lines[0][:80]!r} is not a SIP/2.0 request or status")
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and message.headers:  # folded continuation
            name, value = message.headers[-1]
            message.headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise SipParseError(f"header line {line[:80]!r} has no name and colon")
        name = name.strip().lower()
        message.headers.append((_COMPACT.get(name, name), value.strip()))
    for required in ("via", "from", "to", "call-id", "cseq"):
        if message.header(required) is None:
            raise SipParseError(f"header {_canonical(required)} is missing")
    message.cseq  # noqa: B018 - validates the CSeq's shape
    length_text = message.header("content-length")
    if length_text is not None:
        if not (length_text.isascii() and length_text.isdigit()):
            raise SipParseError(f"Content-Length {length_text!r} is not a number")
        length = int(length_text)
        if len(body) < length:
            raise SipParseError(f"body has {len(body)} bytes, Content-Length says {length}")
        body = body[:length]
    message.body = body
    return message


def response(request: SipMessage, status: int, *extra: tuple[str, str]) -> SipMessage:
    """The answer to `request` (RFC 3261 §8.2.6): its Via, From, To (tagged), Call-ID, CSeq."""
    headers = [(n, v) for n, v in request.headers if n in ("via", "from", "call-id", "cseq")]
    to = request.header("to") or ""
    if ";tag=" not in to:
        to = f"{to};tag={secrets.token_hex(4)}"
    headers.insert(2, ("to", to))
    headers += list(extra)
    return SipMessage(status=status, headers=headers)


def params(value: str) -> dict[str, str]:
    """The `;name=value` parameters of a header value (From's tag), names lower-case."""
    out: dict[str, str] = {}
    for part in value.split(";")[1:]:
        name, _, val = part.partition("=")
        out[name.strip().lower()] = val.strip()
    return out


def user_of(value: str) -> str:
    """The user part of the URI in a From/To/Contact value: `<sip:340200...@3402000000>` → id."""
    start = value.find("sip:")
    if start < 0:
        raise SipParseError(f"{value[:80]!r} has no sip: URI")
    rest = value[start + 4 :]
    user, at, _ = rest.partition("@")
    if not at:
        raise SipParseError(f"{value[:80]!r} has no user part")
    return user


def branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)
