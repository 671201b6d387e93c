"""What the rest of the service may assume about storage, independent of the database behind it.

The service talks to these protocols, not to ``SqlStore``, so tests and future backends can stand in
without touching callers. Document versions are the ETags of the HTTP API, which is why every write
is a compare-and-swap on ``version``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

TokenRole = Literal["admin", "caregiver", "device"]
TOKEN_ROLES: tuple[TokenRole, ...] = ("admin", "caregiver", "device")


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """One JSON document with its version (the ETag) and last write time (aware, UTC)."""

    user_id: str
    kind: str
    doc_id: str
    body: dict[str, Any]
    version: int
    updated_at: datetime

    def __repr__(self) -> str:
        # Bodies hold health data; keep them out of reprs that end up in logs and tracebacks.
        return (
            f"StoredDocument(user_id={self.user_id!r}, kind={self.kind!r}, doc_id={self.doc_id!r}, "
            f"version={self.version}, updated_at={self.updated_at.isoformat()})"
        )


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A bearer token. Only the SHA-256 hex of the secret is ever stored, computed by the caller."""

    id: str
    token_hash: str
    role: TokenRole
    user_id: str | None
    caregiver_id: str | None
    label: str | None
    created_at: datetime
    expires_at: datetime | None = None  # None: never (only the bootstrap admin, or rows from before expiry)
    last_used_at: datetime | None = None  # recorded at most once a minute, so it is "about when"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One erasure or revocation: who (a token or caregiver id), what kind of act, on which id; never
    the content that went."""

    at: datetime
    actor: str
    action: str
    target: str


@dataclass(frozen=True, slots=True)
class ErasureCounts:
    """What an erasure removed, by kind: for the audit's caller and the tests, never the content."""

    documents: int = 0
    photos: int = 0
    devices: int = 0
    tokens: int = 0
    reminders: int = 0
    notifications: int = 0
    assignments: int = 0
    conversations: int = 0


@dataclass(frozen=True, slots=True)
class CaregiverRecord:
    id: str
    name: str
    username: str
    password_hash: str
    created_at: datetime

    def __repr__(self) -> str:
        return f"CaregiverRecord(id={self.id!r}, name={self.name!r}, username={self.username!r})"


