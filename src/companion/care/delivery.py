"""The delivery worker: leases due notification jobs from the outbox and sends each through its channel.

Never twice on purpose: a job is sent only while this worker holds its lease, and every send is cut
off well before the lease ends, so no other worker can be sending it at the same time. If the process
dies mid-send, the lease runs out and a worker sends the job again under the same id (webhook-id,
Message-ID), which lets the receiver drop the copy. What to do after a try is decided by ``settle``,
a pure function of the job's attempts and the channel's answer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from companion.backoff import doubling_delay
from companion.care.channels import Channel, Delivery, Result
from companion.clock import utcnow
from companion.errors import CompanionError
from companion.store.base import JobRecord

log = logging.getLogger("companion.care")

Clock = Callable[[], datetime]
Backoff = Callable[[int], float]
AttemptCallback = Callable[[str, Result, float], None]  # channel, result, seconds the send took

FIRST_RETRY_S = 10.0  # a receiver that blinked is tried again soon
MAX_RETRY_S = 1800.0  # ... and, however long it has been down, at least every half hour
LEASE_S = 120.0  # a job is this worker's for this long; sends are cut off at half of it
CONCURRENCY = 4  # sends at once: the jobs of one alert go out together without flooding a relay
MAX_ROUNDS = 10  # claims per run_once, so one call is bounded and the loop gets its turn back
MAX_ATTEMPTS = 8


class OutboxStore(Protocol):
    """What the worker needs of the store (``SqlOutbox`` provides it)."""

    async def claim_due_jobs(self, now: datetime, lease_s: float, limit: int) -> list[JobRecord]: ...

    async def finish_job(
        self,
        job_id: str,
        *,
        result: Result,
        detail: str,
        at: datetime,
        next_attempt_at: datetime | None = None,
        lease_until: datetime | None = None,
    ) -> bool: ...


def next_attempt_delay(
    attempts: int,
    *,
    first_s: float = FIRST_RETRY_S,
    cap_s: float = MAX_RETRY_S,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds before the next try after ``attempts`` tries: doubling from ``first_s`` up to ``cap_s``,
    then jittered down by up to half, so many jobs that failed together do not retry together."""
    return doubling_delay(attempts, first_s=first_s, cap_s=cap_s, jitter=rand())


@dataclass(frozen=True, slots=True)
class Settlement:
    result: Result
    detail: str
    next_attempt_at: datetime | None = None


def settle(
    attempts: int, delivery: Delivery, *, at: datetime, max_attempts: int, backoff: Backoff
) -> Settlement:
    """What a try means for its job: ``attempts`` counts this try. A retry past the last allowed
    attempt is a failure; a receiver's ``Retry-After`` lengthens the wait, never shortens it."""
    if delivery.result != "retry":
        return Settlement(delivery.result, delivery.detail)
    if attempts >= max_attempts:
        return Settlement("failed", f"{delivery.detail}; gave up after {attempts} attempts")
    wait = max(backoff(attempts), delivery.retry_after_s or 0.0)
    return Settlement("retry", delivery.detail, at + timedelta(seconds=wait))


class DeliveryWorker:
    """Run ``run_once`` periodically (the care loop does, every second); any number of workers, on any
    number of instances, may share one store."""

    def __init__(
        self,
        store: OutboxStore,
        channels: Mapping[str, Channel],
        *,
        clock: Clock = utcnow,
        max_attempts: int = MAX_ATTEMPTS,
        lease_s: float = LEASE_S,
        backoff: Backoff = next_attempt_delay,
        concurrency: int = CONCURRENCY,
        on_attempt: AttemptCallback | None = None,
    ) -> None:
        if max_attempts < 1 or lease_s <= 0 or concurrency < 1:
            raise ValueError("max_attempts and concurrency must be at least 1, lease_s positive")
        self._store = store
        self._channels = dict(channels)
        self._clock = clock
        self._max_attempts = max_attempts
        self._lease_s = lease_s
        self._send_timeout_s = lease_s / 2
        self._backoff = backoff
        self._concurrency = concurrency
        self._on_attempt = on_attempt

    async def run_once(self) -> int:
        """Claim due jobs and try each once; returns how many were tried. Claims only as many as it
        sends at once, so no claimed job waits for a free slot while its lease runs."""
        tried = 0
        for _ in range(MAX_ROUNDS):
            jobs = await self._store.claim_due_jobs(self._clock(), self._lease_s, self._concurrency)
            if not jobs:
                break
            async with asyncio.TaskGroup() as group:
                for job in jobs:
                    group.create_task(self._deliver(job))
            tried += len(jobs)
            if len(jobs) < self._concurrency:
                break
        return tried

    async def _deliver(self, job: JobRecord) -> None:
        started = time.monotonic()
        delivery = await self._send(job)
        if delivery is None:
            return
        at = self._clock()
        outcome = settle(
            job.attempts, delivery, at=at, max_attempts=self._max_attempts, backoff=self._backoff
        )
        log.info("alert job %s via %s: %s (%s)", job.id, job.channel, outcome.result, outcome.detail)
        if self._on_attempt is not None:
            self._on_attempt(job.channel, outcome.result, time.monotonic() - started)
        try:
            await self._store.finish_job(
                job.id,
                result=outcome.result,
                detail=outcome.detail,
                at=at,
                next_attempt_at=outcome.next_attempt_at,
                lease_until=job.lease_until,
            )
        except CompanionError as exc:
            # The lease runs out and the job is tried again, under the same id: a receiver that got
            # it drops the copy. Nothing else to do from here.
            log.warning("alert job %s: could not record the attempt: %s", job.id, exc.message)

    async def _send(self, job: JobRecord) -> Delivery | None:
        """The channel's answer, or None when the job must not be sent by this worker now."""
        if job.attempts > self._max_attempts:
            # Claimed again after workers died mid-send more often than retries are allowed.
            return Delivery("failed", f"gave up after {job.attempts - 1} attempts")
        channel = self._channels.get(job.channel)
        if channel is None:
            return Delivery("failed", f"channel {job.channel} is not configured")
        deadline = job.lease_until - timedelta(seconds=self._send_timeout_s) if job.lease_until else None
        if deadline is None or self._clock() > deadline:
            return None  # too little of the lease left to finish inside it; the next claim sends it
        try:
            async with asyncio.timeout(self._send_timeout_s):
                return await channel.send(job)
        except TimeoutError:
            return Delivery("retry", "timed out")
        except Exception as exc:  # a channel's own bug must not stop the other jobs
            log.exception("alert job %s: channel %s raised %s", job.id, job.channel, type(exc).__name__)
            return Delivery("retry", type(exc).__name__)
