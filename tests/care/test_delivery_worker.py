"""The worker's decisions as plain data: how long to wait before trying again, and what a try means."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from companion.care.channels import Delivery
from companion.care.delivery import (
    FIRST_RETRY_S,
    MAX_RETRY_S,
    DeliveryWorker,
    Settlement,
    next_attempt_delay,
    settle,
)

AT = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)


def test_the_wait_doubles_up_to_a_cap() -> None:
    longest = [next_attempt_delay(n, rand=lambda: 1.0) for n in range(1, 11)]
    assert longest[:5] == [FIRST_RETRY_S * 2**k for k in range(5)]
    assert longest[-1] == MAX_RETRY_S
    assert next_attempt_delay(10**6, rand=lambda: 1.0) == MAX_RETRY_S
    assert next_attempt_delay(0, rand=lambda: 1.0) == FIRST_RETRY_S


def test_the_wait_is_jittered_down_by_at_most_half() -> None:
    assert next_attempt_delay(3, rand=lambda: 0.0) == FIRST_RETRY_S * 4 / 2
    waits = {next_attempt_delay(3) for _ in range(200)}
    assert len(waits) > 100
    assert all(FIRST_RETRY_S * 2 <= w <= FIRST_RETRY_S * 4 for w in waits)


@pytest.mark.parametrize(
    ("attempts", "delivery", "expected"),
    [
        (1, Delivery("sent", "HTTP 200"), Settlement("sent", "HTTP 200")),
        (1, Delivery("failed", "HTTP 404"), Settlement("failed", "HTTP 404")),
        (1, Delivery("retry", "HTTP 500"), Settlement("retry", "HTTP 500", AT + timedelta(seconds=30))),
        (
            2,
            Delivery("retry", "HTTP 429", 600.0),
            Settlement("retry", "HTTP 429", AT + timedelta(seconds=600)),
        ),
        (2, Delivery("retry", "HTTP 503", 5.0), Settlement("retry", "HTTP 503", AT + timedelta(seconds=30))),
        (
            3,
            Delivery("retry", "ConnectError"),
            Settlement("failed", "ConnectError; gave up after 3 attempts"),
        ),
        (3, Delivery("sent", "SMTP 250"), Settlement("sent", "SMTP 250")),
    ],
)
def test_what_a_try_means(attempts: int, delivery: Delivery, expected: Settlement) -> None:
    assert settle(attempts, delivery, at=AT, max_attempts=3, backoff=lambda n: 30.0) == expected


def test_a_worker_refuses_nonsense_limits() -> None:
    for bad in ({"max_attempts": 0}, {"lease_s": 0.0}, {"concurrency": 0}):
        with pytest.raises(ValueError, match="at least 1"):
            DeliveryWorker(object(), {}, **bad)  # type: ignore[arg-type]
