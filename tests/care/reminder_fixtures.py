"""A reminder service on a real store with an injected clock, a fake conversation and a fake family."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from companion.care.reminders import ReminderService
from companion.events import InProcessBus, SayOutcome
from companion.profiles.service import ProfileService
from companion.store import SqlStore
from companion.store._reminders import SqlReminders


class ReminderStoreForTests(SqlStore, SqlReminders):
    """SqlStore with its reminder half (until the service's own store class includes it)."""


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class OffsetClock:
    """The real clock plus an offset a test moves forward (for a page that runs in real time)."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)


def mid_morning_zone(now: datetime) -> str:
    """An ``Etc/GMT`` zone (no daylight saving) where ``now`` is 10 o'clock: doses set a few minutes
    after ``now`` stay on one local day. Tests in a running app use it so that the app's own reminder
    loop, on the real clock, finds the test's doses still ahead (never due, never missed) and schedules
    the very same ones. The zone's sign is the reverse of its offset's."""
    offset = (10 - now.hour + 12) % 24 - 12  # -12 .. 11
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def local_hhmm(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


@dataclass
class Conversation:
    """Stands in for ``SessionManager.say_when_quiet``: live or not, what it was asked to say, and what
    became of each asking (``outcomes`` in turn, then ``said``)."""

    live: bool = False
    said: list[tuple[str, str, str]] = field(default_factory=list)
    gate: asyncio.Event | None = None  # when set, a say waits for it (a conversation that is busy)
    outcomes: list[SayOutcome] = field(default_factory=list)

    async def __call__(self, user_id: str, note: str, reminder_id: str) -> SayOutcome:
        if self.gate is not None:
            await self.gate.wait()
        if not self.live:
            return "no_conversation"
        self.said.append((user_id, note, reminder_id))
        return self.outcomes.pop(0) if self.outcomes else "said"


@dataclass
class Family:
    """Stands in for ``AlertService.record``; ``fail`` makes the next calls raise."""

    alerts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: int = 0

    async def __call__(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("store down")
        self.alerts.append((user_id, body))
        return {"id": f"alert-{len(self.alerts)}"}


@dataclass
class Rig:
    store: ReminderStoreForTests
    profiles: ProfileService
    service: ReminderService
    clock: Clock
    conversation: Conversation
    family: Family

    async def save(self, user_id: str, section: str, body: dict[str, Any]) -> None:
        await self.profiles.save_section(user_id, section, body, if_match=None, if_match_any=True)

    async def states(self, user_id: str) -> dict[tuple[str, str], str]:
        """``(local HH:MM, label) -> state`` of every reminder the person has in the store."""
        far = timedelta(days=10)
        rows = await self.store.list_of_user(user_id, self.clock.now - far, self.clock.now + far)
        return {(r.due_at.isoformat(), r.label): r.state for r in rows}

    async def tick(self) -> None:
        await self.service.tick(self.clock())
        await self.service.drain()


def make_service(
    store: ReminderStoreForTests,
    profiles: ProfileService,
    clock: Clock,
    conversation: Conversation,
    family: Family,
    *,
    ack_timeout_s: float = 1800.0,
) -> ReminderService:
    return ReminderService(
        store,
        profiles.context,
        say=conversation,
        alert=family,
        clock=clock,
        ack_timeout_s=ack_timeout_s,
        snooze_s=600.0,
    )


async def make_rig(url: str, now: datetime) -> Rig:
    store = ReminderStoreForTests(url)
    await store.migrate()
    bus = InProcessBus()
    profiles = ProfileService(store, bus)
    clock, conversation, family = Clock(now.astimezone(UTC)), Conversation(), Family()
    service = make_service(store, profiles, clock, conversation, family)
    bus.subscribe(service.on_profile_changed)
    return Rig(store, profiles, service, clock, conversation, family)


def person(
    language: str = "he", timezone: str = "Asia/Jerusalem", checkins: list[str] | None = None
) -> dict[str, Any]:
    return {
        "personalInfo": {
            "fullName": "רות כהן" if language == "he" else "Ruth Miller",
            "gender": "female",
            "language": language,
            "timezone": timezone,
        },
        "routine": {"checkins": checkins or []},
    }


def medications(*meds: tuple[str, str, list[str]]) -> dict[str, Any]:
    return {"medications": [{"name": n, "dosage": d, "times": t} for n, d, t in meds]}


def install_reminders(
    app: FastAPI, now: datetime, *, poll_s: float = 20.0, clock: Callable[[], datetime] | None = None
) -> Rig:
    """Put a reminder service with a fake clock, conversation and family into a started app: its own
    store half on the app's database, in the services' place (where the page's and the dashboard's
    reminder routes take it from), and the live sessions' greeting hook."""
    services = app.state.services
    settings = services.settings
    store = ReminderStoreForTests(settings.effective_database_url)
    fake, conversation, family = Clock(now.astimezone(UTC)), Conversation(), Family()
    service = ReminderService(
        store,
        services.profiles.context,
        say=conversation,
        alert=family,
        clock=clock or fake,
        ack_timeout_s=settings.reminder_ack_timeout_s,
        snooze_s=settings.reminder_snooze_s,
        poll_s=poll_s,
    )
    services.bus.subscribe(service.on_profile_changed)
    services.sessions.greeting_notes = service  # a conversation opened from its card greets with it
    services.reminders = service
    return Rig(store, services.profiles, service, fake, conversation, family)
