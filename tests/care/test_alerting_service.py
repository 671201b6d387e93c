"""AlertService on the real store (SQLite and PostgreSQL): an alert and its messages in one
transaction, acknowledgement, resolution, deliveries as the dashboard shows them, and the tool's
answer to the model."""

from __future__ import annotations

import asyncio
import json

import pytest
from receivers import USER, CareStore

from companion.care.acks import ack_hash
from companion.care.alerting import AlertConfig
from companion.care.alerts import ALERT_KIND
from companion.errors import InvalidInput, NotFound
from companion.events import InProcessBus
from companion.profiles.service import ProfileService
from companion.realtime.tools import ToolCall, ToolRuntime
from tests.care.test_alerting_support import (
    PUBLIC,
    WEBHOOK,
    Clock,
    Contexts,
    contact,
    context,
    service,
)


@pytest.fixture
def store(care_store: CareStore) -> CareStore:
    """The outbox store on SQLite and PostgreSQL, with ``USER`` registered (``conftest.py``)."""
    return care_store


async def test_an_alert_is_recorded_with_its_messages_and_their_links(store: CareStore) -> None:
    clock = Clock()
    alerts = service(store, clock)
    alert, jobs = await alerts.record(USER, {"severity": "critical", "summary": "I fell"}, session_id="s1")
    assert (alert.severity.value, alert.summary, alert.session_id, alert.created_at) == (
        "critical",
        "I fell",
        "s1",
        clock.now,
    )
    assert [(j.channel, j.address, j.contact, j.stage, j.status) for j in jobs] == [
        ("webhook", WEBHOOK, None, 0, "pending"),
        ("email", "dana@example.com", "Dana", 0, "pending"),
    ]
    stored = await store.jobs_of_alert(USER, alert.id)
    assert sorted(j.id for j in stored) == sorted(j.id for j in jobs)
    assert (await alerts.list(USER)) == [alert]
    for job in stored:
        url = job.payload["ackUrl"]
        assert url.startswith(f"{PUBLIC}/ack/")
        token = url.rsplit("/", 1)[1]
        ack = await store.find_ack(ack_hash(token))
        assert ack is not None and ack.alert_id == alert.id and ack.contact == job.contact
        assert await store.find_ack(token) is None  # only the hash is kept


async def test_no_channel_no_messages_and_the_alert_is_still_kept(store: CareStore) -> None:
    alerts = service(store, Clock(), config=AlertConfig())
    alert, jobs = await alerts.record(USER, {"severity": "high", "summary": "lost"}, session_id=None)
    assert jobs == []
    assert [a.id for a in await alerts.list(USER)] == [alert.id]


async def test_a_person_never_registered_gets_the_alert_recorded_and_no_one_told(store: CareStore) -> None:
    alerts = service(store, Clock())
    alert, jobs = await alerts.record("user-unregistered", {"summary": "help"}, session_id=None)
    assert jobs == []
    assert (await alerts.get("user-unregistered", alert.id)).summary == "help"


async def test_a_bad_alert_names_the_field(store: CareStore) -> None:
    alerts = service(store, Clock())
    with pytest.raises(InvalidInput) as caught:
        await alerts.record(USER, {"severity": "urgent", "summary": "x"}, session_id=None)
    assert caught.value.field == "severity"
    assert await store.list(USER, ALERT_KIND) == []


async def test_acknowledging_keeps_the_first_and_resolving_implies_it(store: CareStore) -> None:
    clock = Clock()
    alerts = service(store, clock)
    first, _ = await alerts.record(USER, {"severity": "critical", "summary": "fell"}, session_id=None)
    clock.advance(minutes=2)
    results = await asyncio.gather(
        alerts.acknowledge(USER, first.id, by="Dana", via="link"),
        alerts.acknowledge(USER, first.id, by="Yossi", via="dashboard"),
    )
    stored = await alerts.get(USER, first.id)
    assert stored.acknowledged_by in ("Dana", "Yossi")
    assert all(r.acknowledged_by == stored.acknowledged_by for r in results)  # one winner, kept
    assert stored.acknowledged_at == clock.now and not stored.open
    clock.advance(minutes=5)
    resolved = await alerts.resolve(USER, first.id, by="Tiferet")
    assert resolved.resolved and resolved.acknowledged_by == stored.acknowledged_by

    second, _ = await alerts.record(USER, {"severity": "high", "summary": "sad"}, session_id=None)
    resolved = await alerts.resolve(USER, second.id, by="Tiferet", via="api")
    assert (resolved.acknowledged_by, resolved.acknowledged_via, resolved.acknowledged_at) == (
        "Tiferet",
        "api",
        clock.now,
    )
    with pytest.raises(NotFound):
        await alerts.acknowledge(USER, "alert-missing", by="x", via="api")


async def test_deliveries_show_each_message_masked_with_its_attempts(store: CareStore) -> None:
    clock = Clock()
    alerts = service(store, clock)
    alert, _ = await alerts.record(USER, {"severity": "critical", "summary": "fell"}, session_id=None)
    other, _ = await alerts.record(USER, {"severity": "high", "summary": "sad"}, session_id=None)
    claimed = await store.claim_due_jobs(clock.now, 30, 10)
    email = next(j for j in claimed if j.alert_id == alert.id and j.channel == "email")
    await store.finish_job(
        email.id, result="retry", detail="SMTP 451", at=clock.now, next_attempt_at=clock.advance(seconds=5)
    )
    by_alert = await alerts.deliveries_by_alert(USER)
    assert set(by_alert) == {alert.id, other.id}
    shown = {d.channel: d for d in by_alert[alert.id]}
    assert shown["email"].address == "d***@example.com" and shown["email"].to == "Dana"
    assert [(a.result, a.detail) for a in shown["email"].attempts] == [("retry", "SMTP 451")]
    assert shown["webhook"].to == "family service" and shown["webhook"].address == "hooks.example.net/…"
    assert await alerts.deliveries(USER, alert.id) == by_alert[alert.id]
    body = json.dumps([d.as_json() for d in by_alert[alert.id]])
    assert "dana@example.com" not in body and "fell" not in body


async def test_the_tool_tells_the_model_who_was_sent_a_message(store: CareStore) -> None:
    profiles = ProfileService(store, InProcessBus())
    contexts = Contexts(context([contact("Dana", "dana@example.com"), contact("Avi", None)]))
    runtime = ToolRuntime(profiles, service(store, Clock(), contexts))
    args = {"severity": "critical", "what_was_asked": "I fell", "rule": "fall"}
    answer = await runtime.run(
        ToolCall("alert_family", "call_1", "item_1", json.dumps(args)), user_id=USER, session_id="s1"
    )
    assert [n["name"] for n in answer["notified"]] == ["family service", "Dana"]

    nobody = ToolRuntime(profiles, service(store, Clock(), contexts, config=AlertConfig()))
    answer = await nobody.run(
        ToolCall("alert_family", "call_2", "item_2", json.dumps(args)), user_id=USER, session_id="s1"
    )
    assert answer["notified"] == [] and "no one was sent a message" in answer["message"]
