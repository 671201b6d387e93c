"""The care loop calls every step each round and survives a failing one; a step that blocks holds
back only itself."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from companion.app import build_services
from companion.care.loop import CareLoop, NamedStep
from companion.settings import Settings

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


async def test_a_failing_step_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, datetime]] = []

    async def good(now: datetime) -> None:
        seen.append(("good", now))

    async def bad(now: datetime) -> None:
        raise RuntimeError("a row the step cannot read")

    loop = CareLoop([NamedStep("bad", bad), NamedStep("good", good)], clock=lambda: NOW)
    with caplog.at_level(logging.ERROR):
        await loop.run_round()
        await loop.run_round()
    assert seen == [("good", NOW), ("good", NOW)]
    assert loop.rounds == 2
    assert [r.getMessage() for r in caplog.records].count(
        "care step bad failed; it runs again next round"
    ) == 2


async def test_the_loop_runs_until_stopped() -> None:
    ticks = asyncio.Event()
    count = 0

    async def step(now: datetime) -> None:
        nonlocal count
        count += 1
        if count >= 3:
            ticks.set()

    loop = CareLoop([NamedStep("step", step)], interval_s=0.01)
    loop.start()
    await asyncio.wait_for(ticks.wait(), 2.0)
    await loop.stop()
    stopped_at = count
    await asyncio.sleep(0.05)
    assert count == stopped_at >= 3


async def test_a_delivery_that_blocks_does_not_hold_back_the_reminders() -> None:
    """A mail server that does not answer (an event only the test sets) keeps the delivery step in its
    first call; the reminder step meanwhile takes turn after turn."""
    sending, release, delivered = asyncio.Event(), asyncio.Event(), asyncio.Event()
    reminded = asyncio.Event()
    deliveries_done = 0

    async def delivery(now: datetime) -> None:
        nonlocal deliveries_done
        sending.set()
        await release.wait()
        deliveries_done += 1
        delivered.set()

    async def reminders(now: datetime) -> None:
        if loop.turns["reminders"] >= 4:
            reminded.set()

    loop = CareLoop([NamedStep("delivery", delivery), NamedStep("reminders", reminders)], interval_s=0)
    loop.start()
    try:
        async with asyncio.timeout(5):
            await sending.wait()
            await reminded.wait()
        assert deliveries_done == 0 and loop.turns["delivery"] == 0, "delivery is still in its first call"
        assert loop.turns["reminders"] >= 4
        release.set()
        async with asyncio.timeout(5):
            await delivered.wait()
        assert deliveries_done >= 1, "and it goes on once the mail server answers"
    finally:
        await loop.stop()


async def test_a_step_task_that_ends_by_itself_is_started_again(caplog: pytest.LogCaptureFixture) -> None:
    """Only ``stop`` ends a step's task; anything else that escapes (not an Exception) is logged and the
    step runs again."""
    calls = 0
    again = asyncio.Event()

    class Escaped(BaseException):
        pass

    async def step(now: datetime) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Escaped
        again.set()

    loop = CareLoop([NamedStep("step", step)], interval_s=0)
    with caplog.at_level(logging.ERROR):
        loop.start()
        try:
            async with asyncio.timeout(5):
                await again.wait()
        finally:
            await loop.stop()
    assert calls >= 2
    assert "care step step ended unexpectedly; started again" in [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize(
    ("reminders", "steps"),
    [
        (True, ["delivery", "escalation", "reminders", "conversations", "retention", "digests"]),
        (False, ["delivery", "escalation", "conversations", "retention", "digests"]),
    ],
)
async def test_the_service_runs_delivery_escalation_and_reminders_unless_reminders_are_off(
    tmp_path: Path, reminders: bool, steps: list[str]
) -> None:
    services = await build_services(Settings(data_dir=tmp_path, reminders=reminders))
    try:
        assert services.care is not None and services.care.step_names == steps
    finally:
        await services.close()
