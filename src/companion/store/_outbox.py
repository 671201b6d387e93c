"""The outbox half of ``SqlStore``: notification jobs, their delivery attempts, and acknowledgement links.

An alert and the jobs that announce it are written in one transaction, so an alert is never recorded
without its notifications, nor a notification queued for an alert that was not recorded. Claiming a job
is a guarded ``UPDATE`` (with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write lock serialises
writers) that gives the claimer a lease: only the lease holder sends, and a worker that dies mid-send
leaves a lease that expires, after which another worker sends the same job again under the same id.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from companion.errors import AlreadyExists, InvalidInput, NotFound, PreconditionFailed
from companion.store._accounts import _user_exists
from companion.store._engine import SqlBase, check_aware, check_key, json_roundtrip
from companion.store.base import AckRecord, AttemptRecord, JobRecord
from companion.store.schema import (
    ADDRESS_MAX,
    DETAIL_MAX,
    HASH_MAX,
    ID_MAX,
    LABEL_MAX,
    alert_acks,
    delivery_attempts,
    documents,
    notification_jobs,
)

ALERT_KIND = "alert"  # the documents' kind for alerts (care/alerts.py uses the same word)
CHANNELS = ("webhook", "email")
JOB_STATES = ("pending", "sending", "sent", "failed")
FinishResult = Literal["sent", "failed", "retry"]
MAX_CLAIM = 500  # one claim's batch; a worker claims what it can send within one lease

_job = notification_jobs.c
_att = delivery_attempts.c
_ack = alert_acks.c


class SqlOutbox(SqlBase):
    # -- queueing -----------------------------------------------------------------------------------

    async def add_alert_with_jobs(
        self, user_id: str, alert_id: str, alert_body: dict[str, Any], jobs: builtins.list[JobRecord]
    ) -> None:
        """Create the alert document (version 1) and queue its jobs, all or nothing.

        ``PreconditionFailed`` when the alert already exists; ``NotFound`` when jobs are given for a
        user who is not registered. Jobs repeating an (alert, channel, address) are dropped."""
        check_key("user_id", user_id, ID_MAX)
        check_key("alert_id", alert_id, ID_MAX)
        stored = json_roundtrip(alert_body)
        rows = [_job_row(job) for job in jobs]
        for job in jobs:
            if job.user_id != user_id or job.alert_id != alert_id:
                raise InvalidInput("every job must belong to the alert it is queued with", field="jobs")
        now = self._now()
        async with self._tx() as conn:
            if rows and not await _user_exists(conn, user_id):
                raise NotFound(f"user {user_id!r} does not exist", field="user_id")
            created = await conn.execute(
                self._insert_ignore(documents).values(
                    user_id=user_id, kind=ALERT_KIND, doc_id=alert_id, body=stored, version=1, updated_at=now
                )
            )
            if created.rowcount != 1:
                raise PreconditionFailed(f"{ALERT_KIND}/{alert_id} already exists", current_version=None)
            await self._insert_jobs(conn, rows)

    async def add_jobs(self, jobs: builtins.list[JobRecord]) -> int:
        """Queue more jobs (escalation). Returns how many were new: a job repeating an (alert, channel,
        address) already queued, or a job id already used, is ignored."""
        rows = [_job_row(job) for job in jobs]
        if not rows:
            return 0
        async with self._tx() as conn:
            for user_id in {row["user_id"] for row in rows}:
                if not await _user_exists(conn, user_id):
                    raise NotFound(f"user {user_id!r} does not exist", field="user_id")
            return await self._insert_jobs(conn, rows)

    async def _insert_jobs(self, conn: AsyncConnection, rows: Iterable[dict[str, Any]]) -> int:
        # One statement per row: each conflict is ignored on its own, and rowcount says which were new.
        added = 0
        for row in rows:
            result = await conn.execute(self._insert_ignore(notification_jobs).values(**row))
            added += int(result.rowcount == 1)
        return added

    # -- delivering ---------------------------------------------------------------------------------

    async def claim_due_jobs(self, now: datetime, lease_s: float, limit: int) -> builtins.list[JobRecord]:
        """Lease up to ``limit`` jobs that are due: pending ones whose time came, and sending ones whose
        lease expired (their worker died). Each is moved to ``sending`` with ``attempts + 1``; no other
        claimer, on any instance, gets the same job until the lease ends."""
        check_aware(now)
        if lease_s <= 0:
            raise InvalidInput("lease_s must be positive", field="lease_s")
        limit = max(0, min(limit, MAX_CLAIM))
        if limit == 0:
            return []
        due = or_(
            and_(_job.status == "pending", _job.next_attempt_at <= now),
            and_(_job.status == "sending", _job.lease_until <= now),
        )
        candidates = select(_job.id).where(due).order_by(_job.next_attempt_at, _job.id).limit(limit)
        if self.backend == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        # A CTE, not a sub-select: PostgreSQL may run a sub-select once per row, and its LIMIT with it.
        chosen = candidates.cte("chosen_jobs")
        statement = (
            update(notification_jobs)
            # ``due`` again: on PostgreSQL a row may change between the choice and the update.
            .where(_job.id.in_(select(chosen.c.id)), due)
            .values(
                status="sending",
                lease_until=now + timedelta(seconds=lease_s),
                attempts=_job.attempts + 1,
            )
            .returning(*notification_jobs.c)
        )
        async with self._tx() as conn:
            rows = (await conn.execute(statement)).all()
        jobs = [_job_record(row._mapping) for row in rows]
        return sorted(jobs, key=lambda j: (j.next_attempt_at, j.id))

    async def finish_job(
        self,
        job_id: str,
        *,
        result: FinishResult,
        detail: str,
        at: datetime,
        next_attempt_at: datetime | None = None,
        lease_until: datetime | None = None,
    ) -> bool:
        """Record one delivery attempt and move the job on: ``sent``, ``failed`` (for good) or back to
        ``pending`` until ``next_attempt_at`` (``retry``), in one transaction.

        With ``lease_until`` (the value the claim returned) the job moves only while that lease is still
        the job's, so a worker whose lease was taken over does not overwrite the new holder; the attempt
        is recorded either way. Returns whether the job moved."""
        check_aware(at)
        if result not in ("sent", "failed", "retry"):
            raise InvalidInput(f"unknown delivery result {result!r}", field="result")
        changes: dict[str, Any] = {"lease_until": None}
        if result == "sent":
            changes.update(status="sent", sent_at=at, last_error=None)
        elif result == "failed":
            changes.update(status="failed", last_error=detail[:DETAIL_MAX])
        else:
            if next_attempt_at is None:
                raise InvalidInput("a retry needs next_attempt_at", field="next_attempt_at")
            check_aware(next_attempt_at)
            changes.update(status="pending", next_attempt_at=next_attempt_at, last_error=detail[:DETAIL_MAX])
        guard = [_job.id == job_id, _job.status == "sending"]
        if lease_until is not None:
            check_aware(lease_until)
            guard.append(_job.lease_until == lease_until)
        async with self._tx() as conn:
            moved = await conn.execute(update(notification_jobs).where(*guard).values(**changes))
            exists = moved.rowcount == 1 or await conn.scalar(select(_job.id).where(_job.id == job_id))
            if not exists:
                raise NotFound(f"job {job_id!r} does not exist", field="job_id")
            await conn.execute(
                delivery_attempts.insert().values(
                    job_id=job_id, at=at, result=result, detail=detail[:DETAIL_MAX]
                )
            )
        return bool(moved.rowcount == 1)

    # -- reading (dashboard, API, escalation) --------------------------------------------------------

    async def jobs_of_alert(self, user_id: str, alert_id: str) -> builtins.list[JobRecord]:
        return await self._jobs(_job.user_id == user_id, _job.alert_id == alert_id)

    async def jobs_of_user(self, user_id: str) -> builtins.list[JobRecord]:
        return await self._jobs(_job.user_id == user_id)

    async def _jobs(self, *where: Any) -> builtins.list[JobRecord]:
        query = select(notification_jobs).where(*where).order_by(_job.created_at, _job.stage, _job.id)
        async with self._read() as conn:
            return [_job_record(row._mapping) for row in await conn.execute(query)]

    async def attempts_of_alert(self, user_id: str, alert_id: str) -> builtins.list[AttemptRecord]:
        """Every delivery attempt for one alert, oldest first."""
        return await self._attempts(_job.user_id == user_id, _job.alert_id == alert_id)

    async def attempts_of_user(self, user_id: str) -> builtins.list[AttemptRecord]:
        """Every delivery attempt for one person's alerts (group them with ``jobs_of_user``)."""
        return await self._attempts(_job.user_id == user_id)

    async def _attempts(self, *where: Any) -> builtins.list[AttemptRecord]:
        query = (
            select(_att.job_id, _att.at, _att.result, _att.detail)
            .join(notification_jobs, _job.id == _att.job_id)
            .where(*where)
            .order_by(_att.at, _att.id)
        )
        async with self._read() as conn:
            return [
                AttemptRecord(job_id=row.job_id, at=row.at, result=row.result, detail=row.detail)
                for row in await conn.execute(query)
            ]

    # -- acknowledgement links ----------------------------------------------------------------------

    async def add_ack(self, ack: AckRecord) -> None:
        """Store a link's hash. ``AlreadyExists`` if the hash is taken (draw another token)."""
        check_key("token_hash", ack.token_hash, HASH_MAX)
        check_key("user_id", ack.user_id, ID_MAX)
        check_key("alert_id", ack.alert_id, ID_MAX)
        if ack.contact is not None and len(ack.contact) > LABEL_MAX:
            raise InvalidInput(f"contact is longer than {LABEL_MAX} characters", field="contact")
        check_aware(ack.created_at, ack.expires_at)
        async with self._tx() as conn:
            if not await _user_exists(conn, ack.user_id):
                raise NotFound(f"user {ack.user_id!r} does not exist", field="user_id")
            result = await conn.execute(
                self._insert_ignore(alert_acks).values(
                    token_hash=ack.token_hash,
                    user_id=ack.user_id,
                    alert_id=ack.alert_id,
                    contact=ack.contact,
                    created_at=ack.created_at,
                    expires_at=ack.expires_at,
                    used_at=ack.used_at,
                )
            )
            added = result.rowcount == 1
        if not added:
            raise AlreadyExists("acknowledgement token already exists", field="token_hash")

    async def use_ack(self, token_hash: str, now: datetime) -> AckRecord | None:
        """Spend a link: the one caller that finds it unused and unexpired gets it (with ``used_at``);
        everyone else gets ``None`` (``find_ack`` tells used, expired and unknown apart)."""
        check_aware(now)
        statement = (
            update(alert_acks)
            .where(_ack.token_hash == token_hash, _ack.used_at.is_(None), _ack.expires_at > now)
            .values(used_at=now)
            .returning(*alert_acks.c)
        )
        async with self._tx() as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else _ack_record(row._mapping)

    async def find_ack(self, token_hash: str) -> AckRecord | None:
        async with self._read() as conn:
            row = (await conn.execute(select(alert_acks).where(_ack.token_hash == token_hash))).first()
        return None if row is None else _ack_record(row._mapping)


