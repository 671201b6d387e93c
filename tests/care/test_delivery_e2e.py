"""Alerts delivered end to end: the outbox on SQLite and PostgreSQL, the worker, and real receivers on
loopback (a signature-checking HTTP server, an SMTP server). Retries, restarts, crashes mid-send and
competing workers: nothing lost, nothing processed twice by a receiver."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from receivers import SECRET, USER, CareStore, SmtpReceiver, WebhookReceiver, make_job

from companion.care.channels import Channel, Delivery, EmailChannel, WebhookChannel
from companion.care.delivery import DeliveryWorker
from companion.store.base import JobRecord

T0 = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
LEASE_S = 60.0
ALERT = "alert-1"


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def worker(store: CareStore, channels: dict[str, Channel], clock: Clock, **kwargs: object) -> DeliveryWorker:
    options: dict[str, object] = {"max_attempts": 5, "lease_s": LEASE_S, "backoff": lambda n: 30.0} | kwargs
    return DeliveryWorker(store, channels, clock=clock, **options)  # type: ignore[arg-type]


async def queue(store: CareStore, *jobs: JobRecord, alert_id: str = ALERT) -> None:
    body = {"id": alert_id, "severity": "critical", "summary": "fell", "createdAt": T0.isoformat()}
    await store.add_alert_with_jobs(USER, alert_id, body, list(jobs))


def hook(receiver: WebhookReceiver, http: httpx.AsyncClient) -> dict[str, Channel]:
    return {"webhook": WebhookChannel(receiver.url, SECRET, http)}


def email_job(job_id: str, address: str = "dana@example.com", alert_id: str = ALERT) -> JobRecord:
    return make_job(job_id, at=T0, channel="email", address=address, alert_id=alert_id)


async def test_an_alert_reaches_the_webhook_and_every_inbox_once(
    care_store: CareStore,
    webhook_receiver: WebhookReceiver,
    smtp_receiver: SmtpReceiver,
    http: httpx.AsyncClient,
) -> None:
    await queue(
        care_store,
        make_job("job-w", at=T0, address=webhook_receiver.url),
        email_job("job-d", "dana@example.com"),
        email_job("job-a", "avi@example.com"),
    )
    channels = hook(webhook_receiver, http) | {
        "email": EmailChannel("127.0.0.1", smtp_receiver.port, None, None, "alerts@care.example.org", "none")
    }
    seen: list[tuple[str, str]] = []
    clock = Clock()
    delivery = worker(care_store, channels, clock, on_attempt=lambda ch, result, s: seen.append((ch, result)))
    assert await delivery.run_once() == 3
    assert await delivery.run_once() == 0
    assert [d.webhook_id for d in webhook_receiver.deliveries] == ["job-w"]
    assert sorted(to for _, (to,) in smtp_receiver.envelopes) == ["avi@example.com", "dana@example.com"]
    jobs = await care_store.jobs_of_alert(USER, ALERT)
    assert {(j.id, j.status, j.attempts, j.sent_at) for j in jobs} == {
        (job_id, "sent", 1, T0) for job_id in ("job-w", "job-d", "job-a")
    }
    attempts = await care_store.attempts_of_alert(USER, ALERT)
    assert sorted((a.job_id, a.result, a.detail) for a in attempts) == [
        ("job-a", "sent", "SMTP 250"),
        ("job-d", "sent", "SMTP 250"),
        ("job-w", "sent", "HTTP 200"),
    ]
    assert sorted(seen) == [("email", "sent"), ("email", "sent"), ("webhook", "sent")]


async def test_a_receiver_that_fails_first_gets_it_on_the_retry(
    care_store: CareStore, http: httpx.AsyncClient
) -> None:
    receiver = WebhookReceiver(statuses=[500])
    await receiver.start()
    try:
        await queue(care_store, make_job("job-w", at=T0, address=receiver.url))
        clock = Clock()
        delivery = worker(care_store, hook(receiver, http), clock)
        assert await delivery.run_once() == 1
        (job,) = await care_store.jobs_of_alert(USER, ALERT)
        assert (job.status, job.attempts, job.next_attempt_at, job.last_error) == (
            "pending",
            1,
            T0 + timedelta(seconds=30),
            "HTTP 500",
        )
        clock.advance(29)
        assert await delivery.run_once() == 0  # not before its time
        clock.advance(1)
        assert await delivery.run_once() == 1
    finally:
        await receiver.stop()
    assert receiver.answered == [500, 200]
    assert [d.webhook_id for d in receiver.deliveries] == ["job-w"]
    attempts = await care_store.attempts_of_alert(USER, ALERT)
    assert [(a.result, a.detail, a.at) for a in attempts] == [
        ("retry", "HTTP 500", T0),
        ("sent", "HTTP 200", T0 + timedelta(seconds=30)),
    ]
    (job,) = await care_store.jobs_of_alert(USER, ALERT)
    assert (job.status, job.attempts, job.last_error) == ("sent", 2, None)


async def test_an_inbox_that_defers_gets_it_on_the_retry(care_store: CareStore) -> None:
    receiver = SmtpReceiver(replies=["451 4.7.1 Greylisted, try again"])
    receiver.start()
    try:
        await queue(care_store, email_job("job-d"))
        clock = Clock()
        channels: dict[str, Channel] = {
            "email": EmailChannel("127.0.0.1", receiver.port, None, None, "alerts@care.example.org", "none")
        }
        delivery = worker(care_store, channels, clock)
        await delivery.run_once()
        clock.advance(30)
        await delivery.run_once()
    finally:
        receiver.stop()
    assert [m["Message-ID"] for m in receiver.messages] == ["<job-d.alert@care.example.org>"]
    attempts = await care_store.attempts_of_alert(USER, ALERT)
    assert [(a.result, a.detail) for a in attempts] == [
        ("retry", "SMTP 451 SMTPDataError"),
        ("sent", "SMTP 250"),
    ]


async def test_after_the_last_attempt_the_job_has_failed(
    care_store: CareStore, http: httpx.AsyncClient
) -> None:
    receiver = WebhookReceiver(statuses=[503, 503, 503])
    await receiver.start()
    try:
        await queue(care_store, make_job("job-w", at=T0, address=receiver.url))
        clock = Clock()
        delivery = worker(care_store, hook(receiver, http), clock, max_attempts=2)
        await delivery.run_once()
        clock.advance(30)
        await delivery.run_once()
        clock.advance(3600)
        assert await delivery.run_once() == 0
    finally:
        await receiver.stop()
    (job,) = await care_store.jobs_of_alert(USER, ALERT)
    assert (job.status, job.attempts, job.last_error) == ("failed", 2, "HTTP 503; gave up after 2 attempts")
    assert [a.result for a in await care_store.attempts_of_alert(USER, ALERT)] == ["retry", "failed"]
    assert receiver.deliveries == []


async def test_a_restart_between_queueing_and_delivery_loses_nothing_and_sends_once(
    care_store_url: str, webhook_receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    before = CareStore(care_store_url)
    await queue(before, make_job("job-w", at=T0, address=webhook_receiver.url))
    await before.close()  # the service stops before its worker ran

    for _ in range(2):  # started again, twice
        after = CareStore(care_store_url)
        try:
            await worker(after, hook(webhook_receiver, http), Clock()).run_once()
        finally:
            await after.close()
    assert [d.webhook_id for d in webhook_receiver.deliveries] == ["job-w"]
    assert webhook_receiver.duplicates == []


async def test_a_crash_mid_send_is_sent_again_after_the_lease_under_the_same_id(
    care_store_url: str, http: httpx.AsyncClient
) -> None:
    receiver = WebhookReceiver(hold=asyncio.Event())
    await receiver.start()
    try:
        first = CareStore(care_store_url)
        await queue(first, make_job("job-w", at=T0, address=receiver.url))
        clock = Clock()
        sending = asyncio.create_task(worker(first, hook(receiver, http), clock).run_once())
        await asyncio.wait_for(receiver.arrived.wait(), 5)
        sending.cancel()  # the process dies after the receiver got it, before the worker heard back
        await asyncio.gather(sending, return_exceptions=True)
        await first.close()
        receiver.hold.set()  # type: ignore[union-attr]

        second = CareStore(care_store_url)
        try:
            clock.advance(LEASE_S - 1)
            assert await worker(second, hook(receiver, http), clock).run_once() == 0  # still leased
            clock.advance(1)
            assert await worker(second, hook(receiver, http), clock).run_once() == 1
            (job,) = await second.jobs_of_alert(USER, ALERT)
            attempts = await second.attempts_of_alert(USER, ALERT)
        finally:
            await second.close()
    finally:
        await receiver.stop()
    assert [d.webhook_id for d in receiver.deliveries] == ["job-w"]
    assert receiver.duplicates == ["job-w"]  # the copy is recognised by its webhook-id and dropped
    assert (job.status, job.attempts) == ("sent", 2)
    assert [(a.result, a.detail) for a in attempts] == [("sent", "HTTP 200")]


async def test_competing_workers_send_each_job_once(
    care_store_url: str, webhook_receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    stores = [CareStore(care_store_url) for _ in range(3)]
    try:
        for n in range(4):
            webhook_job = make_job(f"job-{n}-0", at=T0, alert_id=f"alert-w{n}", address=webhook_receiver.url)
            await queue(stores[0], webhook_job, alert_id=f"alert-w{n}")
        await queue(stores[0], *(email_job(f"job-m-{k}", f"p{k}@example.com") for k in range(6)))
        counting = Counting()
        channels = hook(webhook_receiver, http) | {"email": counting}
        workers = [worker(s, channels, Clock(), concurrency=2) for s in stores]
        tried = await asyncio.gather(*(w.run_once() for w in workers for _ in range(2)))
    finally:
        for s in stores:
            await s.close()
    assert sum(tried) == 10
    assert sorted(d.webhook_id for d in webhook_receiver.deliveries) == [f"job-{n}-0" for n in range(4)]
    assert webhook_receiver.duplicates == []
    assert sorted(counting.sent) == sorted(f"job-m-{k}" for k in range(6))


class Counting:
    """A channel that only counts (the e-mail path is proven against SMTP above); slow enough that the
    workers' claims overlap in time."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, job: JobRecord) -> Delivery:
        await asyncio.sleep(0.05)
        self.sent.append(job.id)
        return Delivery("sent", "counted")


