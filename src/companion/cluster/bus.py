"""The event bus of a cluster: this instance's subscribers, then every other instance holding a live
conversation of the person, each waited for up to the refresh timeout.

A save's ``liveSessions`` therefore counts every live conversation of the person on every instance;
an owner that does not answer is counted as failed and named in ``unanswered``. The change log is
the backstop for whatever this misses (``follower.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from companion.events import InProcessBus, ProfileChanged, ProfileChangeHandler, RefreshCounts

# A person's live conversations on the other instances, refreshed and counted (``SessionDirectory``).
RemoteCounts = Callable[[str], Awaitable[RefreshCounts]]


class ClusterBus:
    def __init__(self, remote_counts: RemoteCounts) -> None:
        self._local = InProcessBus()
        self._remote_counts = remote_counts

    def subscribe(self, handler: ProfileChangeHandler) -> None:
        self._local.subscribe(handler)

    async def publish(self, event: ProfileChanged) -> RefreshCounts:
        here, elsewhere = await asyncio.gather(self._local.publish(event), self._remote_counts(event.user_id))
        here.add(elsewhere)
        return here

    async def close(self) -> None:
        await self._local.close()
