"""One supervised loop that keeps the care work moving: delivering notifications, escalating alerts
nobody acknowledged, and bringing reminders due.

Each step is called with the current time once per interval. A step that fails is logged (its name,
never its data) and called again on the next round: one bad row must not stop alerts for everyone. The
state lives in the store, so a restart loses nothing; the loop only decides when to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from companion.clock import utcnow

log = logging.getLogger(__name__)

INTERVAL_S: Final = 1.0  # alerts go out within about a second of being written
Step = Callable[[datetime], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class NamedStep:
    name: str
    run: Step


class CareLoop:
    def __init__(
        self,
        steps: list[NamedStep],
        *,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._steps = steps
        self._interval_s = interval_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    @property
    def step_names(self) -> list[str]:
        return [step.name for step in self._steps]

    async def run_round(self) -> None:
        """Every step once, in order; a failing step does not stop the others."""
        for step in self._steps:
            try:
                await step.run(self._clock())
            except Exception:
                log.exception("care step %s failed; it runs again next round", step.name)
        self.rounds += 1

    async def _forever(self) -> None:
        while True:
            await self.run_round()
            await asyncio.sleep(self._interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._forever(), name="care-loop")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
