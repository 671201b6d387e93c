"""``SqlStore``: documents and accounts on SQLite (aiosqlite) or PostgreSQL (asyncpg).

Concurrency rests on the database, not on this process: a create is an insert guarded by the primary
key, an update is ``UPDATE ... WHERE version = :expected`` whose row count says who won. That keeps the
guarantee when several workers or replicas share one PostgreSQL database. On SQLite the single write
lock serialises writers; ``put`` always writes before it reads, so a waiting writer re-reads the row
after the lock is released and sees the winner's version.
"""

from __future__ import annotations

import builtins
import functools
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, bindparam, delete, inspect, literal_column, select, text, union, update
from sqlalchemy.ext.asyncio import AsyncConnection

from companion.clock import Clock, utcnow
from companion.errors import InvalidInput, PreconditionFailed, StoreUnavailable
from companion.store._accounts import SqlAccounts
from companion.store._changes import SqlChanges
from companion.store._conversations import SqlConversations
from companion.store._devices import SqlDevices
from companion.store._engine import (
    MIGRATION_TIMEOUTS,
    STORE_TIMEOUTS,
    StoreTimeouts,
    check_key,
    json_roundtrip,
    normalise_url,
    stored_document,
)
from companion.store._export import SqlExport
from companion.store._imports import SqlImports
from companion.store._outbox import SqlOutbox
from companion.store._photos import SqlPhotos
from companion.store._reminders import SqlReminders
from companion.store.base import StoredDocument
from companion.store.schema import ID_MAX, KIND_MAX, documents, metadata, users

log = logging.getLogger("companion.store")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Arbitrary constant shared by every Companion process: serialises concurrent `migrate()` calls
# (e.g. several replicas starting at once) on PostgreSQL.
_MIGRATION_LOCK_KEY = 0x636F6D70  # "comp"

_doc = documents.c

# The hot paths' statements, built once: a statement object remembers its cache key, so executing the
# same one with new parameters skips building the expression and keying the compiled-SQL cache (about
# a quarter of a small query's cost in this process). Bound names that are also column names are
# reserved in an UPDATE's SET, hence the ``k_`` and ``new_`` prefixes.
_KEY = (
    _doc.user_id == bindparam("k_user_id"),
    _doc.kind == bindparam("k_kind"),
    _doc.doc_id == bindparam("k_doc_id"),
)
_GET = select(documents).where(*_KEY)
_VERSION = select(_doc.version).where(*_KEY)
_DELETE = delete(documents).where(*_KEY)
_LOAD_USER = (
    select(documents)
    .where(_doc.user_id == bindparam("k_user_id"))
    .order_by(_doc.kind, _doc.updated_at, _doc.doc_id)
)
_UPDATE = (
    update(documents)
    .where(*_KEY, _doc.version == bindparam("k_version"))
    .values(
        body=bindparam("new_body", type_=_doc.body.type),
        version=bindparam("new_version"),
        updated_at=bindparam("new_updated_at", type_=_doc.updated_at.type),
    )
)


