"""The demo's first start, at any time of day, owes no dose from before it existed: nothing missed, no
alert, nothing counted against the demo person; its later doses are asked for as usual. The services
run on an injected clock that the test moves; nothing sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from companion.app import build_services
from companion.demo import DEMO_USER, seed_demo
from companion.settings import Settings
from tests.care.reminder_fixtures import Clock

JERUSALEM = ZoneInfo("Asia/Jerusalem")  # the demo person's zone; the demo's doses are at 07:00 and 08:00


@pytest.mark.parametrize("started", ["00:10", "06:59", "07:40", "18:05", "23:59"])
async def test_the_demos_first_start_has_no_missed_dose_and_no_open_alert(
    tmp_path: Path, started: str
) -> None:
    hours, minutes = (int(p) for p in started.split(":"))
    start = datetime(2026, 12, 6, hours, minutes, tzinfo=JERUSALEM).astimezone(UTC)
    clock = Clock(start)
    settings = Settings(data_dir=tmp_path)
    services = await build_services(settings, clock=clock)
    try:
        reminders = services.reminders
        assert reminders is not None
        await seed_demo(services)
        # the care loop's ticks until just before a dose due after the start could be missed
        end = start + timedelta(seconds=settings.reminder_ack_timeout_s)
        assert end == start + timedelta(minutes=30)
        for moment in [*(start + timedelta(minutes=m) for m in range(30)), end - timedelta(seconds=1)]:
            clock.now = moment
            await reminders.tick(moment)
            await reminders.drain()  # the says this tick started are over before the clock moves
        window = (start - timedelta(days=1), start + timedelta(days=3))
        scheduled = await services.store.list_of_user(DEMO_USER, *window)
        assert scheduled, "the demo's reminders are scheduled"
        assert all(r.due_at >= start for r in scheduled), "no dose from before the demo existed"
        assert [r for r in scheduled if r.state == "missed"] == []
        assert [a for a in await services.alerts.list(DEMO_USER) if a.open] == []
        assert all(a.missed == 0 for a in (await reminders.day_view(DEMO_USER)).adherence)
        # its later doses are real: by 08:31 the next day, with nobody confirming, they are missed
        tomorrow = datetime(2026, 12, 7, 8, 31, tzinfo=JERUSALEM).astimezone(UTC)
        while clock.now < tomorrow:
            clock.now = min(tomorrow, clock.now + timedelta(minutes=10))
            await reminders.tick(clock.now)
            await reminders.drain()  # the says this tick started are over before the clock moves
        missed = [r for r in await services.store.list_of_user(DEMO_USER, *window) if r.state == "missed"]
        assert {r.local_time for r in missed if r.due_at.date() == tomorrow.date()} == {"07:00", "08:00"}
        assert all(r.due_at >= start for r in missed)
        alerts = await services.alerts.list(DEMO_USER)
        assert sorted(a.reminder_id or "" for a in alerts) == sorted(r.id for r in missed)
    finally:
        await services.close()
