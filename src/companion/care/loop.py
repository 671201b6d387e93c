"""The supervised loops that keep the care work moving: delivering notifications, escalating alerts
nobody acknowledged, and bringing reminders due.

Each step runs in a task of its own, called with the current time, then again ``interval_s`` after it
finished. Apart, so that a slow step holds back only itself: a mail server taking its time over an
alert's e-mail must not keep a medication reminder waiting (each send is bounded by the delivery
worker's own timeout; the step's other work is not). A step that fails is logged (its name, never its
data) and called again on its next turn: one bad row must not stop alerts for everyone. A step's task
that ends by itself (it cannot, short of a bug) is logged and started again. The state lives in the
store, so a restart loses nothing; the loops only decide when to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from companion.store._engine import utcnow

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
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.rounds = 0  # rounds of ``run_round``
        self.turns: dict[str, int] = {step.name: 0 for step in steps}  # finished calls of each step

    @property
    def step_names(self) -> list[str]:
        return [step.name for step in self._steps]

    async def _once(self, step: NamedStep) -> None:
        try:
            await step.run(self._clock())
        except Exception:
            log.exception("care step %s failed; it runs again next round", step.name)
        self.turns[step.name] += 1

    async def run_round(self) -> None:
        """Every step once, in order; a failing step does not stop the others."""
        for step in self._steps:
            await self._once(step)
        self.rounds += 1

    async def _forever(self, step: NamedStep) -> None:
        while True:
            await self._once(step)
            await asyncio.sleep(self._interval_s)

    def _start_step(self, step: NamedStep) -> None:
        task = asyncio.create_task(self._forever(step), name=f"care-{step.name}")
        self._tasks[step.name] = task
        task.add_done_callback(lambda done: self._ended(step, done))

    def _ended(self, step: NamedStep, task: asyncio.Task[None]) -> None:
        """The supervisor: a step's task ends only when ``stop`` cancels it; otherwise it starts again."""
        if self._tasks.get(step.name) is not task or task.cancelled():
            return
        log.error("care step %s ended unexpectedly; started again", step.name, exc_info=task.exception())
        self._start_step(step)

    def start(self) -> None:
        if not self._tasks:
            for step in self._steps:
                self._start_step(step)

    async def stop(self) -> None:
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
