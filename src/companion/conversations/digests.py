"""The digest e-mail, opt-in per contact: the person's day (or, on Sundays, week) at the contact's
local time, through the alerts' outbox (the same worker, retries and proof of delivery), with a
single-use link that stops it without signing in.

Each digest is one outbox row per (period, contact address), named by the period's last day
(``digest-day-2026-03-01``), so several instances, or a restart, queue it once. The service looks at
most once a minute; the decisions (is it due, what it says) are pure functions below.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final, Literal, Protocol

from companion.auth.device_secrets import hash_secret
from companion.care.messages import DIGEST_TYPE
from companion.clock import Clock, utcnow
from companion.conversations.today import day_bounds, talk_minutes, zone_of
from companion.errors import CompanionError, NotFound, PreconditionFailed
from companion.profiles.models import CareContext, DigestFrequency, EmergencyContact
from companion.profiles.service import ProfileService
from companion.store.base import ConversationRecord, JobRecord, ReminderRecord, UnsubscribeRecord

log = logging.getLogger(__name__)

Period = Literal["day", "week"]
LOOK_EVERY: Final = timedelta(minutes=1)
LINK_TTL: Final = timedelta(days=30)  # a digest read a month later may still stop the next ones
TOKEN_BYTES: Final = 32
WEEKLY_ON: Final = 6  # Sunday (Monday is 0): the week that ends on Saturday... and Sunday's own day
SAVE_TRIES: Final = 3  # the safety section changed under the unsubscribe: read it again
_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
UNSUBSCRIBE: Final = "/digest/unsubscribe"

LinkState = Literal["valid", "used", "expired", "unknown"]


def digest_due(contact: EmergencyContact, local_now: datetime) -> Period | None:
    """The period a contact's digest is due for at ``local_now`` (its local time has come today)."""
    if contact.digest is DigestFrequency.NONE or not contact.email:
        return None
    hour, minute = (int(part) for part in contact.digest_time.split(":"))
    if local_now.time() < time(hour, minute):
        return None
    if contact.digest is DigestFrequency.WEEKLY:
        return "week" if local_now.weekday() == WEEKLY_ON else None
    return "day"


def job_key(period: Period, day: date) -> str:
    return f"digest-{period}-{day.isoformat()}"


def unsubscribe_hash(token: str) -> str:
    return hash_secret("digest-unsubscribe:" + token)  # domain-separated from every other secret


def digest_payload(
    *,
    context: CareContext,
    period: Period,
    day: date,
    conversations: Sequence[ConversationRecord],
    reminders: Sequence[ReminderRecord],
    open_alerts: int,
    unsubscribe_url: str | None,
) -> dict[str, Any]:
    """What the message says: counts and the summaries; never a transcript, a medication or a memory."""
    profile = context.profile
    zone = zone_of(profile.personal_info.timezone if profile else None)
    medication = [r for r in reminders if r.kind == "medication"]
    return {
        "type": DIGEST_TYPE,
        "period": period,
        "date": day.isoformat(),
        "language": profile.personal_info.language if profile else "he",
        "name": (profile.personal_info.preferred_name or profile.personal_info.full_name) if profile else "",
        "conversations": len(conversations),
        "minutes": round(talk_minutes(conversations)),
        "summaries": [
            {"when": c.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), "summary": c.summary}
            for c in conversations
            if c.summary
        ],
        "taken": sum(1 for r in medication if r.state == "acknowledged"),
        "missed": sum(1 for r in medication if r.state == "missed"),
        "alerts": open_alerts,
        "unsubscribeUrl": unsubscribe_url,
    }


class DigestStore(Protocol):
    async def list_user_ids(self) -> list[str]: ...

    async def conversations_between(
        self, user_id: str, start: datetime, end: datetime
    ) -> list[ConversationRecord]: ...

    async def list_of_user(self, user_id: str, since: datetime, until: datetime) -> list[ReminderRecord]: ...

    async def add_jobs(self, jobs: list[JobRecord]) -> int: ...

    async def add_unsubscribe(self, link: UnsubscribeRecord) -> None: ...

    async def use_unsubscribe(self, token_hash: str, now: datetime) -> UnsubscribeRecord | None: ...

    async def find_unsubscribe(self, token_hash: str) -> UnsubscribeRecord | None: ...


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    state: LinkState | Literal["done"]
    contact: str = ""


