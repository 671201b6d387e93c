"""The outbox contract (alerts with their jobs, claims and leases, attempts, acknowledgement links) on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from companion.errors import AlreadyExists, InvalidInput, NotFound, PreconditionFailed
from companion.store import SqlStore
from companion.store._outbox import SqlOutbox
from companion.store.base import AckRecord, JobRecord

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LEASE_S = 30.0
ALERT = {"id": "a1", "severity": "critical", "summary": "fell in the kitchen", "createdAt": T0.isoformat()}


class OutboxStore(SqlStore, SqlOutbox):
    """What the service's ``SqlStore`` becomes once the outbox is one of its halves."""


@pytest.fixture
async def outbox(store_url: str) -> AsyncIterator[OutboxStore]:
    s = OutboxStore(store_url)
    await s.create_user("u1")
    try:
        yield s
    finally:
        await s.close()


def job(job_id: str, *, alert_id: str = "a1", address: str | None = None, **changes: Any) -> JobRecord:
    base = JobRecord(
        id=job_id,
        user_id="u1",
        alert_id=alert_id,
        stage=0,
        channel="email",
        address=address or f"{job_id}@example.com",
        contact="Dana",
        payload={"type": "alert.created", "alertId": alert_id, "summary": "נפלתי במטבח"},
        status="pending",
        attempts=0,
        next_attempt_at=T0,
        created_at=T0,
    )
    return dataclasses.replace(base, **changes)


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def test_an_alert_and_its_jobs_are_written_together(outbox: OutboxStore) -> None:
    await outbox.add_alert_with_jobs("u1", "a1", ALERT, [job("j1"), job("j2")])
    doc = await outbox.get("u1", "alert", "a1")
    assert doc is not None and doc.version == 1 and doc.body == ALERT
    jobs = await outbox.jobs_of_alert("u1", "a1")
    assert [j.id for j in jobs] == ["j1", "j2"]
    assert jobs[0].payload["summary"] == "נפלתי במטבח"
    assert (jobs[0].status, jobs[0].attempts, jobs[0].next_attempt_at) == ("pending", 0, T0)
    assert await outbox.jobs_of_alert("someone-else", "a1") == []


async def test_an_existing_alert_is_not_overwritten_and_queues_nothing(outbox: OutboxStore) -> None:
    await outbox.add_alert_with_jobs("u1", "a1", ALERT, [job("j1")])
    with pytest.raises(PreconditionFailed):
        await outbox.add_alert_with_jobs("u1", "a1", {"other": True}, [job("j9", address="new@example.com")])
    doc = await outbox.get("u1", "alert", "a1")
    assert doc is not None and doc.body == ALERT
    assert [j.id for j in await outbox.jobs_of_alert("u1", "a1")] == ["j1"]


