"""What the family reads about a person beyond the profile: their today, their history, and
everything stored about them as one document (the right of access).

The export is complete by construction and by test: its structured parts come from the services
that own them, and every other table that names the person (``store.tables_naming_a_person``) is read
as plain rows without secrets' hashes. ``EXPORT_COVERAGE`` says where each table's rows go;
``tests/store/test_export_complete.py`` lists the tables and fails when one is left out.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Protocol

from companion.care.alerts import AlertService
from companion.clock import Clock, utcnow
from companion.conversations.service import ConversationService
from companion.conversations.today import STRIP_DAYS, Today, day_bounds, today_view, zone_of
from companion.conversations.views import conversation_json
from companion.profiles.models import MemorySource
from companion.profiles.service import ProfileService
from companion.store.base import ConversationRecord, ReminderRecord, TurnRecord

EXPORT_PERSON: Final = "export_person"
EXPORT_VERSION: Final = 1
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
FAR: Final = datetime(9999, 1, 1, tzinfo=UTC)

# Where each table that names a person lands in the export document.
EXPORT_COVERAGE: Final[Mapping[str, str]] = {
    "documents": "profile, memories, alerts, photos (each photo's description)",
    "users": "records.users",
    "conversations": "conversations",
    "conversation_turns": "conversations[].transcript",
    "reminders": "reminders",
    "reminder_series": "records.reminder_series",
    "notification_jobs": "alerts[].deliveries",
    "delivery_attempts": "alerts[].deliveries[].attempts",
    "alert_acks": "records.alert_acks",
    "devices": "devices",
    "client_secrets": "records.client_secrets",
    "pairing_codes": "records.pairing_codes",
    "api_tokens": "records.api_tokens",
    "caregiver_assignments": "records.caregiver_assignments",
    "imports": "records.imports",
    "change_log": "records.change_log",
    "digest_unsubscribes": "records.digest_unsubscribes",
    "photos": "photos",  # each photo's description, size and showings; never the pixels
}
# Read as plain rows (the rest come from their services)
RAW_TABLES: Final = tuple(sorted(k for k, v in EXPORT_COVERAGE.items() if v.startswith("records.")))


PhotoExport = Callable[[str], Awaitable[builtins.list[dict[str, Any]]]]


class FamilyStore(Protocol):
    async def list_of_user(
        self, user_id: str, since: datetime, until: datetime
    ) -> builtins.list[ReminderRecord]: ...

    async def list_devices(self, user_id: str) -> builtins.list[Any]: ...

    async def all_conversations_of(self, user_id: str) -> builtins.list[ConversationRecord]: ...

    async def all_turns_of(self, user_id: str) -> builtins.list[tuple[str, TurnRecord]]: ...

    async def person_rows(self, user_id: str, tables: Any) -> dict[str, builtins.list[dict[str, Any]]]: ...

    async def add_audit(self, *, actor: str, action: str, target: str) -> None: ...


class FamilyView:
    def __init__(
        self,
        store: FamilyStore,
        profiles: ProfileService,
        alerts: AlertService,
        conversations: ConversationService,
        *,
        clock: Clock = utcnow,
        photos: PhotoExport | None = None,
    ) -> None:
        self._photos = photos  # the photo library's export (``PhotoService.export``)
        self._store = store
        self._profiles = profiles
        self._alerts = alerts
        self._conversations = conversations
        self._clock = clock

    async def zone(self, user_id: str) -> Any:
        context = await self._profiles.context(user_id)
        return zone_of(context.profile.personal_info.timezone if context.profile else None)

    async def today(self, user_id: str) -> Today:
        now = self._clock()
        zone = await self.zone(user_id)
        first_day = now.astimezone(zone).date() - timedelta(days=STRIP_DAYS - 1)
        start, _ = day_bounds(first_day, zone)
        end = now + timedelta(days=1)
        conversations = await self._conversations.between(user_id, start, end)
        reminders = await self._store.list_of_user(user_id, start, end)
        alerts = await self._alerts.list(user_id)
        memories = await self._profiles.list_memories(user_id)
        to_review = sum(
            1 for m in memories if m.source is MemorySource.CONVERSATION and m.confirmed_at is None
        )
        return today_view(
            now,
            zone,
            conversations,
            reminders,
            open_alerts=sum(1 for a in alerts if a.open),
            memories_to_review=to_review,
        )

    async def range_of(
        self, user_id: str, first: date | None, last: date | None
    ) -> tuple[datetime | None, datetime | None]:
        """[start, end) in UTC of the person's local days ``first`` to ``last`` (both included)."""
        zone = await self.zone(user_id)
        start = day_bounds(first, zone)[0] if first else None
        end = day_bounds(last, zone)[1] if last else None
        return start, end

    async def export(self, user_id: str, *, actor: str) -> dict[str, Any]:
        """Everything stored about the person, as one document; the export is audited."""
        states, memories = await self._profiles.all_sections(user_id)
        alerts = await self._alerts.list(user_id)
        deliveries = await self._alerts.deliveries_by_alert(user_id)
        conversations = await self._store.all_conversations_of(user_id)
        turns: dict[str, list[TurnRecord]] = {}
        for conversation_id, turn in await self._store.all_turns_of(user_id):
            turns.setdefault(conversation_id, []).append(turn)
        reminders = await self._store.list_of_user(user_id, EPOCH, FAR)
        devices = await self._store.list_devices(user_id)
        rows = await self._store.person_rows(user_id, RAW_TABLES)
        photos = await self._photos(user_id) if self._photos is not None else []
        await self._store.add_audit(actor=actor, action=EXPORT_PERSON, target=user_id)
        return {
            "exportVersion": EXPORT_VERSION,
            "exportedAt": self._clock().isoformat(),
            "userId": user_id,
            "profile": {
                s.name: {
                    "data": s.data.model_dump(mode="json", by_alias=True) if s.data else None,
                    "version": s.version,
                    "updatedAt": s.updated_at.isoformat() if s.updated_at else None,
                }
                for s in states
            },
            "memories": [m.model_dump(mode="json", by_alias=True) for m in memories],
            "alerts": [
                {
                    **a.model_dump(mode="json", by_alias=True),
                    "deliveries": [d.as_json() for d in deliveries.get(a.id, [])],
                }
                for a in alerts
            ],
            "reminders": [_reminder_json(r) for r in reminders],
            "conversations": [conversation_json(c, turns.get(c.id, [])) for c in conversations],
            "devices": [
                {
                    "id": d.id,
                    "label": d.label,
                    "createdAt": d.created_at.isoformat(),
                    "lastSeenAt": d.last_seen_at.isoformat(),
                }
                for d in devices
            ],
            # each photo's description, size and showings; the pixels are fetched one by one
            # (GET /api/users/{id}/photos/{photoId}/image), never inlined here
            "photos": photos,
            "records": rows,  # every other row that names the person, without secrets' hashes
        }


def _reminder_json(r: ReminderRecord) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": r.id,
        "kind": r.kind,
        "label": r.label,
        "localTime": r.local_time,
        "dueAt": r.due_at.isoformat(),
        "state": r.state,
        "deliveredAt": when(r.delivered_at),
        "deliveredVia": r.delivered_via,
        "ackedAt": when(r.acked_at),
        "ackedVia": r.acked_via,
        "snoozedUntil": when(r.snoozed_until),
        "missedAt": when(r.missed_at),
    }