@runtime_checkable
class DocumentStore(Protocol):
    """Per-user JSON documents with optimistic concurrency.

    ``put`` with ``expected_version=None`` creates and fails if the document exists; with an int it
    updates only if the stored version still equals it. Either failure raises ``PreconditionFailed``
    carrying the current version (``None`` when the document does not exist).
    """

    async def get(self, user_id: str, kind: str, doc_id: str) -> StoredDocument | None: ...

    async def put(
        self,
        user_id: str,
        kind: str,
        doc_id: str,
        body: dict[str, Any],
        *,
        expected_version: int | None,
    ) -> StoredDocument: ...

    async def delete(self, user_id: str, kind: str, doc_id: str) -> bool: ...

    async def list(self, user_id: str, kind: str) -> list[StoredDocument]: ...

    async def load_user(self, user_id: str) -> builtins.list[StoredDocument]: ...

    async def list_kind(self, kind: str) -> builtins.list[StoredDocument]:
        """Every person's documents of ``kind``, by person, oldest first."""
        ...

    async def list_user_ids(self) -> builtins.list[str]: ...

    async def health(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


@runtime_checkable
class AccountStore(Protocol):
    """Registered users, bearer tokens, caregivers and which users each caregiver looks after."""

    async def create_user(self, user_id: str) -> None: ...

    async def list_user_ids(self) -> list[str]: ...

    async def user_exists(self, user_id: str) -> bool: ...

    async def add_token(self, token: TokenRecord) -> None: ...

    async def find_token(self, token_hash: str) -> TokenRecord | None: ...

    async def find_token_for(self, token_hash: str, user_id: str) -> tuple[TokenRecord | None, bool]:
        """The token, and whether its caregiver is assigned to ``user_id``, in one round trip."""
        ...

    async def list_tokens(self) -> list[TokenRecord]: ...

    async def get_token(self, token_id: str) -> TokenRecord | None: ...

    async def revoke_token(self, token_id: str, *, actor: str | None = None) -> TokenRecord | None:
        """Delete the token and return what it was (None: unknown); with ``actor``, audited in the same
        transaction."""
        ...

    async def touch_token(self, token_id: str, at: datetime, *, not_since: datetime) -> None:
        """Record a use at ``at`` unless one was recorded after ``not_since`` (the throttle)."""
        ...

    async def add_caregiver(self, caregiver: CaregiverRecord) -> None: ...

    async def get_caregiver(self, caregiver_id: str) -> CaregiverRecord | None: ...

    async def find_caregiver_by_username(self, username: str) -> CaregiverRecord | None: ...

    async def list_caregivers(self) -> list[CaregiverRecord]: ...

    async def update_caregiver_password(self, caregiver_id: str, password_hash: str) -> bool: ...

    async def create_user_assigned(self, user_id: str, caregiver_id: str | None) -> None:
        """Register a person and, in the same transaction, assign them to ``caregiver_id``."""
        ...

    async def add_caregiver_assigned(self, caregiver: CaregiverRecord, user_ids: list[str]) -> None:
        """Create the account and its assignments in one transaction (NotFound: an unknown person)."""
        ...

    async def assignments(self) -> dict[str, list[str]]:
        """Every caregiver's people in one query: caregiver id -> sorted user ids."""
        ...

    async def assign(self, caregiver_id: str, user_id: str) -> None: ...

    async def unassign(self, caregiver_id: str, user_id: str) -> bool: ...

    async def users_of(self, caregiver_id: str) -> list[str]: ...

    async def is_assigned(self, caregiver_id: str, user_id: str) -> bool: ...

    async def erase_user(self, user_id: str, *, actor: str) -> ErasureCounts:
        """Everything stored about a person, in one transaction, audited; NotFound when unknown."""
        ...

    async def erase_caregiver(self, caregiver_id: str, *, actor: str) -> ErasureCounts:
        """The account, its tokens and assignments, in one transaction, audited; NotFound when unknown."""
        ...

    async def audit_entries(self, *, limit: int = 100) -> list[AuditEntry]: ...


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A paired browser of one person. ``secret_hash`` is the SHA-256 hex of its cookie's secret."""

    id: str
    user_id: str
    label: str
    secret_hash: str
    created_at: datetime
    last_seen_at: datetime

    def __repr__(self) -> str:
        return f"DeviceRecord(id={self.id!r}, user_id={self.user_id!r}, label={self.label!r})"


@dataclass(frozen=True, slots=True)
class PairingRecord:
    """A pairing code, known to the store only by its hash."""

    code_hash: str
    user_id: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def __repr__(self) -> str:
        return f"PairingRecord(user_id={self.user_id!r}, expires_at={self.expires_at.isoformat()})"


PairingOutcome = Literal["paired", "unknown", "used", "expired"]


@dataclass(frozen=True, slots=True)
class Redemption:
    """What redeeming a code did: ``device`` is set exactly when ``outcome == "paired"``."""

    outcome: PairingOutcome
    device: DeviceRecord | None = None


@dataclass(frozen=True, slots=True)
class ClientSecretRecord:
    """A single-use secret for opening one live session, known to the store only by its hash."""

    secret_hash: str
    device_id: str
    created_at: datetime
    expires_at: datetime

    def __repr__(self) -> str:
        return f"ClientSecretRecord(device_id={self.device_id!r}, expires_at={self.expires_at.isoformat()})"


@runtime_checkable
class DeviceStore(Protocol):
    """Paired devices, their pairing codes and client secrets.

    Every "use once" step (redeeming a code, consuming a secret) is a single conditional write, so two
    tablets racing for one code, or two sockets for one secret, cannot both win, on any number of
    instances. Times are passed in by the caller, whose clock decides expiry.
    """

    async def add_pairing(self, pairing: PairingRecord, *, purge_before: datetime) -> bool:
        """False when a row with the same code hash exists (the caller picks another code). Rows that
        expired before ``purge_before`` are deleted first."""
        ...

    async def redeem_pairing(
        self, code_hash: str, *, device_id: str, label: str, secret_hash: str, now: datetime
    ) -> Redemption: ...

    async def find_device(self, secret_hash: str) -> DeviceRecord | None: ...

    async def get_device(self, device_id: str) -> DeviceRecord | None: ...

    async def list_devices(self, user_id: str) -> builtins.list[DeviceRecord]: ...

    async def delete_device(self, user_id: str, device_id: str) -> bool:
        """Also deletes the device's unused client secrets."""
        ...

    async def touch_device(self, device_id: str, seen_at: datetime) -> None: ...

    async def add_client_secret(self, secret: ClientSecretRecord) -> bool:
        """False when the device no longer exists. Expired secrets of the device are deleted."""
        ...

    async def consume_client_secret(self, secret_hash: str, now: datetime) -> DeviceRecord | None:
        """Delete the secret and return its device, if the secret was unexpired and the device exists."""
        ...


# ---- alerts delivered with proof, and reminders ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One notification to one address about one alert (the outbox row)."""

    id: str
    user_id: str
    alert_id: str
    stage: int  # 0: the first notice; 1, 2, ...: escalation steps
    channel: Literal["webhook", "email"]
    address: str  # the webhook URL or the e-mail address
    contact: str | None  # the contact's name; None for the service's webhook
    payload: dict[str, Any]  # exactly what is sent (no more health data than the alert needs)
    status: Literal["pending", "sending", "sent", "failed"]
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None = None
    last_error: str | None = None
    lease_until: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"JobRecord(id={self.id!r}, alert_id={self.alert_id!r}, "
            f"channel={self.channel!r}, status={self.status!r})"
        )


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    job_id: str
    at: datetime
    result: Literal["sent", "failed", "retry"]
    detail: str  # an HTTP status or an error class and short reason; never the payload


