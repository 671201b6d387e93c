"""Persistent storage: per-user JSON documents with optimistic concurrency, and accounts.

Use ``open_store(settings.effective_database_url)``, then ``await store.migrate()`` once on start.
"""

from companion.store._changes import MAX_READ as MAX_CHANGES_READ
from companion.store._changes import ChangeRecord
from companion.store._export import tables_naming_a_person
from companion.store._imports import DocumentWrite, ImportedState, ImportMark, ImportWrite, PersonWrite
from companion.store._photos import PhotoFacts, PhotoFiles, PhotoUsage, Variant
from companion.store._reminders import AdherenceRecord
from companion.store.base import (
    RECORDS_LEVELS,
    TOKEN_ROLES,
    AccountStore,
    AuditEntry,
    CaregiverRecord,
    ClientSecretRecord,
    ConversationRecord,
    ConversationWrite,
    DeviceRecord,
    DeviceStore,
    DocumentStore,
    ErasureCounts,
    PairingOutcome,
    PairingRecord,
    RecordsLevel,
    Redemption,
    StoredDocument,
    TimelineEntry,
    TokenRecord,
    TokenRole,
    TurnRecord,
)
from companion.store.sql import SqlStore, open_store

__all__ = [
    "MAX_CHANGES_READ",
    "RECORDS_LEVELS",
    "TOKEN_ROLES",
    "AccountStore",
    "AdherenceRecord",
    "AuditEntry",
    "CaregiverRecord",
    "ChangeRecord",
    "ClientSecretRecord",
    "ConversationRecord",
    "ConversationWrite",
    "DeviceRecord",
    "DeviceStore",
    "DocumentStore",
    "DocumentWrite",
    "ErasureCounts",
    "ImportMark",
    "ImportWrite",
    "ImportedState",
    "PairingOutcome",
    "PairingRecord",
    "PersonWrite",
    "PhotoFacts",
    "PhotoFiles",
    "PhotoUsage",
    "RecordsLevel",
    "Redemption",
    "SqlStore",
    "StoredDocument",
    "TimelineEntry",
    "TokenRecord",
    "TokenRole",
    "TurnRecord",
    "Variant",
    "open_store",
    "tables_naming_a_person",
]
