"""Camera addresses: split, checked, with credentials taken out of the URL that is requested."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from contract.addresses import canonical_address, normalised_address
from ingest.errors import InvalidSource


@dataclass(frozen=True)
class CameraAddress:
    """A camera URL taken apart. `url` is what is requested: lower-case scheme, explicit port,
    no credentials, no fragment."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    url: str


def split_address(
    camera_id: str, url: str, default_ports: Mapping[str, int], kind: str
) -> CameraAddress:
    """Split and check a camera URL whose scheme is one of `default_ports`; raises
    InvalidSource saying what is wrong (never repeating the URL, which may hold a password).

    A password may hold `/`, `?`, `#` or `@` unencoded (`contract.addresses.split_credentials`).

    Example:
        >>> split_address("gate", "rtsp://u:p@cam/main", {"rtsp": 554}, "RTSP").url
        'rtsp://cam:554/main'
        >>> split_address("gate", "rtsp://u:p/w#d@cam/main", {"rtsp": 554}, "RTSP").password
        'p/w#d'
    """
    url = canonical_address(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        # urlsplit's message would repeat the URL, credentials and all.
        raise InvalidSource(camera_id, "the port is not a number from 0 to 65535") from err
    scheme = parts.scheme.lower()
    if scheme not in default_ports:
        raise InvalidSource(camera_id, f"not an {kind} address (scheme {scheme or 'missing'})")
    host = parts.hostname
    if not host:
        raise InvalidSource(camera_id, "no host name in the address")
    if any(character.isspace() for character in url):
        raise InvalidSource(camera_id, "the address contains white space")
    port = port or default_ports[scheme]
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return CameraAddress(
        scheme=scheme,
        host=host,
        port=port,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        url=parts._replace(scheme=scheme, netloc=netloc, fragment="").geturl(),
    )


# What URL parsers (urlsplit, WHATWG) drop from the ends of an address: C0 controls and space.
def normalise_address(camera_id: str, address: str) -> str:
    """`address` as parsers read it: white space and control characters at either end removed.

    Decisions about an address (which scheme it is, who may use it) are made on this, never on
    the raw text: `urlsplit(" file:///x").scheme` is "file", though the text does not start
    with it.

    Raises:
        InvalidSource: A control character inside the address (parsers drop tabs and line
            breaks there too, so the address would not be what it looks like).

    Example:
        >>> normalise_address("gate", " \\tfile:///etc/passwd\\n")
        'file:///etc/passwd'
    """
    try:
        return normalised_address(address)
    except ValueError as err:
        raise InvalidSource(camera_id, str(err)) from err


def address_scheme(camera_id: str, address: str) -> str:
    """The lower-case scheme of the parsed, normalised `address` ("" when it has none).

    Raises:
        InvalidSource: The address has a control character inside, or does not parse.
    """
    try:
        return urlsplit(normalise_address(camera_id, address)).scheme.lower()
    except ValueError as err:  # an unbalanced [ of an IPv6 host
        raise InvalidSource(camera_id, "not a URL") from err
