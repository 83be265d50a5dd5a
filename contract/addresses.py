"""Camera addresses: where their credentials are (user info, credential query parameters),
how they are written so that every URL parser reads them alike, and how they are shown masked.

Camera passwords hold characters that delimit URLs (`/`, `?`, `#`, `@`), and people write them
unencoded: `rtsp://admin:pa/ss@10.0.0.7/Streaming/101`. RFC 3986 parsers then take `admin` for
the host. `split_credentials` reads such an address as meant, `canonical_address` writes its
user info percent-encoded (what parsers, FFmpeg and cameras agree on), and `mask_credentials`
masks whatever either form holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

MASK = "***"

_SCHEME_PREFIX = re.compile(r"^(?P<prefix>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>.*)$", re.DOTALL)
# host[:port] as it follows the user info: a name or IPv4 (with ${VAR} references and
# percent-encoding), or a bracketed IPv6 literal; the port digits or a ${VAR}.
_HOST_PORT = re.compile(
    r"^(?:\[[0-9A-Fa-f:.]+(?:%[\w.~-]+)?\]|(?:[\w.~%!$&'()*+,;=-]|\$\{\w+\})+)"
    r"(?::(?:\d{1,5}|\$\{\w+\}))?$"
)
# What may stay unencoded in user info (RFC 3986 unreserved and sub-delims, ":" between user
# and password, "%" of an escape), and ${VAR} references, which are encoded when expanded.
_USERINFO_SAFE = "!$&'()*+,;=:-._~"
_ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# A query parameter whose name says it carries a credential: user, pwd, password, token,
# api_key, auth, signature... (ONVIF snapshot URIs, CGI snapshot pages).
CREDENTIAL_PARAMETER_NAME = (
    r"[\w.\-\[\]]*(?:token|key|passw|pwd|secret|signature|sig|auth|credential|user|usr|login)"
    r"[\w.\-\[\]]*"
)
_QUERY_CREDENTIAL = re.compile(rf"(?P<name>(?:^|[&;]){CREDENTIAL_PARAMETER_NAME}=)[^&;]*", re.I)


@dataclass(frozen=True)
class SplitAddress:
    """An address cut where its credentials are: `prefix` (scheme and //), `userinfo` as
    written (None when there is none) and `rest` (host, port, path, query, fragment)."""

    prefix: str
    userinfo: str | None
    rest: str

    def joined(self, userinfo: str | None) -> str:
        return self.prefix + ("" if userinfo is None else f"{userinfo}@") + self.rest


def _authority_end(text: str) -> int:
    ends = [index for index in (text.find(c) for c in "/?#") if index >= 0]
    return min(ends) if ends else len(text)


def _host_port(text: str) -> bool:
    return bool(_HOST_PORT.match(text))


def split_credentials(address: str) -> SplitAddress:
    """Where `address`'s user info is, read as a person wrote it.

    An address whose authority (up to the first `/`, `?` or `#`) is a plain host[:port] has no
    user info. Otherwise the user info extends to the last `@` that a valid host[:port]
    follows: `rtsp://admin:pa/ss@cam/101` is user `admin`, password `pa/ss`, and `@` may be in
    the password too. Two readings stay ambiguous, and are read so: a password whose part
    before its first delimiter is a number (`admin:12/34@cam` is host `admin`, port 12), and
    an `@` in the query of an address with user info (taken as the password's). Write such a
    password percent-encoded.

    Example:
        >>> split_credentials("rtsp://admin:p#1?@x@10.0.0.7:554/Streaming/101")
        SplitAddress(prefix='rtsp://', userinfo='admin:p#1?@x', rest='10.0.0.7:554/Streaming/101')
        >>> split_credentials("http://cam/snap.cgi?user=admin@site").userinfo is None
        True
    """
    match = _SCHEME_PREFIX.match(address)
    if match is None:
        return SplitAddress("", None, address)
    prefix, rest = match.group("prefix"), match.group("rest")
    authority = rest[: _authority_end(rest)]
    if prefix.lower() == "file://" or not authority:
        return SplitAddress(prefix, None, rest)  # a path: whatever it holds is no user info
    _userinfo, at, host = authority.rpartition("@")
    if not at and _host_port(host):
        return SplitAddress(prefix, None, rest)
    # User info there is (an @ in the authority), or the authority is no host[:port]: the
    # user info runs to the last @ that a host[:port] follows.
    for index in reversed([i for i, c in enumerate(rest) if c == "@"]):
        after = rest[index + 1 :]
        if _host_port(after[: _authority_end(after)]):
            return SplitAddress(prefix, rest[:index], after)
    if at:  # a malformed host or port: the user info is still what precedes it, to be masked
        return SplitAddress(prefix, _userinfo, rest[len(authority) - len(host) :])
    return SplitAddress(prefix, None, rest)


def _encode_userinfo(userinfo: str) -> str:
    """User info with every character that would end it percent-encoded; escapes and ${VAR}
    references kept."""
    pieces = []
    position = 0
    for match in _ENV_REFERENCE.finditer(userinfo):
        pieces.append(_encode_text(userinfo[position : match.start()]))
        pieces.append(match.group())
        position = match.end()
    pieces.append(_encode_text(userinfo[position:]))
    return "".join(pieces)


def _encode_text(text: str) -> str:
    out = []
    position = 0
    for match in _ESCAPE.finditer(text):
        out.append(quote(text[position : match.start()], safe=_USERINFO_SAFE))
        out.append(match.group())
        position = match.end()
    out.append(quote(text[position:], safe=_USERINFO_SAFE))
    return "".join(out)


def canonical_address(address: str) -> str:
    """`address` with its user info percent-encoded, so that every parser finds the host
    where the writer meant it (`split_credentials`); anything else is left as written.

    Example:
        >>> canonical_address("rtsp://admin:pa/ss#1@10.0.0.7/Streaming/101")
        'rtsp://admin:pa%2Fss%231@10.0.0.7/Streaming/101'
        >>> canonical_address("rtsp://admin:${CAM_PASS}@10.0.0.7/101")
        'rtsp://admin:${CAM_PASS}@10.0.0.7/101'
    """
    split = split_credentials(address)
    if split.userinfo is None:
        return address
    return split.joined(_encode_userinfo(split.userinfo))


def substitute_references(address: str, value_of: Callable[[str], str]) -> str:
    """`address` with each ${VAR} replaced by `value_of(VAR)`, percent-encoded where the value
    lands in the user info or the query, so that a password with `#`, `/`, `@` or `&` stays a
    password; elsewhere (a host, a path of a file://) as it is.

    Example:
        >>> substitute_references("rtsp://admin:${P}@cam/101?pwd=${P}", lambda name: "a#b&c")
        'rtsp://admin:a%23b%26c@cam/101?pwd=a%23b%26c'
    """
    split = split_credentials(address)

    def expand(text: str, encode: bool) -> str:
        def replace(match: re.Match[str]) -> str:
            value = value_of(match.group()[2:-1])
            return quote(value, safe=_USERINFO_SAFE.replace("&", "")) if encode else value

        return _ENV_REFERENCE.sub(replace, text)

    rest, hash_mark, fragment = split.rest.partition("#")
    path, question, query = rest.partition("?")
    expanded_rest = (
        expand(path, False) + question + expand(query, True) + hash_mark + expand(fragment, False)
    )
    userinfo = None if split.userinfo is None else expand(split.userinfo, True)
    return split.prefix + ("" if userinfo is None else f"{userinfo}@") + expanded_rest


def mask_credentials(url: str) -> str:
    """`url` with its user info, and the values of credential query parameters, replaced by
    ***, fit to be logged or shown. Works on the text of the address, so a malformed port, or a
    password with an unencoded `/`, `#`, `?` or `@`, does not stop the masking.

    Example:
        >>> mask_credentials("rtsp://admin:pa55@10.1.2.3:554/Streaming/101")
        'rtsp://***@10.1.2.3:554/Streaming/101'
        >>> mask_credentials("rtsp://admin:pa/ss#1@10.1.2.3/101")
        'rtsp://***@10.1.2.3/101'
        >>> mask_credentials("http://10.1.2.3/snapshot.cgi?user=admin&pwd=x%23y&chn=1")
        'http://10.1.2.3/snapshot.cgi?user=***&pwd=***&chn=1'
    """
    split = split_credentials(url)
    rest = split.rest
    question = rest.find("?")
    if question >= 0:
        fragment_at = rest.find("#", question)
        end = len(rest) if fragment_at < 0 else fragment_at
        query = _QUERY_CREDENTIAL.sub(rf"\g<name>{MASK}", rest[question + 1 : end])
        rest = rest[: question + 1] + query + rest[end:]
    return SplitAddress(split.prefix, None, rest).joined(None if split.userinfo is None else MASK)


# White space and control characters that parsers drop at either end of an address.
_STRIPPED = "".join(chr(code) for code in range(0x21))


def normalised_address(address: str) -> str:
    """`address` as parsers read it: white space and control characters at either end removed,
    and its user info percent-encoded (`canonical_address`).

    Decisions about an address (which scheme it is, who may use it) are made on this, never on
    the raw text: `urlsplit(" file:///x").scheme` is "file", though the text does not start
    with it.

    Raises:
        ValueError: A control character inside the address (parsers drop tabs and line breaks
            there too, so the address would not be what it looks like).

    Example:
        >>> normalised_address(" \\tfile:///etc/passwd\\n")
        'file:///etc/passwd'
    """
    normalised = address.strip(_STRIPPED)
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in normalised):
        raise ValueError("the address contains a control character")
    return canonical_address(normalised)
