"""The account half of ``SqlStore``: users, tokens, caregivers and assignments.

Uniqueness (user ids, token hashes, caregiver usernames) is enforced by database constraints and
detected with ``INSERT ... ON CONFLICT DO NOTHING`` so concurrent registrations cannot both succeed.
Each account rule that touches two tables (a person and the caregiver who added them; a caregiver and
their people) is one transaction here, so a failure never leaves half of it behind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from companion.errors import AlreadyExists, InvalidInput, NotFound
from companion.store._engine import check_aware, check_key, stored_document
from companion.store._erasure import SqlErasure, audit
from companion.store.base import TOKEN_ROLES, CaregiverRecord, StoredDocument, TokenRecord
from companion.store.schema import ID_MAX, api_tokens, caregiver_assignments, caregivers, documents, users

# Asked on every request: built once, so each use skips building and keying the statement (sql.py).
_FIND_TOKEN = select(api_tokens).where(api_tokens.c.token_hash == bindparam("token_hash"))
_FIND_TOKEN_FOR = select(
    api_tokens,
    exists()
    .where(
        caregiver_assignments.c.caregiver_id == api_tokens.c.caregiver_id,
        caregiver_assignments.c.user_id == bindparam("user_id"),
    )
    .label("assigned"),
).where(api_tokens.c.token_hash == bindparam("token_hash"))
_IS_ASSIGNED = select(
    exists().where(
        caregiver_assignments.c.caregiver_id == bindparam("caregiver_id"),
        caregiver_assignments.c.user_id == bindparam("user_id"),
    )
)


class SqlAccounts(SqlErasure):
    """Users, tokens, caregivers and assignments; erasing them comes with ``SqlErasure``."""

    # -- users --------------------------------------------------------------------------------------

    async def create_user(self, user_id: str) -> None:
        check_key("user_id", user_id, ID_MAX)
        async with self._tx() as conn:
            result = await conn.execute(
                self._insert_ignore(users).values(user_id=user_id, created_at=self._now())
            )
            created = result.rowcount == 1
        if not created:
            raise AlreadyExists(f"user {user_id!r} already exists", field="user_id")

    async def create_user_assigned(self, user_id: str, caregiver_id: str | None) -> None:
        """Register a person and assign them to the caregiver who added them, in one transaction: a
        failure (an unknown caregiver) leaves no unassigned person behind. AlreadyExists when taken."""
        check_key("user_id", user_id, ID_MAX)
        async with self._tx() as conn:
            if caregiver_id is not None and not await _caregiver_exists(conn, caregiver_id):
                raise NotFound(f"caregiver {caregiver_id!r} does not exist", field="caregiver_id")
            result = await conn.execute(
                self._insert_ignore(users).values(user_id=user_id, created_at=self._now())
            )
            if result.rowcount != 1:
                raise AlreadyExists(f"user {user_id!r} already exists", field="user_id")
            if caregiver_id is not None:
                await conn.execute(
                    insert(caregiver_assignments).values(
                        caregiver_id=caregiver_id, user_id=user_id, created_at=self._now()
                    )
                )

    async def user_exists(self, user_id: str) -> bool:
        async with self._read() as conn:
            return await _user_exists(conn, user_id)

    # -- tokens -------------------------------------------------------------------------------------

    async def add_token(self, token: TokenRecord) -> None:
        check_key("id", token.id, ID_MAX)
        check_key("token_hash", token.token_hash, 128)
        if token.role not in TOKEN_ROLES:
            raise InvalidInput(f"unknown token role {token.role!r}", field="role")
        check_aware(token.created_at, *[t for t in (token.expires_at, token.last_used_at) if t])
        async with self._tx() as conn:
            if token.caregiver_id is not None and not await _caregiver_exists(conn, token.caregiver_id):
                raise NotFound(f"caregiver {token.caregiver_id!r} does not exist", field="caregiver_id")
            result = await conn.execute(
                self._insert_ignore(api_tokens).values(
                    id=token.id,
                    token_hash=token.token_hash,
                    role=token.role,
                    user_id=token.user_id,
                    caregiver_id=token.caregiver_id,
                    label=token.label,
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                    last_used_at=token.last_used_at,
                )
            )
            created = result.rowcount == 1
        if not created:
            # Deliberately does not say whether the id or the hash collided.
            raise AlreadyExists("a token with this id or secret already exists", field="id")

    async def find_token(self, token_hash: str) -> TokenRecord | None:
        async with self._read() as conn:
            row = (await conn.execute(_FIND_TOKEN, {"token_hash": token_hash})).first()
        return None if row is None else _token(row._mapping)

    async def find_token_for(self, token_hash: str, user_id: str) -> tuple[TokenRecord | None, bool]:
        async with self._read() as conn:
            params = {"token_hash": token_hash, "user_id": user_id}
            row = (await conn.execute(_FIND_TOKEN_FOR, params)).first()
        return (None, False) if row is None else (_token(row._mapping), bool(row.assigned))

    async def list_tokens(self) -> list[TokenRecord]:
        async with self._read() as conn:
            rows = await conn.execute(select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id))
        return [_token(row._mapping) for row in rows]

    async def get_token(self, token_id: str) -> TokenRecord | None:
        async with self._read() as conn:
            row = (await conn.execute(select(api_tokens).where(api_tokens.c.id == token_id))).first()
        return None if row is None else _token(row._mapping)

    async def revoke_token(self, token_id: str, *, actor: str | None = None) -> TokenRecord | None:
        """Delete the token; what it was, or None when there was none. With ``actor`` the revocation is
        written to the audit log in the same transaction."""
        async with self._tx() as conn:
            row = (
                await conn.execute(select(api_tokens).where(api_tokens.c.id == token_id).with_for_update())
            ).first()
            if row is None:
                return None
            await conn.execute(delete(api_tokens).where(api_tokens.c.id == token_id))
            if actor is not None:
                await audit(conn, self._now(), actor, "revoke_token", token_id)
        return _token(row._mapping)

    async def touch_token(self, token_id: str, at: datetime, *, not_since: datetime) -> None:
        """A conditional update: several instances may each decide a minute has passed, but only rows
        whose last use is older than ``not_since`` are written, so a busy token costs one write a minute."""
        check_aware(at, not_since)
        column = api_tokens.c.last_used_at
        async with self._tx() as conn:
            await conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, or_(column.is_(None), column < not_since))
                .values(last_used_at=at)
            )

    # -- caregivers ---------------------------------------------------------------------------------

    async def add_caregiver(self, caregiver: CaregiverRecord) -> None:
        await self._add_caregiver(caregiver, [])

    async def _add_caregiver(self, caregiver: CaregiverRecord, user_ids: list[str]) -> None:
        check_key("id", caregiver.id, ID_MAX)
        check_key("username", caregiver.username, ID_MAX)
        check_key("name", caregiver.name, ID_MAX)
        check_key("password_hash", caregiver.password_hash, 500)
        check_aware(caregiver.created_at)
        async with self._tx() as conn:
            result = await conn.execute(
                self._insert_ignore(caregivers).values(
                    id=caregiver.id,
                    name=caregiver.name,
                    username=caregiver.username,
                    password_hash=caregiver.password_hash,
                    created_at=caregiver.created_at,
                )
            )
            if result.rowcount == 1:
                for user_id in dict.fromkeys(user_ids):  # the order given, each once
                    if not await _user_exists(conn, user_id):
                        # Raising rolls the new account back with the transaction.
                        raise NotFound(f"user {user_id!r} does not exist", field="user_id")
                    await conn.execute(
                        insert(caregiver_assignments).values(
                            caregiver_id=caregiver.id, user_id=user_id, created_at=self._now()
                        )
                    )
                return
            taken = await conn.scalar(select(exists().where(caregivers.c.username == caregiver.username)))
        if taken:
            raise AlreadyExists(f"username {caregiver.username!r} is taken", field="username")
        raise AlreadyExists(f"caregiver {caregiver.id!r} already exists", field="id")

    async def add_caregiver_assigned(self, caregiver: CaregiverRecord, user_ids: list[str]) -> None:
        """The account and its people in one transaction: an unknown person (NotFound) or a taken
        username (AlreadyExists) leaves no account behind."""
        await self._add_caregiver(caregiver, user_ids)

    async def get_caregiver(self, caregiver_id: str) -> CaregiverRecord | None:
        async with self._read() as conn:
            row = (await conn.execute(select(caregivers).where(caregivers.c.id == caregiver_id))).first()
        return None if row is None else _caregiver(row._mapping)

    async def find_caregiver_by_username(self, username: str) -> CaregiverRecord | None:
        async with self._read() as conn:
            row = (await conn.execute(select(caregivers).where(caregivers.c.username == username))).first()
        return None if row is None else _caregiver(row._mapping)

    async def list_caregivers(self) -> list[CaregiverRecord]:
        async with self._read() as conn:
            rows = await conn.execute(select(caregivers).order_by(caregivers.c.username))
        return [_caregiver(row._mapping) for row in rows]

    async def update_caregiver_password(self, caregiver_id: str, password_hash: str) -> bool:
        """Returns False when the caregiver does not exist."""
        check_key("password_hash", password_hash, 500)
        async with self._tx() as conn:
            result = await conn.execute(
                update(caregivers).where(caregivers.c.id == caregiver_id).values(password_hash=password_hash)
            )
            return result.rowcount > 0

    # -- assignments --------------------------------------------------------------------------------

    async def assign(self, caregiver_id: str, user_id: str) -> None:
        """Idempotent. Raises NotFound for an unknown caregiver or an unregistered user: an assignment
        then proves the user exists, which spares the access check a query on every request."""
        check_key("user_id", user_id, ID_MAX)
        async with self._tx() as conn:
            if not await _caregiver_exists(conn, caregiver_id):
                raise NotFound(f"caregiver {caregiver_id!r} does not exist", field="caregiver_id")
            if not await _user_exists(conn, user_id):
                raise NotFound(f"user {user_id!r} does not exist", field="user_id")
            await conn.execute(
                self._insert_ignore(caregiver_assignments).values(
                    caregiver_id=caregiver_id, user_id=user_id, created_at=self._now()
                )
            )

    async def unassign(self, caregiver_id: str, user_id: str) -> bool:
        async with self._tx() as conn:
            result = await conn.execute(
                delete(caregiver_assignments).where(
                    caregiver_assignments.c.caregiver_id == caregiver_id,
                    caregiver_assignments.c.user_id == user_id,
                )
            )
            return result.rowcount > 0

    async def users_of(self, caregiver_id: str) -> list[str]:
        async with self._read() as conn:
            rows = await conn.scalars(
                select(caregiver_assignments.c.user_id)
                .where(caregiver_assignments.c.caregiver_id == caregiver_id)
                .order_by(caregiver_assignments.c.user_id)
            )
            return list(rows)

    async def assignments(self) -> dict[str, list[str]]:
        """Every caregiver's people in one query, for pages that list all caregivers (no query each)."""
        query = select(caregiver_assignments.c.caregiver_id, caregiver_assignments.c.user_id).order_by(
            caregiver_assignments.c.caregiver_id, caregiver_assignments.c.user_id
        )
        found: defaultdict[str, list[str]] = defaultdict(list)
        async with self._read() as conn:
            for caregiver_id, user_id in await conn.execute(query):
                found[caregiver_id].append(user_id)
        return dict(found)

    async def documents_of(self, user_ids: Sequence[str], kinds: Sequence[str]) -> list[StoredDocument]:
        """Documents of these kinds for many people in one query: pages that list people (their names,
        their open alerts) then cost the same however many people there are."""
        if not user_ids or not kinds:
            return []
        query = (
            select(documents)
            .where(documents.c.user_id.in_(list(user_ids)), documents.c.kind.in_(list(kinds)))
            .order_by(documents.c.user_id, documents.c.kind, documents.c.doc_id)
        )
        async with self._read() as conn:
            return [stored_document(row._mapping) for row in await conn.execute(query)]

    async def is_assigned(self, caregiver_id: str, user_id: str) -> bool:
        async with self._read() as conn:
            found = await conn.scalar(_IS_ASSIGNED, {"caregiver_id": caregiver_id, "user_id": user_id})
        return bool(found)


async def _user_exists(conn: AsyncConnection, user_id: str) -> bool:
    return bool(await conn.scalar(select(exists().where(users.c.user_id == user_id))))


async def _caregiver_exists(conn: AsyncConnection, caregiver_id: str) -> bool:
    return bool(await conn.scalar(select(exists().where(caregivers.c.id == caregiver_id))))


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        token_hash=row["token_hash"],
        role=row["role"],
        user_id=row["user_id"],
        caregiver_id=row["caregiver_id"],
        label=row["label"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
    )


def _caregiver(row: Any) -> CaregiverRecord:
    return CaregiverRecord(
        id=row["id"],
        name=row["name"],
        username=row["username"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
    )
