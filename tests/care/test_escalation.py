"""Escalation of critical alerts nobody acknowledged: the decision as plain data, then the service on the
real store (SQLite and PostgreSQL) with a settable clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from receivers import USER, CareStore

from companion.care.alerting import AlertConfig
from companion.care.alerts import Alert, AlertService
from companion.care.escalation import EscalationService, escalation_after, next_stage
from companion.profiles.models import Safety, Severity
from tests.care.test_alerting_support import (
    CONFIG,
    T0,
    THREE,
    Clock,
    Contexts,
    context,
    service,
    tokens,
)

TEN = timedelta(minutes=10)


def alert(**changes: object) -> Alert:
    values: dict[str, object] = {
        "id": "alert-1",
        "severity": Severity.CRITICAL,
        "summary": "fell",
        "created_at": T0,
    }
    values.update(changes)
    return Alert.model_validate(values)


def test_a_critical_alert_moves_on_after_the_wait_from_its_current_stage() -> None:
    assert next_stage(alert(), T0 + TEN - timedelta(seconds=1), THREE, TEN, CONFIG) is None
    assert next_stage(alert(), T0 + TEN, THREE, TEN, CONFIG) == 1
    at_one = alert(stage=1, stage_at=T0 + TEN)
    assert next_stage(at_one, T0 + TEN + TEN / 2, THREE, TEN, CONFIG) is None
    assert next_stage(at_one, T0 + 2 * TEN, THREE, TEN, CONFIG) == 2
    assert next_stage(alert(stage=2, stage_at=T0), T0 + 5 * TEN, THREE, TEN, CONFIG) is None  # all told


@pytest.mark.parametrize(
    "changes",
    [
        {"severity": Severity.HIGH},
        {"acknowledged_at": T0, "acknowledged_by": "Dana"},
        {"resolved": True, "resolved_at": T0},
    ],
)
def test_nothing_escalates_unless_critical_and_open(changes: dict[str, object]) -> None:
    assert next_stage(alert(**changes), T0 + 10 * TEN, THREE, TEN, CONFIG) is None


def test_no_email_no_one_to_escalate_to() -> None:
    assert (
        next_stage(alert(), T0 + 10 * TEN, THREE, TEN, AlertConfig(webhook_url="https://h.example")) is None
    )
    assert next_stage(alert(), T0 + 10 * TEN, THREE[:1], TEN, CONFIG) is None


def test_the_family_can_set_the_wait_per_person() -> None:
    assert escalation_after(Safety(), CONFIG) == timedelta(seconds=600)
    assert escalation_after(Safety(escalation_minutes=3), CONFIG) == timedelta(minutes=3)


@pytest.fixture
def store(care_store: CareStore) -> CareStore:
    """The outbox store on SQLite and PostgreSQL, with ``USER`` registered (``conftest.py``)."""
    return care_store


async def emails(store: CareStore, alert_id: str) -> list[tuple[int, str]]:
    return [(j.stage, j.address) for j in await store.jobs_of_alert(USER, alert_id) if j.channel == "email"]


async def test_unacknowledged_goes_to_the_next_contact_then_to_the_rest(store: CareStore) -> None:
    clock = Clock()
    alerts = service(store, clock)
    escalation = EscalationService(alerts)
    raised, _ = await alerts.record(USER, {"severity": "critical", "summary": "fell"}, session_id=None)
    high, _ = await alerts.record(USER, {"severity": "high", "summary": "sad"}, session_id=None)
    assert await escalation.tick(clock.advance(minutes=9, seconds=50)) == 0
    assert await escalation.tick(clock.advance(seconds=10)) == 0  # scanned 10 s ago: not yet again
    assert await escalation.tick(clock.advance(seconds=5)) == 1
    assert await emails(store, raised.id) == [(0, "dana@example.com"), (1, "yossi@example.com")]
    at_one = await alerts.get(USER, raised.id)
    assert (at_one.stage, at_one.stage_at) == (1, clock.now)
    escalated = [j for j in await store.jobs_of_alert(USER, raised.id) if j.stage == 1]
    assert escalated[0].payload["type"] == "alert.escalated" and escalated[0].payload["ackUrl"]

    assert await escalation.tick(clock.advance(minutes=9, seconds=59)) == 0
    assert await escalation.tick(clock.advance(seconds=15)) == 1
    assert (await emails(store, raised.id))[-1] == (2, "miri@example.com")
    assert await escalation.tick(clock.advance(hours=1)) == 0  # everyone was told
    assert [j.stage for j in await store.jobs_of_alert(USER, high.id)] == [0, 0, 0, 0]  # never escalated


async def test_acknowledged_or_resolved_alerts_stop_escalating(store: CareStore) -> None:
    clock = Clock()
    alerts = service(store, clock)
    escalation = EscalationService(alerts, scan_interval_s=0)
    acked, _ = await alerts.record(USER, {"severity": "critical", "summary": "fell"}, session_id=None)
    resolved, _ = await alerts.record(USER, {"severity": "critical", "summary": "pain"}, session_id=None)
    await alerts.acknowledge(USER, acked.id, by="Dana", via="link")
    await alerts.resolve(USER, resolved.id, by="Tiferet")
    assert await escalation.tick(clock.advance(hours=2)) == 0
    assert await emails(store, acked.id) == [(0, "dana@example.com")]
    assert await emails(store, resolved.id) == [(0, "dana@example.com")]


async def test_the_persons_own_wait_and_contacts_as_they_are_now(store: CareStore) -> None:
    clock = Clock()
    contexts = Contexts(context(escalation_minutes=2))
    alerts = service(store, clock, contexts)
    escalation = EscalationService(alerts, scan_interval_s=0)
    raised, _ = await alerts.record(USER, {"severity": "critical", "summary": "fell"}, session_id=None)
    assert await escalation.tick(clock.advance(minutes=1)) == 0
    # The family puts Miri second before anyone answered: the next step follows the new list.
    contexts.value = context([THREE[0], THREE[2], THREE[1]], escalation_minutes=2)
    assert await escalation.tick(clock.advance(minutes=1)) == 1
    assert (await emails(store, raised.id))[-1] == (1, "miri@example.com")


async def test_two_instances_escalating_at_once_send_each_message_once(store: CareStore) -> None:
    clock = Clock()
    alerts = service(store, clock)
    raised, _ = await alerts.record(USER, {"severity": "critical", "summary": "fell"}, session_id=None)
    first = EscalationService(AlertService(store, Contexts(), CONFIG, clock=clock, new_token=tokens("a")))
    second = EscalationService(AlertService(store, Contexts(), CONFIG, clock=clock, new_token=tokens("b")))
    now = clock.advance(minutes=10)
    added = await asyncio.gather(first.tick(now), second.tick(now))
    assert sum(added) == 1
    assert await emails(store, raised.id) == [(0, "dana@example.com"), (1, "yossi@example.com")]
    assert (await alerts.get(USER, raised.id)).stage == 1


async def test_one_persons_broken_alert_does_not_stop_the_others(store: CareStore) -> None:
    clock = Clock()
    alerts = service(store, clock)
    escalation = EscalationService(alerts, scan_interval_s=0)
    await store.create_user("user-broken")
    await store.put("user-broken", "alert", "alert-bad", {"severity": "nonsense"}, expected_version=None)
    raised, _ = await alerts.record(USER, {"severity": "critical", "summary": "fell"}, session_id=None)
    assert await escalation.tick(clock.advance(minutes=10)) == 1
    assert (await alerts.get(USER, raised.id)).stage == 1
