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