class DigestService:
    def __init__(
        self,
        store: DigestStore,
        profiles: ProfileService,
        open_alerts: Any,  # async (user_id) -> int
        *,
        public_url: str | None,
        clock: Clock = utcnow,
        enabled: bool = True,
    ) -> None:
        self._enabled = enabled  # False: no e-mail channel is configured, so nothing is queued
        self._store = store
        self._profiles = profiles
        self._open_alerts = open_alerts
        self._public_url = public_url
        self._clock = clock
        self._last_look: datetime | None = None
        self._queued: set[tuple[str, str, str]] = set()  # (person, address, job key): this process's

    async def tick(self, now: datetime) -> int:
        """Queue every digest that is due (at most one look a minute); how many were queued."""
        if not self._enabled or (self._last_look is not None and now - self._last_look < LOOK_EVERY):
            return 0
        self._last_look = now
        queued = 0
        for user_id in await self._store.list_user_ids():
            try:
                queued += await self._person(user_id, now)
            except CompanionError as exc:
                log.warning("digest: a person's digest could not be queued (%s)", exc.code)
        return queued

    async def _person(self, user_id: str, now: datetime) -> int:
        context = await self._profiles.context(user_id)
        if context.profile is None:
            return 0
        zone = zone_of(context.profile.personal_info.timezone)
        local = now.astimezone(zone)
        queued = 0
        for contact in context.safety.emergency_contacts:
            period = digest_due(contact, local)
            if period is None or contact.email is None:
                continue
            key = job_key(period, local.date())
            if (user_id, contact.email, key) in self._queued:
                continue
            first = local.date() - timedelta(days=6 if period == "week" else 0)
            start, end = day_bounds(first, zone)[0], day_bounds(local.date(), zone)[1]
            token = secrets.token_urlsafe(TOKEN_BYTES)
            url = f"{self._public_url.rstrip('/')}{UNSUBSCRIBE}/{token}" if self._public_url else None
            payload = digest_payload(
                context=context,
                period=period,
                day=local.date(),
                conversations=await self._store.conversations_between(user_id, start, end),
                reminders=await self._store.list_of_user(user_id, start, end),
                open_alerts=await self._open_alerts(user_id),
                unsubscribe_url=url,
            )
            job = JobRecord(
                id=f"{key}-{secrets.token_hex(6)}",
                user_id=user_id,
                alert_id=key,
                stage=0,
                channel="email",
                address=contact.email,
                contact=contact.name,
                payload=payload,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            if url is not None:  # the link must work before the message can be sent
                await self._store.add_unsubscribe(
                    UnsubscribeRecord(unsubscribe_hash(token), user_id, contact.email, now, now + LINK_TTL)
                )
            queued += await self._store.add_jobs([job])
            self._queued.add((user_id, contact.email, key))
        return queued

    # ---- the unsubscribe link ----------------------------------------------------------------------

    async def state(self, token: str) -> Unsubscribed:
        if not _TOKEN.match(token):
            return Unsubscribed("unknown")
        record = await self._store.find_unsubscribe(unsubscribe_hash(token))
        if record is None:
            return Unsubscribed("unknown")
        if record.used_at is not None:
            return Unsubscribed("used", record.contact)
        if record.expires_at <= self._clock():
            return Unsubscribed("expired", record.contact)
        return Unsubscribed("valid", record.contact)

    async def unsubscribe(self, token: str) -> Unsubscribed:
        """Spend the link and set that contact's digest to none (in the safety section, as a save)."""
        current = await self.state(token)
        if current.state != "valid":
            return current
        record = await self._store.use_unsubscribe(unsubscribe_hash(token), self._clock())
        if record is None:
            return await self.state(token)
        for _ in range(SAVE_TRIES):
            try:
                section = await self._profiles.get_section(record.user_id, "safety")
            except NotFound:
                break
            if section.data is None or section.version is None:
                break
            body = section.data.model_dump(mode="json", by_alias=True)
            changed = False
            for contact in body.get("emergencyContacts", []):
                if contact.get("email") == record.contact and contact.get("digest") != "none":
                    contact["digest"] = "none"
                    changed = True
            if not changed:
                break
            try:
                await self._profiles.save_section(record.user_id, "safety", body, if_match=section.version)
                break
            except PreconditionFailed:
                continue
        return Unsubscribed("done", record.contact)
