"""Persistent storage: per-user JSON documents with optimistic concurrency, and accounts.

Use ``open_store(settings.effective_database_url)``, then ``await store.migrate()`` once on start.
"""

from companion.store._changes import MAX_READ as MAX_CHANGES_READ
from companion.store._changes import ChangeRecord
from companion.store._photos import PhotoFacts, PhotoFiles, PhotoUsage, Variant
from companion.store._reminders import AdherenceRecord
from companion.store.base import (
    TOKEN_ROLES,
    AccountStore,
    AuditEntry,
    CaregiverRecord,
    ClientSecretRecord,
    DeviceRecord,
    DeviceStore,
    DocumentStore,
    ErasureCounts,
    PairingOutcome,
    PairingRecord,
    Redemption,
    StoredDocument,
    TokenRecord,
    TokenRole,
)
from companion.store.sql import SqlStore, open_store

__all__ = [
    "MAX_CHANGES_READ",
    "TOKEN_ROLES",
    "AccountStore",
    "AdherenceRecord",
    "AuditEntry",
    "CaregiverRecord",
    "ChangeRecord",
    "ClientSecretRecord",
    "DeviceRecord",
    "DeviceStore",
    "DocumentStore",
    "ErasureCounts",
    "PairingOutcome",
    "PairingRecord",
    "PhotoFacts",
    "PhotoFiles",
    "PhotoUsage",
    "Redemption",
    "SqlStore",
    "StoredDocument",
    "TokenRecord",
    "TokenRole",
    "Variant",
    "open_store",
]
