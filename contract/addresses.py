"""Camera addresses as they may be shown: credentials masked."""

from __future__ import annotations

from urllib.parse import urlsplit


def mask_credentials(url: str) -> str:
    """`url` with its user name and password replaced by ***, fit to be logged or shown.

    Works on the text of the address, so a malformed port does not stop the masking.

    Example:
        >>> mask_credentials("rtsp://admin:pa55@10.1.2.3:554/Streaming/101")
        'rtsp://***@10.1.2.3:554/Streaming/101'
    """
    parts = urlsplit(url)
    _userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    return parts._replace(netloc=f"***@{host}").geturl()


# White space and control characters that parsers drop at either end of an address.
_STRIPPED = "".join(chr(code) for code in range(0x21))


def normalised_address(address: str) -> str:
    """`address` as parsers read it: white space and control characters at either end removed.

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
    return normalised
