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

    async def list_tokens(self) -> list[TokenRecord]: ...

    async def revoke_token(self, token_id: str) -> bool: ...

    async def add_caregiver(self, caregiver: CaregiverRecord) -> None: ...

    async def get_caregiver(self, caregiver_id: str) -> CaregiverRecord | None: ...

    async def find_caregiver_by_username(self, username: str) -> CaregiverRecord | None: ...

    async def list_caregivers(self) -> list[CaregiverRecord]: ...

    async def update_caregiver_password(self, caregiver_id: str, password_hash: str) -> bool: ...

    async def assign(self, caregiver_id: str, user_id: str) -> None: ...

    async def unassign(self, caregiver_id: str, user_id: str) -> bool: ...

    async def users_of(self, caregiver_id: str) -> list[str]: ...

    async def is_assigned(self, caregiver_id: str, user_id: str) -> bool: ...
