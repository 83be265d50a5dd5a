"""The ONVIF client library (onvif-zeep-async), imported here once with its side effect undone.

The package's other modules take the library's names from here, never from `onvif` itself, so
that the first import of the library always goes through the guard below.
"""

from __future__ import annotations

import logging

# Importing the client runs `logging.basicConfig(level=INFO)` as a side effect, which would take
# the process's logging set-up away from the command line. Keep the root logger as it was.
_root_logger = logging.getLogger()
_root_state = (list(_root_logger.handlers), _root_logger.level)
from onvif import ONVIFCamera  # noqa: E402
from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError  # noqa: E402
from onvif.util import is_auth_error, stringify_onvif_error  # noqa: E402

_root_logger.handlers[:] = _root_state[0]
_root_logger.setLevel(_root_state[1])

__all__ = [
    "ONVIFAuthError",
    "ONVIFCamera",
    "ONVIFError",
    "ONVIFTimeoutError",
    "is_auth_error",
    "stringify_onvif_error",
]
