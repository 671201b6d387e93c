"""Acknowledgement links: their state as plain data, then spent on the real store (SQLite and
PostgreSQL): once, not after they expire, and never by a token that was not issued."""

from __future__ import annotations

import asyncio

import pytest
from receivers import USER, CareStore

from companion.auth.device_secrets import hash_secret
from companion.care.acks import ACK_LINK_TTL, ack_hash, link_state, new_ack_token, well_formed
from companion.store.base import AckRecord
from tests.care.test_alerting_support import (
    PUBLIC,
    T0,
    Clock,
    service,
)


def test_tokens_are_long_random_and_stored_only_as_a_domain_separated_hash() -> None:
    token = new_ack_token()
    assert len(token) >= 43 and well_formed(token) and new_ack_token() != token
    assert ack_hash(token) != hash_secret(token) and len(ack_hash(token)) == 64
    for junk in ("", "short", "a" * 200, "../../etc/passwd", "tok en with spaces"):
        assert not well_formed(junk)


def test_a_links_state_follows_its_record() -> None:
    record = AckRecord("h", USER, "alert-1", "Dana", T0, T0 + ACK_LINK_TTL)
    assert link_state(None, T0) == "unknown"
    assert link_state(record, T0) == "valid"
    assert link_state(record, T0 + ACK_LINK_TTL) == "expired"
    used = AckRecord("h", USER, "alert-1", "Dana", T0, T0 + ACK_LINK_TTL, used_at=T0)
    assert link_state(used, T0) == "used"


@pytest.fixture
def store(care_store: CareStore) -> CareStore:
    """The outbox store on SQLite and PostgreSQL, with ``USER`` registered (``conftest.py``)."""
    return care_store


def token_of(url: str) -> str:
    assert url.startswith(PUBLIC + "/ack/")
    return url.rsplit("/", 1)[1]


async def test_a_link_acknowledges_its_alert_once(store: CareStore) -> None:
    clock = Clock()
    alerts = service(store, clock)
    alert, jobs = await alerts.record(USER, {"severity": "critical", "summary": "fell"}, session_id=None)
    danas = token_of(next(j for j in jobs if j.contact == "Dana").payload["ackUrl"])
    services = token_of(next(j for j in jobs if j.contact is None).payload["ackUrl"])
    assert await alerts.links.state(danas) == "valid"
    assert (await alerts.get(USER, alert.id)).open  # looking changed nothing
    clock.advance(minutes=3)
    results = await asyncio.gather(alerts.links.use(danas), alerts.links.use(danas))
    assert sorted(r.outcome for r in results) == ["acknowledged", "used"]  # two presses, one winner
    acked = await alerts.get(USER, alert.id)
    assert (acked.acknowledged_by, acked.acknowledged_via, acked.acknowledged_at) == (
        "Dana",
        "link",
        clock.now,
    )
    assert await alerts.links.state(danas) == "used"
    # The family service's own link still works once, and keeps the first acknowledgement.
    assert (await alerts.links.use(services)).outcome == "acknowledged"
    assert (await alerts.get(USER, alert.id)).acknowledged_by == "Dana"


async def test_expired_and_unknown_links_change_nothing(store: CareStore) -> None:
    clock = Clock()
    alerts = service(store, clock)
    alert, jobs = await alerts.record(USER, {"severity": "high", "summary": "sad"}, session_id=None)
    token = token_of(jobs[0].payload["ackUrl"])
    assert (await alerts.links.use("tok-9999-abcdefghijkl")).outcome == "unknown"
    assert (await alerts.links.use("not a token")).outcome == "unknown"
    clock.now = T0 + ACK_LINK_TTL
    assert await alerts.links.state(token) == "expired"
    assert (await alerts.links.use(token)).outcome == "expired"
    assert (await alerts.get(USER, alert.id)).open


async def test_a_link_to_an_alert_that_is_gone_is_unknown(store: CareStore) -> None:
    alerts = service(store, Clock())
    token = await alerts.links.issue(user_id=USER, alert_id="alert-gone", contact="Dana")
    assert (await alerts.links.use(token)).outcome == "unknown"
