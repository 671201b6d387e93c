"""Alerts raised by conversations (the ``alert_family`` tool) and by missed reminders: recorded together
with the messages that announce them, listed newest first with the proof of delivery, acknowledged,
resolved.

An alert and its first messages are one transaction (``add_alert_with_jobs``): there is never an alert
nobody was told about because the process died in between, nor a message about an alert that was not
recorded. Who is told is decided by ``care.alerting`` from the person's profile as it is at that
moment; the delivery worker sends, the escalation service sends more while nobody acknowledges.
"""

from __future__ import annotations

import builtins
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import StringConstraints, ValidationError

from companion.care.acks import AckLinks, AckStore, new_ack_token
from companion.care.alerting import (
    FAMILY_SERVICE,
    AlertConfig,
    AlertFacts,
    JobSpec,
    Person,
    mask_address,
    plan_notices,
)
from companion.clock import utcnow
from companion.errors import NotFound, PreconditionFailed
from companion.profiles.models import MEDIUM_TEXT, CareContext, Model, PersonalInfo, Severity
from companion.profiles.service import validation_error
from companion.store import DocumentStore
from companion.store.base import AttemptRecord, JobRecord

log = logging.getLogger(__name__)

ALERT_KIND = "alert"
UPDATE_TRIES: Final = 5  # an alert is changed by a few hands at most (a link, the dashboard, escalation)
AckVia = Literal["link", "dashboard", "api"]
ResolvedReason = Literal["never_due"]


class Alert(Model):
    id: str
    severity: Severity
    summary: Annotated[str, StringConstraints(max_length=MEDIUM_TEXT)]
    rule: Annotated[str, StringConstraints(max_length=MEDIUM_TEXT)] = ""
    session_id: str | None = None
    reminder_id: str | None = None  # the missed reminder this alert is about (rule "reminder")
    created_at: datetime
    resolved: bool = False
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    # Why it was closed when no person closed it: "never_due" (the dose it named was never due)
    resolved_reason: ResolvedReason | None = None
    # "I have seen it": from a message's link, the dashboard or the API; stops escalation
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_via: AckVia | None = None
    stage: int = 0  # the last escalation stage queued (0: the first messages)
    stage_at: datetime | None = None  # when that stage was queued; None: at creation
    # Brought over from the seed system (``companion import never-alone``): recorded there, so no message
    # is sent about it here and it never escalates; the family may still acknowledge or resolve it
    imported_at: datetime | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def open(self) -> bool:
        """Still waiting for someone: not acknowledged, not resolved."""
        return not self.resolved and self.acknowledged_at is None

    def facts(self) -> AlertFacts:
        return AlertFacts(self.id, self.severity, self.summary, self.created_at)


class AlertInput(Model):
    severity: Severity = Severity.HIGH
    summary: Annotated[str, StringConstraints(min_length=1, max_length=MEDIUM_TEXT)]
    rule: Annotated[str, StringConstraints(max_length=MEDIUM_TEXT)] = ""
    reminder_id: str | None = None


@dataclass(frozen=True, slots=True)
class AlertDelivery:
    """One message about an alert and every try at sending it, as the dashboard and the API show it."""

    job_id: str
    stage: int
    channel: str
    to: str  # the contact's name, or "family service"
    address: str  # masked: d***@example.com
    status: str  # pending, sending, sent, failed
    attempts: tuple[AttemptRecord, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "channel": self.channel,
            "to": self.to,
            "address": self.address,
            "status": self.status,
            "attempts": [
                {"at": a.at.isoformat(), "result": a.result, "detail": a.detail} for a in self.attempts
            ],
        }


class AlertStore(DocumentStore, AckStore, Protocol):
    """The documents, plus the outbox: what ``SqlStore`` offers with its ``SqlOutbox`` half."""

    async def add_alert_with_jobs(
        self, user_id: str, alert_id: str, alert_body: dict[str, Any], jobs: builtins.list[JobRecord]
    ) -> None: ...

    async def add_jobs(self, jobs: builtins.list[JobRecord]) -> int: ...

    async def jobs_of_alert(self, user_id: str, alert_id: str) -> builtins.list[JobRecord]: ...

    async def attempts_of_alert(self, user_id: str, alert_id: str) -> builtins.list[AttemptRecord]: ...

    async def jobs_of_user(self, user_id: str) -> builtins.list[JobRecord]: ...

    async def attempts_of_user(self, user_id: str) -> builtins.list[AttemptRecord]: ...


ContextLoader = Callable[[str], Awaitable[CareContext]]