class Raising:
    async def send(self, job: JobRecord) -> Delivery:
        raise RuntimeError("a bug in a channel")


async def test_a_channel_that_breaks_or_is_missing_does_not_stop_the_others(
    care_store: CareStore, webhook_receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    await queue(
        care_store,
        make_job("job-w", at=T0, address=webhook_receiver.url),
        email_job("job-d"),
    )
    await worker(care_store, hook(webhook_receiver, http), Clock()).run_once()
    jobs = {j.id: j for j in await care_store.jobs_of_alert(USER, ALERT)}
    assert jobs["job-w"].status == "sent"
    assert (jobs["job-d"].status, jobs["job-d"].last_error) == ("failed", "channel email is not configured")

    await queue(care_store, email_job("job-r", alert_id="alert-2"), alert_id="alert-2")
    await worker(care_store, {"email": Raising()}, Clock()).run_once()
    (job,) = await care_store.jobs_of_alert(USER, "alert-2")
    assert (job.status, job.last_error) == ("pending", "RuntimeError")


async def test_a_send_that_outlasts_half_the_lease_is_cut_off_and_retried(
    care_store: CareStore, http: httpx.AsyncClient
) -> None:
    receiver = WebhookReceiver(hold=asyncio.Event())
    await receiver.start()
    try:
        await queue(care_store, make_job("job-w", at=T0, address=receiver.url))
        tried = await worker(care_store, hook(receiver, http), Clock(), lease_s=0.4).run_once()
    finally:
        await receiver.stop()
    assert tried == 1
    (job,) = await care_store.jobs_of_alert(USER, ALERT)
    assert (job.status, job.last_error) == ("pending", "timed out")


async def test_a_job_claimed_again_past_its_attempts_fails_without_sending(
    care_store: CareStore, webhook_receiver: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    await queue(care_store, make_job("job-w", at=T0, address=webhook_receiver.url))
    clock = Clock()
    for _ in range(2):  # two workers died mid-send
        await care_store.claim_due_jobs(clock(), LEASE_S, 10)
        clock.advance(LEASE_S)
    await worker(care_store, hook(webhook_receiver, http), clock, max_attempts=2).run_once()
    (job,) = await care_store.jobs_of_alert(USER, ALERT)
    assert (job.status, job.attempts, job.last_error) == ("failed", 3, "gave up after 2 attempts")
    assert webhook_receiver.deliveries == []
