"""Persistent storage: per-user JSON documents with optimistic concurrency, and accounts.

Use ``open_store(settings.effective_database_url)``, then ``await store.migrate()`` once on start.
"""

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
    "TOKEN_ROLES",
    "AccountStore",
    "AuditEntry",
    "CaregiverRecord",
    "ClientSecretRecord",
    "DeviceRecord",
    "DeviceStore",
    "DocumentStore",
    "ErasureCounts",
    "PairingOutcome",
    "PairingRecord",
    "Redemption",
    "SqlStore",
    "StoredDocument",
    "TokenRecord",
    "TokenRole",
    "open_store",
]
