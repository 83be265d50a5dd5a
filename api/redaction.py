"""Credentials kept out of the server's log lines: tokens, keys and passwords in query strings
and in URLs' user info are masked in every record any logger makes (uvicorn's access log too)."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from contract.addresses import CREDENTIAL_PARAMETER_NAME, mask_credentials

MASK = "***"
# A query parameter whose name says it carries a credential: token, access_token, api_key,
# password, pwd, secret, signature, auth... Masking a harmless one (monkey=) costs nothing.
_CREDENTIAL_PARAMETER = re.compile(
    rf"(?P<name>[?&;]{CREDENTIAL_PARAMETER_NAME}=)[^&;#\s\"']*", re.IGNORECASE
)
# A URL in a line of text: its user info is found as every camera reader finds it, so that a
# password with an unencoded /, #, ? or @ is masked whole (contract.addresses).
_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s\"'<>]+", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """`text` with credential-bearing query parameters and URL user info replaced by ***.

    Example:
        >>> mask_secrets('GET /api/v1/live/ws?token=eyJhbGc.x.y&since=3 HTTP/1.1')
        'GET /api/v1/live/ws?token=***&since=3 HTTP/1.1'
        >>> mask_secrets("rtsp://admin:pa/ss#1@10.0.0.7/Streaming/101")
        'rtsp://***@10.0.0.7/Streaming/101'
        >>> mask_secrets("lost rtsp://admin:p@s?s@10.0.0.7/101, retry")
        'lost rtsp://***@10.0.0.7/101, retry'
    """
    if "=" in text:
        text = _CREDENTIAL_PARAMETER.sub(rf"\g<name>{MASK}", text)
    if "://" in text:
        text = _URL.sub(lambda url: mask_credentials(url.group()), text)
    return text


def _masked(value: Any) -> Any:
    """A log argument with its credentials masked; untouched when it has none (so %d still
    gets its number)."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    text = str(value)
    masked = mask_secrets(text)
    return value if masked == text else masked


class CredentialFilter(logging.Filter):
    """Masks credentials in a record's message and arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(value) for value in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _masked(value) for key, value in record.args.items()}
        return True


_installed = False
_lock = threading.Lock()


def install() -> None:
    """Run `CredentialFilter` on every log record this process makes, whichever logger makes
    it and whichever handlers (configured before or after this call) write it. Idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        make_record = logging.getLogRecordFactory()
        credential_filter = CredentialFilter()

        def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            credential_filter.filter(record)
            return record

        logging.setLogRecordFactory(masked_record)
        _installed = True