def _job_row(job: JobRecord) -> dict[str, Any]:
    """Validate a job up front, so both backends refuse the same inputs with the same error."""
    check_key("id", job.id, ID_MAX)
    check_key("user_id", job.user_id, ID_MAX)
    check_key("alert_id", job.alert_id, ID_MAX)
    check_key("address", job.address, ADDRESS_MAX)
    if job.channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {job.channel!r}", field="channel")
    if job.status not in JOB_STATES:
        raise InvalidInput(f"unknown job status {job.status!r}", field="status")
    if job.contact is not None and len(job.contact) > LABEL_MAX:
        raise InvalidInput(f"contact is longer than {LABEL_MAX} characters", field="contact")
    if isinstance(job.stage, bool) or not isinstance(job.stage, int) or job.stage < 0:
        raise InvalidInput("stage must be a non-negative integer", field="stage")
    check_aware(job.next_attempt_at, job.created_at)
    return {
        "id": job.id,
        "user_id": job.user_id,
        "alert_id": job.alert_id,
        "stage": job.stage,
        "channel": job.channel,
        "address": job.address,
        "contact": job.contact,
        "payload": json_roundtrip(job.payload),
        "status": job.status,
        "attempts": job.attempts,
        "next_attempt_at": job.next_attempt_at,
        "lease_until": job.lease_until,
        "created_at": job.created_at,
        "sent_at": job.sent_at,
        "last_error": None if job.last_error is None else job.last_error[:DETAIL_MAX],
    }


def _job_record(row: Any) -> JobRecord:
    return JobRecord(
        id=row["id"],
        user_id=row["user_id"],
        alert_id=row["alert_id"],
        stage=int(row["stage"]),
        channel=row["channel"],
        address=row["address"],
        contact=row["contact"],
        payload=row["payload"],
        status=row["status"],
        attempts=int(row["attempts"]),
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
        lease_until=row["lease_until"],
    )


def _ack_record(row: Any) -> AckRecord:
    return AckRecord(
        token_hash=row["token_hash"],
        user_id=row["user_id"],
        alert_id=row["alert_id"],
        contact=row["contact"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
    )
