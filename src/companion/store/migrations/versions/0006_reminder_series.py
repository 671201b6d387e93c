"""Reminders owed only from when their medication exists: when each series was first seen, and the
repair of the doses an earlier schedule asked for before their person existed.

The schedule used to write today's every dose whenever it first saw a person, so a person created at
18:05 with an 08:00 medication had that dose missed at once and the family alerted. From this revision
``reminder_series`` records when the schedule first saw each series and nothing due before is written.

The repair, for what that schedule already wrote. The reminders table keeps no insertion time (its
``updated_at`` is overwritten by every change of state), so the one moment that soundly says "this
dose was never due" is the person's own registration: an occurrence due before ``users.created_at``
was asked of someone who did not exist yet. Such an occurrence, still open or missed, becomes ``void``
(acknowledged ones keep their state: someone did confirm them; cancelled ones already count for
nothing). An alert about a voided occurrence is closed (resolved, reason ``never_due``; never deleted)
and its messages not yet sent are withdrawn (failed, with the reason as the error). A false dose of a
medication added later to an existing person cannot be told from one missed while the service was
down, so it is left for the family to resolve.

The series the old schedule already wrote are recorded as known since their first dose that is not
void, so a dose of theirs not yet written when the service stopped (a stop of more than a day across
the upgrade) is still owed, as it would have been before. The series is computed as the schedule
computes it (``care.schedule.series_id``, copied here so this revision never changes), in the person's
zone as their profile says it now.

An alert is about an occurrence when it names it (``reminderId``, written from now on), or, for alerts
from before this revision: it is the same person's, its rule is ``reminder``, it was recorded within
``LINK_AFTER`` of the occurrence being missed (the miss and the alert are one step of the same tick),
and its summary holds the occurrence's local time and, for a medication, its label.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

REPAIRED: Final = ("due", "delivered", "snoozed", "missed")
LINK_BEFORE: Final = timedelta(seconds=5)  # two clocks of one process, read a moment apart
LINK_AFTER: Final = timedelta(minutes=1)  # the alert is written right after the miss, in the same step
REASON: Final = "never_due"
WITHDRAWN: Final = "withdrawn: the dose was never due"
RESOLVED_BY: Final = "companion"
DEFAULT_ZONE: Final = "Asia/Jerusalem"  # a profile that names no zone (``PersonalInfo``'s default)
FALLBACK_ZONE: Final = "UTC"  # a zone zoneinfo does not know: the schedule runs in UTC
BATCH: Final = 500  # rows per statement

_users = sa.table("users", sa.column("user_id", sa.String), sa.column("created_at", sa.DateTime(True)))
_reminders = sa.table(
    "reminders",
    sa.column("id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("label", sa.String),
    sa.column("local_time", sa.String),
    sa.column("due_at", sa.DateTime(True)),
    sa.column("state", sa.String),
    sa.column("missed_at", sa.DateTime(True)),
    sa.column("updated_at", sa.DateTime(True)),
)
_documents = sa.table(
    "documents",
    sa.column("user_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("doc_id", sa.String),
    sa.column("body", sa.JSON),
    sa.column("version", sa.Integer),
    sa.column("updated_at", sa.DateTime(True)),
)
_jobs = sa.table(
    "notification_jobs",
    sa.column("alert_id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("status", sa.String),
    sa.column("last_error", sa.String),
)


def upgrade() -> None:
    op.create_table(
        "reminder_series",
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("series", sa.String(200), nullable=False),
        sa.Column("known_since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "series", name="pk_reminder_series"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name="fk_reminder_series_user_id", ondelete="CASCADE"
        ),
    )
    conn = op.get_bind()
    repair(conn, datetime.now(UTC))
    backfill(conn)


def repair(conn: sa.Connection, now: datetime) -> None:
    """Void the occurrences due before their person existed; close their alerts."""
    r = _reminders.c
    never_due = conn.execute(
        sa.select(r.id, r.user_id, r.kind, r.label, r.local_time, r.state, r.missed_at)
        .select_from(_reminders.join(_users, _users.c.user_id == r.user_id))
        .where(r.due_at < _users.c.created_at, r.state.in_(REPAIRED))
    ).all()
    if not never_due:
        return
    ids = [row.id for row in never_due]
    for start in range(0, len(ids), BATCH):  # bound the IN list
        conn.execute(
            sa.update(_reminders)
            .where(r.id.in_(ids[start : start + BATCH]), r.state.in_(REPAIRED))
            .values(state="void", updated_at=now)
        )
    missed = [row for row in never_due if row.state == "missed" and row.missed_at is not None]
    for user_id in sorted({row.user_id for row in missed}):
        _close_alerts(conn, user_id, [row for row in missed if row.user_id == user_id], now)


def backfill(conn: sa.Connection) -> None:
    """Every series already written, known since its first dose that is not void."""
    d, r = _documents.c, _reminders.c
    zones = {
        row.user_id: _zone_of(row.body)
        for row in conn.execute(sa.select(d.user_id, d.body).where(d.kind == "profile", d.doc_id == "main"))
    }
    first: dict[tuple[str, str], datetime] = {}
    groups = conn.execute(
        sa.select(r.user_id, r.kind, r.label, r.local_time, sa.func.min(r.due_at).label("first"))
        .where(r.state != "void")
        .group_by(r.user_id, r.kind, r.label, r.local_time)
    )
    for row in groups:
        zone = zones.get(row.user_id, DEFAULT_ZONE)
        key = (row.user_id, _series(row.user_id, row.kind, row.label, row.local_time, zone))
        moment = _aware(row.first)
        first[key] = min(moment, first.get(key, moment))
    rows = [{"user_id": u, "series": s, "known_since": at} for (u, s), at in sorted(first.items())]
    series = sa.table(
        "reminder_series",
        sa.column("user_id", sa.String),
        sa.column("series", sa.String),
        sa.column("known_since", sa.DateTime(True)),
    )
    for start in range(0, len(rows), BATCH):
        conn.execute(sa.insert(series), rows[start : start + BATCH])


def _zone_of(body: Any) -> str:
    """The zone the schedule uses for a person whose profile is ``body`` (``care.schedule.resolve_zone``)."""
    info = body.get("personalInfo") if isinstance(body, dict) else None
    name = str(info.get("timezone", DEFAULT_ZONE) or "").strip() if isinstance(info, dict) else DEFAULT_ZONE
    try:
        return str(ZoneInfo(name)) if name else FALLBACK_ZONE
    except (ZoneInfoNotFoundError, ValueError):
        return FALLBACK_ZONE


def _series(user_id: str, kind: str, label: str, local_time: str, zone: str) -> str:
    """``care.schedule.series_id`` as it was when this revision was written."""
    key = "\x1f".join((user_id, kind, label, local_time, zone))
    return "ser-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _close_alerts(conn: sa.Connection, user_id: str, voided: list[Any], now: datetime) -> None:
    d = _documents.c
    alerts = conn.execute(
        sa.select(d.doc_id, d.body, d.version).where(d.user_id == user_id, d.kind == "alert")
    ).all()
    for alert in alerts:
        body = dict(alert.body)
        if body.get("rule") != "reminder" or body.get("resolved"):
            continue
        if not any(_about(body, row) for row in voided):
            continue
        body.update(resolved=True, resolvedAt=_iso(now), resolvedBy=RESOLVED_BY, resolvedReason=REASON)
        conn.execute(
            sa.update(_documents)
            .where(d.user_id == user_id, d.kind == "alert", d.doc_id == alert.doc_id)
            .values(body=body, version=alert.version + 1, updated_at=now)
        )
        conn.execute(
            sa.update(_jobs)
            .where(
                _jobs.c.user_id == user_id,
                _jobs.c.alert_id == alert.doc_id,
                _jobs.c.status.in_(("pending", "sending")),
            )
            .values(status="failed", last_error=WITHDRAWN)
        )


def _about(body: dict[str, Any], row: Any) -> bool:
    """Whether an alert is about a missed occurrence (see the module's docstring)."""
    named = body.get("reminderId")
    if named is not None:
        return bool(named == row.id)
    created = _parse(body.get("createdAt"))
    missed_at = _aware(row.missed_at)
    if created is None or not missed_at - LINK_BEFORE <= created <= missed_at + LINK_AFTER:
        return False
    summary = str(body.get("summary") or "")
    return row.local_time in summary and (row.kind != "medication" or row.label in summary)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive values (stored as UTC); PostgreSQL aware ones."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse(text: Any) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(str(text)))
    except ValueError:
        return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def downgrade() -> None:
    op.execute(sa.update(_reminders).where(_reminders.c.state == "void").values(state="cancelled"))
    op.drop_table("reminder_series")
