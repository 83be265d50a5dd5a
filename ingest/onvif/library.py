"""The ONVIF client library (onvif-zeep-async), imported here once with its side effect undone.

The package's other modules take the library's names from here, never from `onvif` itself, so
that the first import of the library always goes through the guard below.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import zeep.exceptions

from ingest.onvif.parsers import camera_utc_time

# Importing the client runs `logging.basicConfig(level=INFO)` as a side effect, which would take
# the process's logging set-up away from the command line. Keep the root logger as it was.
_root_logger = logging.getLogger()
_root_state = (list(_root_logger.handlers), _root_logger.level)
from onvif import ONVIFCamera  # noqa: E402
from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError  # noqa: E402
from onvif.util import is_auth_error, stringify_onvif_error  # noqa: E402

_root_logger.handlers[:] = _root_state[0]
_root_logger.setLevel(_root_state[1])


class OnvifClient(ONVIFCamera):
    """The library's client with the camera's clock read by our parser.

    With `adjust_time` the library reads the camera's clock to sign requests with it, and
    assumes the optional `UTCDateTime` is there: a camera that reports only its local time
    failed with an AttributeError. This override (of the library's `_adjust_time`, the one
    step it takes for the clock, pinned with the library's version) reads either time through
    `camera_utc_time`, and signs with our own clock when the camera gives none.
    """

    async def _adjust_time(self, devicemgmt: Any) -> Any:
        if not self.adjust_time:
            return devicemgmt
        try:
            answer = await devicemgmt.authless_GetSystemDateAndTime()
        except zeep.exceptions.Fault:
            answer = await devicemgmt.GetSystemDateAndTime()  # some cameras want it signed
        now = dt.datetime.now(dt.UTC)
        camera_time = camera_utc_time(answer, now)
        if camera_time is None:
            log.info("%s: the camera reports no time; requests are signed with ours", self.host)
        self.dt_diff = dt.timedelta(0) if camera_time is None else camera_time - now
        # The service signs with the offset it was made with: make it again, as the library does.
        await devicemgmt.close()
        del self.services[devicemgmt.binding_key]
        return await self.create_devicemgmt_service()


log = logging.getLogger(__name__)

__all__ = [
    "ONVIFAuthError",
    "ONVIFCamera",
    "ONVIFError",
    "ONVIFTimeoutError",
    "OnvifClient",
    "is_auth_error",
    "stringify_onvif_error",
]
