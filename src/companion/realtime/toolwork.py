"""Server tool runs that outlive the conversation that asked for them.

An ``alert_family`` whose write is in flight when the tablet hangs up (or the session fails) must still
be stored and delivered: the person said they fell. So the relay's tool runs are not the session's
tasks, which its end cancels, but this book's: one per instance (the session manager's), drained on
shutdown within a bound. A run catches its own errors (the session answers the model with a failure);
anything that still escapes is logged here, never lost silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

DRAIN_S: Final = 5.0  # on shutdown: a store write or an outbox insert ends well within this


class ToolWork:
    """The tool runs in flight, kept (a reference to each task) until they end."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def running(self) -> int:
        return len(self._tasks)

    def start(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run ``coro`` to its end whatever becomes of the conversation (await it through
        ``asyncio.shield`` so that a cancelled waiter does not cancel it)."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("tool run %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, within_s: float = DRAIN_S) -> int:
        """Wait (at most ``within_s``) for the runs in flight to end; those still running are cancelled
        and counted (the return value), so a stuck store cannot hold a shutdown for ever."""
        pending = set(self._tasks)
        if not pending:
            return 0
        _, late = await asyncio.wait(pending, timeout=within_s)
        for task in late:
            log.warning(
                "tool run %s did not end within %.0f s of shutdown; cancelled", task.get_name(), within_s
            )
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
        return len(late)
