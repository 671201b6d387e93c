"""Catching up from the change log: the guarantee that no live conversation stays stale.

A save reaches the other instances' conversations at once through routed commands (``bus.py``). That
path can miss: Redis was down at the moment of the save, the owner restarted, a conversation opened
while its person was being saved. Every instance therefore also reads the change log about once a
second and refreshes its own live conversations of every person changed since it last read. A refresh
that finds nothing new sends nothing to the model, so catching up twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final, Protocol

from companion.cluster.cursor import ChangeCursor
from companion.errors import CompanionError
from companion.events import RefreshCounts
from companion.store import MAX_CHANGES_READ, ChangeRecord

log = logging.getLogger(__name__)

CATCH_UP_S: Final = 1.0  # how often the log is read: a missed change is followed within about this
PRUNE_EVERY_S: Final = 3600.0
KEEP_CHANGES: Final = timedelta(days=1)  # far longer than any instance is behind, short enough to stay small
MAX_PARALLEL_REFRESHES: Final = 32  # people refreshed at once while catching up


class ChangeLog(Protocol):
    async def last_change_id(self) -> int: ...

    async def changes_after(
        self, after_id: int, *, also: list[int] = ..., limit: int = ...
    ) -> list[ChangeRecord]: ...

    async def prune_changes(self, older_than: datetime) -> int: ...


class ChangeFollower:
    def __init__(
        self,
        log_: ChangeLog,
        *,
        has_sessions: Callable[[str], bool],
        refresh: Callable[[str], Awaitable[RefreshCounts]],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime],
    ) -> None:
        self._log = log_
        self._has_sessions = has_sessions
        self._refresh = refresh
        self._clock = clock
        self._wall_clock = wall_clock
        self.cursor = ChangeCursor()
        self.read_at: float | None = None  # when the log was last read completely (monotonic)
        self.latest_at: datetime | None = None  # when the newest change read was written
        self.applied = 0  # refreshes of people this follower caused
        self._last_prune = clock()
        self._started = False
        self._slots = asyncio.Semaphore(MAX_PARALLEL_REFRESHES)

    async def start_at_end(self) -> None:
        """Begin after the newest change: a starting instance has no conversation to bring up to date."""
        self.cursor = ChangeCursor(high=await self._log.last_change_id())
        self.read_at = self._clock()
        self._started = True

    async def catch_up(self) -> int:
        """Read what is new and refresh this instance's conversations of the people it names; how many
        people were refreshed. Reads again at once while a full page came back."""
        if not self._started:
            await self.start_at_end()
        people: set[str] = set()
        while True:
            records = await self._log.changes_after(self.cursor.high, also=sorted(self.cursor.missing))
            fresh = set(self.cursor.take((r.id for r in records), self._clock()))
            for record in records:
                if record.id in fresh:
                    people.add(record.user_id)
                    self.latest_at = record.created_at
            if len(records) < MAX_CHANGES_READ:  # a full page: more may be waiting
                break
        self.read_at = self._clock()
        targets = [p for p in people if self._has_sessions(p)]
        await asyncio.gather(*(self._refresh_one(p) for p in targets))
        await self._maybe_prune()
        return len(targets)

    async def _refresh_one(self, user_id: str) -> None:
        async with self._slots:
            try:
                await self._refresh(user_id)
                self.applied += 1
            except CompanionError as exc:
                log.warning("catching up user %s failed: %s", user_id, exc.message)

    async def _maybe_prune(self) -> None:
        now = self._clock()
        if now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        removed = await self._log.prune_changes(self._wall_clock() - KEEP_CHANGES)
        if removed:
            log.info("pruned %d old change log rows", removed)

    def lag(self) -> dict[str, object]:
        """For /health: how long since the log was last read, and how many ids are still awaited."""
        return {
            "cursor": self.cursor.high,
            "missing": len(self.cursor.missing),
            "lastReadAgoS": None if self.read_at is None else round(self._clock() - self.read_at, 3),
        }
