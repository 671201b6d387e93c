"""Table definitions used by the queries in ``sql.py``.

Alembic owns the real schema (``migrations/versions``); these objects only describe it for query
building. ``tests/store`` compares the two after migrating, so drift fails a test instead of
surfacing in production.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

ID_MAX = 200
KIND_MAX = 64

# Explicit constraint names keep the migration, this module and both backends in agreement.
metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend.

    SQLite has no time-zone-aware type and hands back naive values; PostgreSQL hands back values in the
    session time zone. Normalising here means callers can compare and serialise without caring.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# The primary key starts with user_id, so it already is the user_id index that ``load_user`` needs;
# ``ix_documents_kind`` serves the few readers of one kind across every person (open alerts).
documents = Table(
    "documents",
    metadata,
    Column("user_id", String(ID_MAX), primary_key=True),
    Column("kind", String(KIND_MAX), primary_key=True),
    Column("doc_id", String(ID_MAX), primary_key=True),
    Column("body", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("version >= 1", name="version_positive"),
    Index("ix_documents_kind", "kind", "user_id"),
)

users = Table(
    "users",
    metadata,
    Column("user_id", String(ID_MAX), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
)

caregivers = Table(
    "caregivers",
    metadata,
    Column("id", String(ID_MAX), primary_key=True),
    Column("name", String(ID_MAX), nullable=False),
    Column("username", String(ID_MAX), nullable=False),
    Column("password_hash", String(500), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("username"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(ID_MAX), primary_key=True),
    Column("token_hash", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("user_id", String(ID_MAX), nullable=True),
    Column(
        "caregiver_id",
        String(ID_MAX),
        ForeignKey("caregivers.id", ondelete="CASCADE"),
        nullable=True,
    ),
    Column("label", String(ID_MAX), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),  # None: never (migration 0004)
    Column("last_used_at", UtcDateTime, nullable=True),
    UniqueConstraint("token_hash"),
    CheckConstraint("role IN ('admin', 'caregiver', 'device')", name="role"),
)

caregiver_assignments = Table(
    "caregiver_assignments",
    metadata,
    Column(
        "caregiver_id",
        String(ID_MAX),
        ForeignKey("caregivers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", String(ID_MAX), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
)

HASH_MAX = 128  # hex digests of secrets; never the secrets themselves
LABEL_MAX = 200

# A paired browser (a tablet) that speaks for one person. The cookie's secret is stored only as a hash.
devices = Table(
    "devices",
    metadata,
    Column("id", String(ID_MAX), primary_key=True),
    Column("user_id", String(ID_MAX), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("label", String(LABEL_MAX), nullable=False),
    Column("secret_hash", String(HASH_MAX), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    UniqueConstraint("secret_hash"),
    Index("ix_devices_user_id", "user_id"),
)

# Short codes a caregiver hands to the tablet. Used and expired rows stay a while so that a reused code
# can be told apart from a mistyped one (410 vs 404), then are purged.
pairing_codes = Table(
    "pairing_codes",
    metadata,
    Column("code_hash", String(HASH_MAX), primary_key=True),
    Column("user_id", String(ID_MAX), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("created_by", String(ID_MAX), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
)

# Single-use, short-lived secrets the page opens /v1/realtime with; deleted when used or the device goes.
client_secrets = Table(
    "client_secrets",
    metadata,
    Column("secret_hash", String(HASH_MAX), primary_key=True),
    Column("device_id", String(ID_MAX), ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_client_secrets_device_id", "device_id"),
)

# ---- alerts delivered, reminders kept (migration 0003) ----------------------------------------------

STATE_MAX = 20  # a short state word: pending, sending, sent, failed, due, delivered, ...
ADDRESS_MAX = 400  # a webhook URL or an e-mail address
DETAIL_MAX = 200  # a delivery attempt's outcome: an HTTP status or an error class; never content

# What must be sent about an alert, one row per address: written in the alert's own transaction, so
# an alert is never recorded without its notifications; one per (alert, channel, address) ever.
notification_jobs = Table(
    "notification_jobs",
    metadata,
    Column("id", String(ID_MAX), primary_key=True),
    Column("user_id", String(ID_MAX), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("alert_id", String(ID_MAX), nullable=False),
    Column("stage", Integer, nullable=False),
    Column("channel", String(STATE_MAX), nullable=False),
    Column("address", String(ADDRESS_MAX), nullable=False),
    Column("contact", String(LABEL_MAX), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("status", String(STATE_MAX), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("last_error", String(DETAIL_MAX), nullable=True),
    UniqueConstraint("alert_id", "channel", "address"),
    Index("ix_notification_jobs_user_id", "user_id"),
    Index("ix_notification_jobs_alert_id", "alert_id"),
    Index("ix_notification_jobs_status", "status", "next_attempt_at"),
)

# Every try at delivering a job: the proof that the family was (or could not be) told.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(ID_MAX), ForeignKey("notification_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("result", String(STATE_MAX), nullable=False),
    Column("detail", String(DETAIL_MAX), nullable=False),
    Index("ix_delivery_attempts_job_id", "job_id"),
)

# Single-use acknowledgement links sent with an alert; only the token's hash is kept.
alert_acks = Table(
    "alert_acks",
    metadata,
    Column("token_hash", String(HASH_MAX), primary_key=True),
    Column("user_id", String(ID_MAX), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("alert_id", String(ID_MAX), nullable=False),
    Column("contact", String(LABEL_MAX), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Index("ix_alert_acks_alert_id", "alert_id"),
)

# One row per reminder occurrence (a medication at a time on a day, or a check-in), with its state.
reminders = Table(
    "reminders",
    metadata,
    Column("id", String(ID_MAX), primary_key=True),
    Column("user_id", String(ID_MAX), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(STATE_MAX), nullable=False),
    Column("label", String(LABEL_MAX), nullable=False),
    Column("local_time", String(5), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("state", String(STATE_MAX), nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("delivered_via", String(STATE_MAX), nullable=True),
    Column("acked_at", UtcDateTime, nullable=True),
    Column("acked_via", String(STATE_MAX), nullable=True),
    Column("snoozed_until", UtcDateTime, nullable=True),
    Column("missed_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_reminders_user_id", "user_id", "due_at"),
    Index("ix_reminders_state", "state", "due_at"),
)

# When each series of a person's reminders (a medication at a time in a zone, or a check-in) was first
# seen by the schedule (migration 0006): no occurrence due before that moment is ever created. The
# series is a digest (``care.schedule.series_id``), so this table names no medication.
reminder_series = Table(
    "reminder_series",
    metadata,
    Column("user_id", String(ID_MAX), ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("series", String(ID_MAX), primary_key=True),
    Column("known_since", UtcDateTime, nullable=False),
)

# ---- several instances and accountable credentials (migration 0004) ----------------------------------

# One row per saved document change, written in the save's own transaction; other instances read it
# to catch up with what Redis did not bring them. Ids are monotonic but may commit out of order.
change_log = Table(
    "change_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(ID_MAX), nullable=False),
    Column("kind", String(KIND_MAX), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_change_log_created_at", "created_at"),
)

# Erasures and revocations: who did it and when, and what kind of thing it was done to; never content.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(ID_MAX), nullable=False),
    Column("action", String(KIND_MAX), nullable=False),
    Column("target", String(ID_MAX), nullable=False),
    Index("ix_audit_log_at", "at"),
)

# ---- conversations (migration 0007) ------------------------------------------------------------------

CONVERSATION_TEXT_MAX = 4000  # one turn's text: a long monologue is cut here (about four minutes of speech)
SUMMARY_MAX = 2000  # a summary of 2-4 sentences, with room for a model that says more

# One row per conversation, written by the instance that holds it while it lasts (its counts every few
# seconds, its end once). ``records`` is what the family allowed when it was written: none (counts and
# how it ended), summary (and the summary and the timeline), transcript (and the turns). No foreign key
# to ``users``: a person known only by their documents still talks; erasure deletes by ``user_id``.
conversations = Table(
    "conversations",
    metadata,
    Column("id", String(ID_MAX), primary_key=True),
    Column("user_id", String(ID_MAX), nullable=False),
    Column("device_id", String(ID_MAX), nullable=True),
    Column("records", String(STATE_MAX), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("ended_how", String(STATE_MAX), nullable=True),
    Column("connections", Integer, nullable=False),
    Column("rotations", Integer, nullable=False),
    Column("reconnects", Integer, nullable=False),
    Column("person_turns", Integer, nullable=False),
    Column("companion_turns", Integer, nullable=False),
    Column("person_talk_ms", Integer, nullable=False),
    Column("companion_talk_ms", Integer, nullable=False),
    Column("songs", Integer, nullable=False),
    Column("memories", Integer, nullable=False),
    Column("alerts", Integer, nullable=False),
    Column("reminders_said", Integer, nullable=False),
    Column("reminders_confirmed", Integer, nullable=False),
    Column("summary", Text, nullable=True),
    Column("summary_kind", String(STATE_MAX), nullable=True),  # model | digest
    Column("timeline", JSON, nullable=False),  # [{at, kind, label}], bounded; [] under "none"
    CheckConstraint("records IN ('none', 'summary', 'transcript')", name="records"),
    Index("ix_conversations_user_id", "user_id", "started_at"),
)

# The turns of a conversation kept as a transcript, in order: who, when, what (the companion's words as
# heard: ``cut`` when the person interrupted it).
conversation_turns = Table(
    "conversation_turns",
    metadata,
    Column(
        "conversation_id",
        String(ID_MAX),
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True),
    Column("user_id", String(ID_MAX), nullable=False),
    Column("role", String(STATE_MAX), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("text", Text, nullable=False),
    Column("cut", Integer, nullable=False),
    Index("ix_conversation_turns_user_id", "user_id"),
)

# Single-use links that stop a contact's digest e-mail without signing in; only the token's hash is kept.
digest_unsubscribes = Table(
    "digest_unsubscribes",
    metadata,
    Column("token_hash", String(HASH_MAX), primary_key=True),
    Column("user_id", String(ID_MAX), nullable=False),
    Column("contact", String(LABEL_MAX), nullable=False),  # the contact's e-mail address
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Index("ix_digest_unsubscribes_user_id", "user_id"),
)

# ---- the family's photos (migration 0008) ------------------------------------------------------------

MEDIA_TYPE_MAX = 32  # image/jpeg, image/png

# The pixels of each photo: a display copy and a thumbnail (and, when the service keeps originals, the
# full-size image), every one decoded, turned upright and re-encoded without metadata. What the family
# says about the photo is its ``photo`` document (same id); the two are written and deleted together.
# ``stored_bytes`` (all copies) is what the quota counts; ``last_shown_at`` and ``shown_count`` let
# the companion show what was not shown lately, without changing the document (and so the instructions).
photos = Table(
    "photos",
    metadata,
    Column("id", String(ID_MAX), primary_key=True),
    Column("user_id", String(ID_MAX), nullable=False),
    Column("media_type", String(MEDIA_TYPE_MAX), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("display", LargeBinary, nullable=False),
    Column("thumb", LargeBinary, nullable=False),
    Column("original", LargeBinary, nullable=True),
    Column("stored_bytes", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_shown_at", UtcDateTime, nullable=True),
    Column("shown_count", Integer, nullable=False),
    CheckConstraint("stored_bytes >= 0", name="stored_bytes_positive"),
    Index("ix_photos_user_id", "user_id"),
)

# ---- what was brought over from the seed system (migration 0009) ---------------------------------------

# One row per person and source: every imported item ("section:safety", "memory:na-...",
# "reminder:...") -> [the version it was written as (0 for rows that have none), {field: digest}]:
# digests of what the import owns, never the values. One row, so a person's import writes one.
imports = Table(
    "imports",
    metadata,
    Column("user_id", String(ID_MAX), primary_key=True),
    Column("source", String(KIND_MAX), primary_key=True),
    Column("items", JSON, nullable=False),
    Column("imported_at", UtcDateTime, nullable=False),
)

ALL_TABLES = (
    imports,
    photos,
    digest_unsubscribes,
    conversation_turns,
    conversations,
    audit_log,
    change_log,
    reminder_series,
    reminders,
    alert_acks,
    delivery_attempts,
    notification_jobs,
    documents,
    users,
    caregivers,
    api_tokens,
    caregiver_assignments,
    client_secrets,
    pairing_codes,
    devices,
)
