"""The reminder service's plain types: what it needs from the store and from its callers, and what it
hands back (the person's language and zone, a tick's counts, the family's view of a day)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Protocol

from companion.care.schedule import ZoneChoice, resolve_zone
from companion.events import SayOutcome
from companion.languages import DEFAULT_LANGUAGE
from companion.profiles.models import CareContext, PersonalInfo
from companion.store._reminders import AdherenceRecord
from companion.store.base import ReminderRecord, ReminderState

DEFAULT_ZONE: Final = str(PersonalInfo.model_fields["timezone"].default)

SayFn = Callable[[str, str, str], Awaitable[SayOutcome]]  # (user_id, note, reminder_id) -> what became of it
# (user_id, alert body) -> the alert; a missed reminder's body names it (reminderId)
AlertFn = Callable[[str, dict[str, Any]], Awaitable[Any]]
ContextLoader = Callable[[str], Awaitable[CareContext]]
Clock = Callable[[], datetime]


class ReminderStore(Protocol):
    async def series_since(
        self, user_id: str, series: Collection[str], *, now: datetime
    ) -> dict[str, datetime]: ...

    async def sync_reminders(
        self, user_id: str, occurrences: list[ReminderRecord], *, now: datetime
    ) -> tuple[int, int]: ...

    async def get_reminder(self, user_id: str, reminder_id: str) -> ReminderRecord | None: ...

    async def list_due(
        self,
        now: datetime,
        *,
        states: Iterable[ReminderState] = ("due",),
        user_id: str | None = None,
        limit: int = ...,
    ) -> list[ReminderRecord]: ...

    async def list_of_user(
        self, user_id: str, since: datetime, until: datetime, *, states: Iterable[ReminderState] | None = None
    ) -> list[ReminderRecord]: ...

    async def transition(
        self,
        user_id: str,
        reminder_id: str,
        from_states: Iterable[ReminderState],
        to_state: ReminderState,
        *,
        at: datetime,
        **fields: Any,
    ) -> bool: ...

    async def adherence(self, user_id: str, since: datetime, until: datetime) -> list[AdherenceRecord]: ...

    async def list_user_ids(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Person:
    language: str
    zone: ZoneChoice


@dataclass(slots=True)
class TickReport:
    woken: int = 0
    missed: int = 0
    offered: int = 0


@dataclass(frozen=True, slots=True)
class DayView:
    """What the family sees: today's reminders in the person's zone and 30 days of adherence."""

    day: date
    zone: ZoneChoice
    reminders: list[ReminderRecord]
    adherence: list[AdherenceRecord]
    since: date


def person_of(context: CareContext) -> Person:
    info = context.profile.personal_info if context.profile is not None else None
    language = info.language if info is not None else DEFAULT_LANGUAGE
    return Person(language, resolve_zone(info.timezone if info is not None else DEFAULT_ZONE))
