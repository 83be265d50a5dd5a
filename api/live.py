"""Live alerts: new and changed grid events pushed to connected operators, within their scope."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from api.principal import Principal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Audience:
    """What decides who may see an event."""

    grid_id: str | None
    grid_path: str
    department_id: str | None
    organisation_id: str | None


@dataclass(frozen=True)
class ViewerScope:
    """A snapshot of a connected user's scope (the same rules as api.scope, in memory)."""

    role: str
    region_path: str | None = None
    grid_ids: frozenset[str] = frozenset()
    department_id: str | None = None
    organisation_id: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> ViewerScope:
        user = principal.user
        if user is None:
            return cls(role=principal.role)
        region = user.region
        whole_district = region is None or region.parent_id is None
        return cls(
            role=principal.role,
            region_path=None if whole_district or region is None else region.path,
            grid_ids=frozenset(grid.id for grid in user.grids),
            department_id=user.department_id,
            organisation_id=user.organisation_id,
        )

    def sees(self, audience: Audience) -> bool:
        if self.role == "admin":
            return True
        if self.role == "operator":
            return self.region_path is None or audience.grid_path.startswith(self.region_path)
        if self.role == "grid_worker":
            return audience.grid_id in self.grid_ids
        if self.role == "handler":
            return (
                audience.department_id is not None and audience.department_id == self.department_id
            )
        if self.role == "camera_owner":
            return (
                audience.organisation_id is not None
                and audience.organisation_id == self.organisation_id
            )
        return False


@dataclass(eq=False)
class Subscription:
    """One connected client's queue of messages."""

    scope: ViewerScope
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=200))
    lagged: bool = False

    async def next(self) -> str | None:
        """The next message; None once the client fell too far behind and must reconnect."""
        if self.lagged and self.queue.empty():
            return None
        return await self.queue.get()


class LiveHub:
    """Fans messages out to subscribers; publish() may be called from any thread."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0
        # Set when several API processes share the database (see api.fanout).
        self.relay: Callable[[dict[str, Any], Audience], bool] | None = None
        # Whether operators may be connected to another API process, and what to tell the other
        # processes when this one's first operator connects or its last leaves (api.fanout).
        self.watched_elsewhere: Callable[[], bool] = lambda: False
        self.on_watchers: Callable[[int], None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def watched(self) -> bool:
        """Whether any operator, here or in another API process, may receive an alert: when none
        is, an alert need not be shaped at all."""
        return bool(self._subscribers) or self.watched_elsewhere()

    def publish(self, message: dict[str, Any], audience: Audience) -> None:
        """Send a message to every subscriber in `audience`, in every API process."""
        if self.relay is not None and self.relay(message, audience):
            return  # it comes back through the relay, to this process too
        self.publish_local(message, audience)

    def publish_local(self, message: dict[str, Any], audience: Audience) -> None:
        """Send a message to this process's subscribers in `audience`."""
        if self._loop is None or self._loop.is_closed():
            return
        self.published += 1
        if not self._subscribers:
            return  # nobody here to write it for
        text = json.dumps(message, default=str)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._deliver(text, audience)
        else:
            self._loop.call_soon_threadsafe(self._deliver, text, audience)

    def _deliver(self, text: str, audience: Audience) -> None:
        for subscriber in list(self._subscribers):
            if not subscriber.scope.sees(audience):
                continue
            try:
                subscriber.queue.put_nowait(text)
            except asyncio.QueueFull:
                # A client that does not read cannot hold the others up: it is dropped and
                # reloads the list when it reconnects.
                subscriber.lagged = True
                self._subscribers.discard(subscriber)
                with contextlib.suppress(asyncio.QueueFull):
                    subscriber.queue.put_nowait(json.dumps({"type": "lagged"}))

    @contextlib.contextmanager
    def subscription(self, scope: ViewerScope) -> Iterator[Subscription]:
        """Receive messages for `scope` while the block runs."""
        subscriber = Subscription(scope)
        self._subscribers.add(subscriber)
        if len(self._subscribers) == 1:
            self._tell_watchers()  # before the first message can be missed
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)
            if not self._subscribers:
                self._tell_watchers()

    def _tell_watchers(self) -> None:
        if self.on_watchers is None:
            return
        try:
            self.on_watchers(len(self._subscribers))
        except Exception:
            # The listener's heartbeat tells them within seconds (api.fanout).
            log.exception("could not tell the other API processes about live viewers")