class SqlStore(
    SqlAccounts,
    SqlDevices,
    SqlOutbox,
    SqlReminders,
    SqlPhotos,
    SqlImports,
    SqlChanges,
    SqlConversations,
    SqlExport,
):
    """Implements ``DocumentStore``, ``AccountStore``, ``DeviceStore``, the alert outbox, reminders,
    the family's photos, the change log (every document write logs itself in its own transaction)
    and the seed system's import; ``migrate()`` once on start."""

    # -- lifecycle ----------------------------------------------------------------------------------

    async def migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op when it already is. On PostgreSQL through
        connections of its own without the statement, lock and command timeouts (``StoreTimeouts``)."""
        if self.backend == "postgresql" and self._timeouts != MIGRATION_TIMEOUTS:
            migrator = SqlStore(
                self._url.render_as_string(hide_password=False),
                clock=self._clock,
                timeouts=MIGRATION_TIMEOUTS,
            )
            try:
                await migrator.migrate()
            finally:
                await migrator.close()
            return
        async with self._tx() as conn:
            # Several workers may start at once; the first migrates, the others wait and find it done.
            if self.backend == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            else:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            await conn.run_sync(_upgrade_to_head)
        log.info("store schema up to date (%s)", self.backend)

    async def health(self) -> dict[str, Any]:
        """Never raises: health endpoints need an answer most when the database is down."""
        try:
            async with self._read() as conn:
                await conn.execute(text("SELECT 1"))
        except StoreUnavailable as exc:
            return {"backend": self.backend, "ok": False, "error": exc.message}
        return {"backend": self.backend, "ok": True}

    async def close(self) -> None:
        await self._engine.dispose()
        if self._bulk is not None:
            self._bulk.dispose()

    # -- documents ----------------------------------------------------------------------------------

    async def get(self, user_id: str, kind: str, doc_id: str) -> StoredDocument | None:
        async with self._read() as conn:
            row = (await conn.execute(_GET, _key_params(user_id, kind, doc_id))).first()
        return None if row is None else stored_document(row._mapping)

    async def put(
        self,
        user_id: str,
        kind: str,
        doc_id: str,
        body: dict[str, Any],
        *,
        expected_version: int | None,
    ) -> StoredDocument:
        _check_doc_key(user_id, kind, doc_id)
        if expected_version is not None and (
            isinstance(expected_version, bool) or not isinstance(expected_version, int)
        ):
            raise InvalidInput("expected_version must be an integer or None", field="expected_version")
        stored = json_roundtrip(body)
        now = self._now()
        new_version = 1 if expected_version is None else expected_version + 1
        current: int | None = None
        async with self._tx() as conn:
            params: dict[str, Any] | None = None
            if expected_version is None:
                statement: Any = self._insert_ignore(documents).values(
                    user_id=user_id, kind=kind, doc_id=doc_id, body=stored, version=1, updated_at=now
                )
            else:
                statement = _UPDATE
                params = _key_params(user_id, kind, doc_id) | {
                    "k_version": expected_version,
                    "new_body": stored,
                    "new_version": new_version,
                    "new_updated_at": now,
                }
            won = (await conn.execute(statement, params)).rowcount == 1
            if won:
                await self._log_change(conn, user_id, kind, new_version)
            else:
                # Same transaction, after our write attempt: sees the version that beat us.
                current = await _current_version(conn, user_id, kind, doc_id)
        if won:
            return StoredDocument(user_id, kind, doc_id, stored, new_version, now)
        raise _precondition_failed(kind, doc_id, expected_version, current)

    async def delete(self, user_id: str, kind: str, doc_id: str) -> bool:
        async with self._tx() as conn:
            result = await conn.execute(_DELETE, _key_params(user_id, kind, doc_id))
            if result.rowcount > 0:
                await self._log_change(conn, user_id, kind, 0)
                return True
            return False

    async def list(self, user_id: str, kind: str) -> list[StoredDocument]:
        query = (
            select(documents)
            .where(_doc.user_id == user_id, _doc.kind == kind)
            .order_by(_doc.updated_at, _doc.doc_id)
        )
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [stored_document(row._mapping) for row in rows]

    async def load_user(self, user_id: str) -> builtins.list[StoredDocument]:
        """Every document of one user in a single round trip, grouped by kind, oldest first."""
        async with self._read() as conn:
            rows = await conn.execute(_LOAD_USER, {"k_user_id": user_id})
            return [stored_document(row._mapping) for row in rows]

    async def list_kind(self, kind: str) -> builtins.list[StoredDocument]:
        query = (
            select(documents).where(_doc.kind == kind).order_by(_doc.user_id, _doc.updated_at, _doc.doc_id)
        )
        async with self._read() as conn:
            return [stored_document(row._mapping) for row in await conn.execute(query)]

    async def list_user_ids(self) -> builtins.list[str]:
        """Users with documents plus registered users, so a freshly registered user is listed too."""
        both = union(select(_doc.user_id), select(users.c.user_id)).subquery()
        query = select(both.c.user_id).order_by(literal_column("user_id"))
        async with self._read() as conn:
            return list(await conn.scalars(query))


def open_store(url: str, *, clock: Clock = utcnow, timeouts: StoreTimeouts = STORE_TIMEOUTS) -> SqlStore:
    """Build a store for ``url``, creating the directory of a SQLite file if needed.

    Does not connect or migrate; call ``await store.migrate()`` on start.
    """
    parsed = normalise_url(url)
    database = parsed.database
    is_file = bool(database) and database != ":memory:" and not str(database).startswith("file:")
    if parsed.get_backend_name() == "sqlite" and database and is_file:
        try:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create directory for SQLite database: {exc}") from exc
    return SqlStore(url, clock=clock, timeouts=timeouts)


@functools.cache
def _scripts() -> ScriptDirectory:
    """The migration scripts, read once per process (Alembic would load every file on each call)."""
    return ScriptDirectory.from_config(_config())


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade_to_head(connection: Connection, *, build_new: bool = True) -> None:
    """Run the migrations the database has not had; nothing when it is at the newest revision. A new
    database (no revision, none of the store's tables) is built from ``schema.py`` in one step and
    stamped with the newest revision, Alembic's recipe for building a database from scratch: the same
    tables as every migration run in turn (a test compares the two on SQLite and on PostgreSQL), in a
    fraction of the statements. ``build_new=False`` runs the migrations one by one even then."""
    context = MigrationContext.configure(connection)
    current = context.get_current_revision()
    if current == _scripts().get_current_head():
        return
    new = current is None and not set(metadata.tables) & set(inspect(connection).get_table_names())
    if new and build_new:
        metadata.create_all(connection, checkfirst=False)
        context.stamp(_scripts(), "head")
        return
    command.upgrade(_config(connection), "head")


def _key_params(user_id: str, kind: str, doc_id: str) -> dict[str, Any]:
    return {"k_user_id": user_id, "k_kind": kind, "k_doc_id": doc_id}


def _check_doc_key(user_id: str, kind: str, doc_id: str) -> None:
    check_key("user_id", user_id, ID_MAX)
    check_key("kind", kind, KIND_MAX)
    check_key("doc_id", doc_id, ID_MAX)


async def _current_version(conn: AsyncConnection, user_id: str, kind: str, doc_id: str) -> int | None:
    version = await conn.scalar(_VERSION, _key_params(user_id, kind, doc_id))
    return None if version is None else int(version)


def _precondition_failed(
    kind: str, doc_id: str, expected: int | None, current: int | None
) -> PreconditionFailed:
    if expected is None:
        message = f"{kind}/{doc_id} already exists (version {current})"
    elif current is None:
        message = f"{kind}/{doc_id} does not exist"
    else:
        message = f"{kind}/{doc_id} is at version {current}, not {expected}"
    return PreconditionFailed(message, current_version=current)