@dataclass(frozen=True, slots=True)
class AckRecord:
    """A single-use acknowledgement link's stored half (the token's hash)."""

    token_hash: str
    user_id: str
    alert_id: str
    contact: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


ReminderKind = Literal["medication", "checkin"]
# void: never due (its time came before its medication, or its person, existed); see migration 0006
ReminderState = Literal["due", "delivered", "acknowledged", "snoozed", "missed", "cancelled", "void"]


@dataclass(frozen=True, slots=True)
class ReminderRecord:
    """One occurrence of a reminder: a medication (or a check-in) at one local time on one day."""

    id: str
    user_id: str
    kind: ReminderKind
    label: str  # the medication and its dosage as the profile says them; "" for a check-in
    local_time: str  # HH:MM in the person's time zone
    due_at: datetime  # aware UTC
    state: ReminderState
    updated_at: datetime
    delivered_at: datetime | None = None
    delivered_via: Literal["conversation", "page"] | None = None
    acked_at: datetime | None = None
    acked_via: Literal["tool", "page", "dashboard"] | None = None
    snoozed_until: datetime | None = None
    missed_at: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"ReminderRecord(id={self.id!r}, kind={self.kind!r}, "
            f"due_at={self.due_at.isoformat()}, state={self.state!r})"
        )


# ---- conversations --------------------------------------------------------------------------------

RecordsLevel = Literal["none", "summary", "transcript"]
RECORDS_LEVELS: tuple[RecordsLevel, ...] = ("none", "summary", "transcript")
EndedHow = Literal["person", "network", "cap", "revoked", "error"]
SummaryKind = Literal["model", "running", "digest"]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One moment of a conversation the family sees on its timeline: a song, an alert, a reminder said
    or confirmed, a memory saved, a new model connection. ``label`` is empty under "none"."""

    at: datetime
    kind: str
    label: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "label": self.label}


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """A conversation's row: what it was and how it went. Texts (the summary, the timeline's labels)
    only where ``records`` allows them."""

    id: str
    user_id: str
    device_id: str | None
    records: RecordsLevel
    started_at: datetime
    ended_at: datetime | None = None
    ended_how: EndedHow | None = None
    connections: int = 1
    rotations: int = 0
    reconnects: int = 0
    person_turns: int = 0
    companion_turns: int = 0
    person_talk_ms: int = 0
    companion_talk_ms: int = 0
    songs: int = 0
    memories: int = 0
    alerts: int = 0
    reminders_said: int = 0
    reminders_confirmed: int = 0
    summary: str | None = None
    summary_kind: SummaryKind | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    updated_at: datetime | None = None  # set by the store

    def __repr__(self) -> str:
        return f"ConversationRecord(id={self.id!r}, user_id={self.user_id!r}, records={self.records!r})"

    @property
    def duration_s(self) -> float:
        end = self.ended_at or self.updated_at or self.started_at
        return max(0.0, (end - self.started_at).total_seconds())


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One turn of a transcript: the person's words as transcribed, the companion's as spoken (``cut``
    where the person interrupted)."""

    seq: int
    role: Literal["person", "companion"]
    at: datetime
    text: str
    cut: bool = False

    def __repr__(self) -> str:
        return f"TurnRecord(seq={self.seq}, role={self.role!r}, cut={self.cut})"


@dataclass(frozen=True, slots=True)
class ConversationWrite:
    """One incremental write of a live conversation: its row as it is now, the turns not yet stored,
    and turns stored earlier whose text was cut afterwards (the person interrupted it)."""

    record: ConversationRecord
    turns: tuple[TurnRecord, ...] = ()
    cuts: tuple[tuple[int, str], ...] = ()  # (seq, the text as heard)
    first: bool = False  # the first write creates the row; later ones only update it


@dataclass(frozen=True, slots=True)
class UnsubscribeRecord:
    """A digest e-mail's single-use "stop these e-mails" link, by its token's hash."""

    token_hash: str
    user_id: str
    contact: str  # the contact's e-mail address
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def __repr__(self) -> str:
        return f"UnsubscribeRecord(user_id={self.user_id!r}, used={self.used_at is not None})"
