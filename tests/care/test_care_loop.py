"""The care loop calls every step each round and survives a failing one."""

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


@pytest.mark.parametrize(
    ("reminders", "steps"),
    [(True, ["delivery", "escalation", "reminders"]), (False, ["delivery", "escalation"])],
)
async def test_the_service_runs_delivery_escalation_and_reminders_unless_reminders_are_off(
    tmp_path: Path, reminders: bool, steps: list[str]
) -> None:
    services = await build_services(Settings(data_dir=tmp_path, reminders=reminders))
    try:
        assert services.care is not None and services.care.step_names == steps
    finally:
        await services.close()