async def test_jobs_for_an_unknown_user_write_no_alert(outbox: OutboxStore) -> None:
    stranger = job("j1", user_id="ghost")
    with pytest.raises(NotFound):
        await outbox.add_alert_with_jobs("ghost", "a1", ALERT, [stranger])
    assert await outbox.get("ghost", "alert", "a1") is None
    # With nothing to send the alert is a plain document, as before the outbox.
    await outbox.add_alert_with_jobs("ghost", "a2", ALERT, [])
    assert await outbox.get("ghost", "alert", "a2") is not None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"alert_id": "other"}, "jobs"),
        ({"channel": "sms"}, "channel"),
        ({"address": "x" * 401}, "address"),
        ({"payload": {"bad": float("nan")}}, "body"),
        ({"next_attempt_at": datetime(2026, 3, 1, 8, 0)}, "time"),
    ],
)
async def test_bad_jobs_are_refused_before_anything_is_written(
    outbox: OutboxStore, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await outbox.add_alert_with_jobs("u1", "a1", ALERT, [job("j1"), job("j2", **changes)])
    assert caught.value.field == field
    assert await outbox.get("u1", "alert", "a1") is None
    assert await outbox.jobs_of_user("u1") == []


async def test_one_address_gets_one_job_per_alert(outbox: OutboxStore) -> None:
    same = "dana@example.com"
    await outbox.add_alert_with_jobs("u1", "a1", ALERT, [job("j1", address=same), job("j2", address=same)])
    assert [j.id for j in await outbox.jobs_of_alert("u1", "a1")] == ["j1"]
    added = await outbox.add_jobs(
        [job("j3", address=same, stage=1), job("j4", address="avi@example.com", stage=1), job("j1")]
    )
    assert added == 1
    assert [j.id for j in await outbox.jobs_of_alert("u1", "a1")] == ["j1", "j4"]
    # The same address on another channel, or for another alert, is a different notice.
    assert await outbox.add_jobs([job("j5", address=same, channel="webhook")]) == 1
    assert await outbox.add_jobs([job("j6", address=same, alert_id="a2")]) == 1
    assert await outbox.add_jobs([]) == 0
    with pytest.raises(NotFound):
        await outbox.add_jobs([job("j7", user_id="ghost")])


async def test_claims_lease_due_jobs_once(outbox: OutboxStore) -> None:
    later = T0 + timedelta(minutes=5)
    await outbox.add_alert_with_jobs(
        "u1", "a1", ALERT, [job("j1"), job("j2"), job("j3", next_attempt_at=later)]
    )
    claimed = await outbox.claim_due_jobs(T0, LEASE_S, 10)
    assert [j.id for j in claimed] == ["j1", "j2"]
    lease = T0 + timedelta(seconds=LEASE_S)
    assert all((j.status, j.attempts, j.lease_until) == ("sending", 1, lease) for j in claimed)
    # Held: nobody else gets them while the lease runs, and the future one is not due yet.
    assert await outbox.claim_due_jobs(T0 + timedelta(seconds=29), LEASE_S, 10) == []
    # A lease that ran out (its worker died mid-send) is claimed again, one attempt more.
    again = await outbox.claim_due_jobs(lease, LEASE_S, 1)
    assert [(j.id, j.attempts) for j in again] == [("j1", 2)]
    assert await outbox.claim_due_jobs(T0, LEASE_S, 0) == []


async def test_finishing_records_the_attempt_and_moves_the_job(outbox: OutboxStore) -> None:
    await outbox.add_alert_with_jobs("u1", "a1", ALERT, [job("j1"), job("j2"), job("j3")])
    claimed = {j.id: j for j in await outbox.claim_due_jobs(T0, LEASE_S, 10)}
    at = T0 + timedelta(seconds=1)
    retry_at = T0 + timedelta(minutes=1)
    assert await outbox.finish_job("j1", result="sent", detail="HTTP 200", at=at)
    assert await outbox.finish_job(
        "j2",
        result="retry",
        detail="HTTP 503",
        at=at,
        next_attempt_at=retry_at,
        lease_until=claimed["j2"].lease_until,
    )
    assert await outbox.finish_job("j3", result="failed", detail="SMTP 550", at=at)
    jobs = {j.id: j for j in await outbox.jobs_of_alert("u1", "a1")}
    assert (jobs["j1"].status, jobs["j1"].sent_at, jobs["j1"].lease_until) == ("sent", at, None)
    assert (jobs["j2"].status, jobs["j2"].next_attempt_at, jobs["j2"].last_error) == (
        "pending",
        retry_at,
        "HTTP 503",
    )
    assert (jobs["j3"].status, jobs["j3"].last_error) == ("failed", "SMTP 550")
    attempts = await outbox.attempts_of_alert("u1", "a1")
    assert [(a.job_id, a.result, a.detail, a.at) for a in attempts] == [
        ("j1", "sent", "HTTP 200", at),
        ("j2", "retry", "HTTP 503", at),
        ("j3", "failed", "SMTP 550", at),
    ]
    assert await outbox.attempts_of_user("u1") == attempts
    assert await outbox.attempts_of_alert("someone-else", "a1") == []
    # The retried job is due again at its time, not before.
    assert await outbox.claim_due_jobs(retry_at - timedelta(seconds=1), LEASE_S, 10) == []
    assert [j.id for j in await outbox.claim_due_jobs(retry_at, LEASE_S, 10)] == ["j2"]


async def test_a_lost_lease_does_not_overwrite_the_new_holder(outbox: OutboxStore) -> None:
    await outbox.add_alert_with_jobs("u1", "a1", ALERT, [job("j1")])
    (first,) = await outbox.claim_due_jobs(T0, LEASE_S, 10)
    (second,) = await outbox.claim_due_jobs(T0 + timedelta(seconds=LEASE_S), LEASE_S, 10)
    late = T0 + timedelta(seconds=LEASE_S + 1)
    moved = await outbox.finish_job(
        "j1",
        result="retry",
        detail="ReadTimeout",
        at=late,
        next_attempt_at=late,
        lease_until=first.lease_until,
    )
    assert not moved
    assert (await outbox.jobs_of_alert("u1", "a1"))[0].status == "sending"
    assert await outbox.finish_job(
        "j1", result="sent", detail="HTTP 200", at=late, lease_until=second.lease_until
    )
    assert [a.result for a in await outbox.attempts_of_alert("u1", "a1")] == ["retry", "sent"]
    # A finished job is not finished twice.
    assert not await outbox.finish_job("j1", result="failed", detail="late", at=late)
    assert (await outbox.jobs_of_alert("u1", "a1"))[0].status == "sent"


async def test_finish_refuses_unknown_jobs_and_incomplete_retries(outbox: OutboxStore) -> None:
    with pytest.raises(NotFound):
        await outbox.finish_job("nope", result="sent", detail="HTTP 200", at=T0)
    await outbox.add_alert_with_jobs("u1", "a1", ALERT, [job("j1")])
    with pytest.raises(InvalidInput) as caught:
        await outbox.finish_job("j1", result="retry", detail="HTTP 500", at=T0)
    assert caught.value.field == "next_attempt_at"
    assert await outbox.attempts_of_alert("u1", "a1") == []


async def test_concurrent_claimers_share_the_work_without_overlap(store_url: str) -> None:
    stores = [OutboxStore(store_url) for _ in range(4)]
    try:
        await stores[0].create_user("u1")
        await stores[0].add_alert_with_jobs("u1", "a1", ALERT, [job(f"j{i:02}") for i in range(20)])
        batches = await asyncio.gather(*(s.claim_due_jobs(T0, LEASE_S, 3) for s in stores for _ in range(3)))
    finally:
        for s in stores:
            await s.close()
    claimed = [j.id for batch in batches for j in batch]
    assert len(claimed) == len(set(claimed))
    assert len(claimed) == 20  # 12 claims of up to 3 each cover the 20 jobs


async def test_an_acknowledgement_link_is_spent_once(outbox: OutboxStore) -> None:
    ack = AckRecord(
        token_hash=sha("token-1"),
        user_id="u1",
        alert_id="a1",
        contact="Dana",
        created_at=T0,
        expires_at=T0 + timedelta(days=1),
    )
    await outbox.add_ack(ack)
    with pytest.raises(AlreadyExists):
        await outbox.add_ack(ack)
    assert await outbox.find_ack(sha("token-1")) == ack
    assert await outbox.find_ack(sha("unknown")) is None
    at = T0 + timedelta(hours=1)
    winners = await asyncio.gather(*(outbox.use_ack(sha("token-1"), at) for _ in range(5)))
    used = [w for w in winners if w is not None]
    assert used == [dataclasses.replace(ack, used_at=at)]
    assert await outbox.find_ack(sha("token-1")) == used[0]
    assert await outbox.use_ack(sha("unknown"), at) is None


async def test_an_expired_link_cannot_be_spent(outbox: OutboxStore) -> None:
    ack = AckRecord(sha("t2"), "u1", "a1", None, T0, T0 + timedelta(minutes=10))
    await outbox.add_ack(ack)
    assert await outbox.use_ack(sha("t2"), T0 + timedelta(minutes=10)) is None
    assert await outbox.find_ack(sha("t2")) == ack  # unused, and past its time: the caller says 410
    with pytest.raises(NotFound):
        await outbox.add_ack(dataclasses.replace(ack, token_hash=sha("t3"), user_id="ghost"))
