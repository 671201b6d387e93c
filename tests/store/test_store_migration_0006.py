"""Migration 0006 on SQLite and PostgreSQL: a database written by the schedule that asked for doses from
before their person existed is repaired. Those doses become void (not shown, not counted), the alerts
about them are closed with a reason (kept, not deleted) and their messages not yet sent are withdrawn;
real misses, what someone confirmed and alerts about anything else stay as they were."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, insert
from sqlalchemy.ext.asyncio import create_async_engine

from companion.care.schedule import series_id
from companion.profiles.alerts import Alert
from companion.store import SqlStore, open_store
from companion.store.base import ReminderKind, ReminderState
from companion.store.schema import documents, notification_jobs, reminders, users
from companion.store.sql import MIGRATIONS_DIR

CREATED = datetime(2026, 12, 6, 16, 5, tzinfo=UTC)  # the person: 18:05 in Jerusalem
MISSED = CREATED + timedelta(seconds=1)  # the first tick after the first sync missed the morning's doses
DAY_BEFORE = CREATED - timedelta(days=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    url: str = request.getfixturevalue("postgres_databases").create()
    return url


def _upgrade(connection: Connection, target: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, target)


def _reminder(
    rid: str,
    user: str,
    due_at: datetime,
    state: ReminderState,
    *,
    kind: ReminderKind = "medication",
    label: str = "Aricept 5 mg",
    local_time: str = "08:00",
    missed_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": rid,
        "user_id": user,
        "kind": kind,
        "label": label,
        "local_time": local_time,
        "due_at": due_at,
        "state": state,
        "missed_at": missed_at,
        "acked_at": due_at if state == "acknowledged" else None,
        "updated_at": missed_at or CREATED,
    }


def _alert(aid: str, user: str, summary: str, created: datetime, rule: str = "reminder") -> dict[str, Any]:
    body = Alert(id=aid, severity="medium", summary=summary, rule=rule, created_at=created).model_dump(
        mode="json", by_alias=True
    )
    for new in ("reminderId", "resolvedReason"):  # what alerts written before 0006 did not have
        del body[new]
    return {
        "user_id": user,
        "kind": "alert",
        "doc_id": aid,
        "body": body,
        "version": 1,
        "updated_at": created,
    }


def _job(jid: str, user: str, alert_id: str, status: str) -> dict[str, Any]:
    return {
        "id": jid,
        "user_id": user,
        "alert_id": alert_id,
        "stage": 0,
        "channel": "webhook",
        "address": f"https://family.example/{jid}",
        "contact": None,
        "payload": {"alertId": alert_id},
        "status": status,
        "attempts": 0,
        "next_attempt_at": MISSED,
        "created_at": MISSED,
    }


@pytest.fixture
async def repaired(fresh_url: str) -> AsyncIterator[SqlStore]:
    """A database at 0005 as the old schedule left it, then migrated by the service's own start."""
    engine = create_async_engine(fresh_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, "0005")
            await conn.execute(
                insert(users),
                [{"user_id": "u1", "created_at": CREATED}, {"user_id": "u2", "created_at": DAY_BEFORE}],
            )
            morning = CREATED.replace(hour=6, minute=0)  # 08:00 in Jerusalem, ten hours before the person
            await conn.execute(
                insert(reminders),
                [
                    _reminder("r-false", "u1", morning, "missed", missed_at=MISSED),
                    _reminder(
                        "r-false-checkin",
                        "u1",
                        morning - timedelta(hours=1),
                        "missed",
                        kind="checkin",
                        label="",
                        local_time="07:00",
                        missed_at=MISSED,
                    ),
                    _reminder(
                        "r-false-open", "u1", CREATED - timedelta(minutes=15), "due", local_time="17:50"
                    ),
                    _reminder("r-confirmed", "u1", morning, "acknowledged", label="Vitamin D"),
                    _reminder(
                        "r-real",
                        "u1",
                        CREATED + timedelta(hours=2),
                        "missed",
                        local_time="20:05",
                        missed_at=CREATED + timedelta(hours=2, minutes=30),
                    ),
                    _reminder("r-old", "u2", morning, "missed", missed_at=morning + timedelta(minutes=30)),
                ],
            )
            await conn.execute(
                insert(documents),
                [
                    _alert("a-false", "u1", "Aricept 5 mg at 08:00 was not confirmed", MISSED),
                    _alert("a-false-checkin", "u1", "The check-in at 07:00 was not answered", MISSED),
                    _alert(
                        "a-real",
                        "u1",
                        "Aricept 5 mg at 20:05 was not confirmed",
                        CREATED + timedelta(hours=2, minutes=30),
                    ),
                    _alert("a-said", "u1", "He fell at 08:00, says Aricept 5 mg", MISSED, rule=""),
                    _alert("a-other-time", "u1", "Aricept 5 mg at 10:00 was not confirmed", MISSED),
                    _alert(
                        "a-old",
                        "u2",
                        "Aricept 5 mg at 08:00 was not confirmed",
                        morning + timedelta(minutes=30),
                    ),
                    {  # u1 lives in London; u2 has no profile, so the default zone is theirs
                        "user_id": "u1",
                        "kind": "profile",
                        "doc_id": "main",
                        "body": {"personalInfo": {"fullName": "Ruth", "timezone": "Europe/London"}},
                        "version": 1,
                        "updated_at": CREATED,
                    },
                ],
            )
            await conn.execute(
                insert(notification_jobs),
                [
                    _job("j-false-sent", "u1", "a-false", "sent"),
                    _job("j-false-pending", "u1", "a-false", "pending"),
                    _job("j-real-pending", "u1", "a-real", "pending"),
                ],
            )
    finally:
        await engine.dispose()
    store = open_store(fresh_url)
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()


