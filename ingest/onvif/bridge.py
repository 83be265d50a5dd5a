"""Running the asyncio ONVIF client from the worker's threads: one event loop per camera.

The library is asyncio; the rest of the worker is synchronous threads. Each camera owns one event
loop, run in a thread of its own, and every call hands a coroutine to that loop and waits for it.
One loop for the camera's whole life (rather than `asyncio.run` per call) because the library's
HTTP sessions, its parsed service clients and a PullPoint subscription are bound to the loop that
made them: with a loop per call every call would reconnect, re-read the service addresses and
parse the WSDLs again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ingest.onvif.errors import LIBRARY_ERRORS, ODD_ANSWER_ERRORS, OnvifError, translate
from ingest.onvif.models import OnvifAddress

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class LoopThread:
    """An asyncio event loop running in a daemon thread of its own."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run `coroutine` on the loop and wait for its result (or its exception)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        """Stop the loop and wait up to 10 s for its thread; the loop is closed once it ended."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class OnvifBridge:
    """One camera's loop thread, and the one way in: `call`, which bounds and translates.

    The library's objects live on the loop thread. Callers build a coroutine that uses them and
    run it through `call`; only our own types and `OnvifError`s come back out.
    """

    def __init__(self, camera_id: str, address: OnvifAddress, *, timeout_s: float):
        self.camera_id = camera_id
        self.address = address
        self.timeout_s = timeout_s
        self._loop = LoopThread(f"onvif-{camera_id}")
        self.closed = False

    def call(
        self, action: str, coroutine: Callable[[], Awaitable[_T]], timeout_s: float | None = None
    ) -> _T:
        """Run `coroutine()` on the camera's loop within `timeout_s` (seconds, default the
        camera's), re-raising what the library raised as our `OnvifError`, chained.

        Raises:
            OnvifError: Or one of its kinds; also when the bridge is closed, and
                (`OnvifAnswerNotUnderstood`) when the library could not read the answer.
        """
        if self.closed:
            raise OnvifError(self.camera_id, f"{action}: the ONVIF connection is closed")
        limit = self.timeout_s if timeout_s is None else timeout_s

        async def guarded() -> _T:
            try:
                async with asyncio.timeout(limit):
                    return await coroutine()
            except OnvifError:
                raise
            except LIBRARY_ERRORS as err:
                raise translate(self.camera_id, self.address, action, err, limit) from err
            except ODD_ANSWER_ERRORS as err:
                # Kept in the log: it may as well be a fault of ours as the camera's.
                log.warning(
                    "%s: %s: the answer could not be read", self.camera_id, action, exc_info=True
                )
                raise translate(self.camera_id, self.address, action, err, limit) from err

        return self._loop.run(guarded())

    def close(self) -> None:
        """Stop the loop thread; later calls raise OnvifError. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self._loop.stop()