def person_of(context: CareContext) -> Person:
    """The person as the family's messages name them: full name, language, time zone and gender."""
    info = context.profile.personal_info if context.profile else None
    if info is None:
        defaults = PersonalInfo.model_fields
        return Person(
            context.user_id, context.user_id, defaults["language"].default, defaults["timezone"].default
        )
    return Person(context.user_id, info.full_name, info.language, info.timezone, info.gender.value)


def deliveries_of(
    jobs: Sequence[JobRecord], attempts: Sequence[AttemptRecord]
) -> builtins.list[AlertDelivery]:
    by_job: dict[str, list[AttemptRecord]] = {}
    for attempt in attempts:
        by_job.setdefault(attempt.job_id, []).append(attempt)
    return [
        AlertDelivery(
            job_id=job.id,
            stage=job.stage,
            channel=job.channel,
            to=job.contact or FAMILY_SERVICE,
            address=mask_address(job.channel, job.address),
            status=job.status,
            attempts=tuple(by_job.get(job.id, ())),
        )
        for job in jobs
    ]


class AlertService:
    """Records alerts with their messages; lists, acknowledges, resolves; queues escalation stages.

    ``load_context`` reads the person's context (``ProfileService.context``); without ``config`` no
    channel is configured, so alerts are recorded and no one is told.
    """

    def __init__(
        self,
        store: AlertStore,
        load_context: ContextLoader,
        config: AlertConfig | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        new_token: Callable[[], str] = new_ack_token,
    ) -> None:
        self._store = store
        self._load_context = load_context
        self.config = config or AlertConfig()
        self._clock = clock
        self._new_token = new_token
        self.links = AckLinks(store, self._acknowledge_by_link, clock)

    # ---- recording ---------------------------------------------------------------------------------

    async def record(
        self, user_id: str, body: dict[str, Any], *, session_id: str | None
    ) -> tuple[Alert, builtins.list[JobRecord]]:
        """Record an alert and queue its first messages in one transaction; returns both."""
        try:
            data = AlertInput.model_validate(body)
        except ValidationError as exc:
            raise validation_error(exc) from None
        now = self._clock()
        alert = Alert(
            id="alert-" + uuid.uuid4().hex[:12],
            severity=data.severity,
            summary=data.summary,
            rule=data.rule,
            session_id=session_id,
            reminder_id=data.reminder_id,
            created_at=now,
            stage_at=now,
        )
        document = alert.model_dump(mode="json", by_alias=True)
        context = await self._load_context(user_id)
        try:
            jobs = await self._jobs(user_id, alert, context, 0, now)
            await self._store.add_alert_with_jobs(user_id, alert.id, document, jobs)
        except NotFound as exc:
            if exc.field != "user_id":
                raise
            # Documents of a person never registered: nothing can be queued, the alert is still kept.
            log.warning("user %s is not registered: alert %s recorded, no one notified", user_id, alert.id)
            jobs = []
            await self._store.add_alert_with_jobs(user_id, alert.id, document, jobs)
        return alert, jobs

    async def context(self, user_id: str) -> CareContext:
        return await self._load_context(user_id)

    async def queue_stage(
        self, user_id: str, alert_id: str, stage: int, context: CareContext, now: datetime
    ) -> int:
        """Queue escalation ``stage`` of an alert still open, and mark the alert as at that stage.

        Safe to repeat and to race (several instances): the outbox takes one message per address per
        alert, and only a later stage moves the alert on. Returns how many messages were new."""
        alert = await self.get(user_id, alert_id)
        if not alert.open or alert.stage >= stage:
            return 0
        jobs = await self._jobs(user_id, alert, context, stage, now)
        added = await self._store.add_jobs(jobs)

        def advance(current: Alert) -> Alert | None:
            if current.stage >= stage:
                return None
            return current.model_copy(update={"stage": stage, "stage_at": now})

        await self._update(user_id, alert_id, advance)
        return added

    async def _jobs(
        self, user_id: str, alert: Alert, context: CareContext, stage: int, now: datetime
    ) -> builtins.list[JobRecord]:
        """The stage's messages as outbox rows, their links' hashes stored first (a link must work as
        soon as its message can arrive)."""
        specs = plan_notices(
            alert.facts(),
            context.safety.emergency_contacts,
            person_of(context),
            self.config,
            stage,
            new_token=self._new_token,
        )
        for spec in specs:
            if spec.ack_token is not None:
                await self.links.store_token(
                    spec.ack_token,
                    user_id=user_id,
                    alert_id=alert.id,
                    contact=spec.recipient.contact,
                    now=now,
                )
        batch = uuid.uuid4().hex[:20]  # one stage's ids sort in the order it was planned
        return [
            _job_record(f"job-{batch}-{i:02d}", user_id, alert.id, spec, now) for i, spec in enumerate(specs)
        ]

    # ---- reading -----------------------------------------------------------------------------------

    async def list(self, user_id: str) -> builtins.list[Alert]:
        alerts = [Alert.model_validate(d.body) for d in await self._store.list(user_id, ALERT_KIND)]
        return sorted(alerts, key=lambda a: (a.created_at, a.id), reverse=True)

    async def open_critical(self) -> dict[str, builtins.list[Alert]]:
        """Every person's open critical alerts, in one query: what escalation looks at. An alert that
        no longer reads as one is skipped with a warning naming its person (never its content), so
        one person's bad data does not hide the others'."""
        waiting: dict[str, builtins.list[Alert]] = {}
        for doc in await self._store.list_kind(ALERT_KIND):
            try:
                alert = Alert.model_validate(doc.body)
            except ValidationError:
                log.warning(
                    "alert %s of user %s cannot be read; escalation skips it", doc.doc_id, doc.user_id
                )
                continue
            if alert.severity is Severity.CRITICAL and alert.open:
                waiting.setdefault(doc.user_id, []).append(alert)
        return waiting

    async def get(self, user_id: str, alert_id: str) -> Alert:
        doc = await self._store.get(user_id, ALERT_KIND, alert_id)
        if doc is None:
            raise NotFound(f"Alert {alert_id} not found")
        return Alert.model_validate(doc.body)

    async def deliveries(self, user_id: str, alert_id: str) -> builtins.list[AlertDelivery]:
        jobs = await self._store.jobs_of_alert(user_id, alert_id)
        return deliveries_of(jobs, await self._store.attempts_of_alert(user_id, alert_id))

    async def deliveries_by_alert(self, user_id: str) -> dict[str, builtins.list[AlertDelivery]]:
        """Every alert's deliveries for one person, in two queries (for the lists)."""
        jobs = await self._store.jobs_of_user(user_id)
        attempts = await self._store.attempts_of_user(user_id)
        grouped: dict[str, list[AlertDelivery]] = {}
        for job, delivery in zip(jobs, deliveries_of(jobs, attempts), strict=True):
            grouped.setdefault(job.alert_id, []).append(delivery)
        return grouped

    # ---- acknowledging and resolving ---------------------------------------------------------------

    async def acknowledge(self, user_id: str, alert_id: str, *, by: str, via: AckVia) -> Alert:
        """The first acknowledgement is kept; later ones change nothing."""
        now = self._clock()

        def ack(alert: Alert) -> Alert | None:
            if alert.acknowledged:
                return None
            return alert.model_copy(
                update={"acknowledged_at": now, "acknowledged_by": by, "acknowledged_via": via}
            )

        return await self._update(user_id, alert_id, ack)

    async def _acknowledge_by_link(self, user_id: str, alert_id: str, by: str, via: str) -> object:
        return await self.acknowledge(user_id, alert_id, by=by, via="link")

    async def resolve(self, user_id: str, alert_id: str, *, by: str, via: AckVia = "dashboard") -> Alert:
        """Resolving implies acknowledging (it stops escalation too)."""
        now = self._clock()

        def resolve(alert: Alert) -> Alert | None:
            if alert.resolved:
                return None
            update: dict[str, Any] = {"resolved": True, "resolved_at": now, "resolved_by": by}
            if not alert.acknowledged:
                update.update(acknowledged_at=now, acknowledged_by=by, acknowledged_via=via)
            return alert.model_copy(update=update)

        return await self._update(user_id, alert_id, resolve)

    async def _update(self, user_id: str, alert_id: str, change: Callable[[Alert], Alert | None]) -> Alert:
        """Apply ``change`` with the store's compare-and-swap, re-reading when another hand won."""
        for _ in range(UPDATE_TRIES):
            doc = await self._store.get(user_id, ALERT_KIND, alert_id)
            if doc is None:
                raise NotFound(f"Alert {alert_id} not found")
            alert = Alert.model_validate(doc.body)
            changed = change(alert)
            if changed is None:
                return alert
            try:
                await self._store.put(
                    user_id,
                    ALERT_KIND,
                    alert_id,
                    changed.model_dump(mode="json", by_alias=True),
                    expected_version=doc.version,
                )
            except PreconditionFailed:
                continue
            return changed
        raise PreconditionFailed(f"alert/{alert_id} kept changing; try again", current_version=None)


def _job_record(job_id: str, user_id: str, alert_id: str, spec: JobSpec, now: datetime) -> JobRecord:
    return JobRecord(
        id=job_id,
        user_id=user_id,
        alert_id=alert_id,
        stage=spec.stage,
        channel=spec.recipient.channel,
        address=spec.recipient.address,
        contact=spec.recipient.contact,
        payload=spec.payload,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