async def test_doses_due_before_their_person_existed_become_void(repaired: SqlStore) -> None:
    found = {
        rid: await repaired.get_reminder(user, rid)
        for user, rid in [
            ("u1", "r-false"),
            ("u1", "r-false-checkin"),
            ("u1", "r-false-open"),
            ("u1", "r-confirmed"),
            ("u1", "r-real"),
            ("u2", "r-old"),
        ]
    }
    assert {rid: r.state if r else None for rid, r in found.items()} == {
        "r-false": "void",
        "r-false-checkin": "void",
        "r-false-open": "void",
        "r-confirmed": "acknowledged",  # someone confirmed it: that stays on record
        "r-real": "missed",
        "r-old": "missed",  # due after its person existed: a real miss
    }
    day = (CREATED.replace(hour=0), CREATED.replace(hour=23, minute=59))
    counted = {(a.label, a.scheduled, a.missed) for a in await repaired.adherence("u1", *day)}
    assert counted == {("Aricept 5 mg", 1, 1), ("Vitamin D", 1, 0)}, "void doses are not counted"


async def test_alerts_about_doses_never_due_are_closed_with_a_reason_and_kept(repaired: SqlStore) -> None:
    async def alert(user: str, aid: str) -> tuple[Alert, int]:
        doc = await repaired.get(user, "alert", aid)
        assert doc is not None, "no alert is deleted"
        return Alert.model_validate(doc.body), doc.version

    for aid in ("a-false", "a-false-checkin"):
        closed, version = await alert("u1", aid)
        assert closed.resolved and closed.resolved_reason == "never_due" and closed.resolved_at is not None
        assert not closed.open and version == 2
        assert closed.acknowledged_at is None, "nobody acknowledged it"
    for user, aid in [("u1", "a-real"), ("u1", "a-said"), ("u1", "a-other-time"), ("u2", "a-old")]:
        kept, version = await alert(user, aid)
        assert kept.open and kept.resolved_reason is None and version == 1, aid
    jobs = {j.id: (j.status, j.last_error) for j in await repaired.jobs_of_user("u1")}
    assert jobs == {
        "j-false-sent": ("sent", None),
        "j-false-pending": ("failed", "withdrawn: the dose was never due"),
        "j-real-pending": ("pending", None),
    }


async def test_series_already_written_are_known_since_their_first_dose_that_was_due(
    repaired: SqlStore,
) -> None:
    """So a dose of theirs not yet written when the service stopped is still owed after the upgrade."""
    later = CREATED + timedelta(days=2)
    morning = CREATED.replace(hour=6, minute=0)
    real = series_id("u1", "medication", "Aricept 5 mg", "20:05", "Europe/London")
    confirmed = series_id("u1", "medication", "Vitamin D", "08:00", "Europe/London")
    voided = series_id("u1", "medication", "Aricept 5 mg", "08:00", "Europe/London")
    known = await repaired.series_since("u1", {real, confirmed, voided}, now=later)
    assert known == {real: CREATED + timedelta(hours=2), confirmed: morning, voided: later}, (
        "a series with only void doses is new from the first schedule after the upgrade"
    )
    old = series_id("u2", "medication", "Aricept 5 mg", "08:00", "Asia/Jerusalem")
    assert await repaired.series_since("u2", {old}, now=later) == {old: morning}
