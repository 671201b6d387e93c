"""Engine setup, transactions and error translation shared by the document and account halves of
``SqlStore``.

Everything that touches the database goes through ``_tx``/``_read`` so that driver and SQLAlchemy
exceptions about connectivity become ``StoreUnavailable`` in exactly one place.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

from companion.errors import InvalidInput, StoreTimeout, StoreUnavailable
from companion.store.base import StoredDocument

log = logging.getLogger("companion.store")

Clock = Callable[[], datetime]

# Only these two backends are tested; anything else would silently lose the CAS guarantees.
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}

# Failures that mean "the database is not there right now" rather than "the request is wrong".
# OSError covers refused/unreachable sockets and connect timeouts raised by asyncpg before SQLAlchemy
# can wrap them.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    OSError,
)

# While obtaining a connection every error means unavailable: unknown database, bad credentials and
# "too many clients" arrive as plain DBAPIError.
_CONNECT_FAILURES: tuple[type[BaseException], ...] = (sa_exc.DBAPIError, *_UNAVAILABLE)

# PostgreSQL's own answers when a statement ran out of time: canceled by statement_timeout (or by a
# client's cancel), and a lock not granted within lock_timeout.
_QUERY_CANCELED, _LOCK_NOT_AVAILABLE = "57014", "55P03"


@dataclass(frozen=True, slots=True)
class StoreTimeouts:
    """How long one PostgreSQL statement may run and wait, set on every connection as it opens.

    Every statement the service runs takes milliseconds (keyed lookups; an erasure deletes by indexed
    person id, statement by statement), so hitting these means something is stuck: the request fails
    with ``StoreTimeout`` (503) and its pooled connection is free again, instead of every request
    queueing behind it until the pool is exhausted. Migrations are exempt (``migrate``)."""

    # The server cancels a statement running longer: far beyond any real one, short of a client's
    # patience (the dashboard and the API answer within it, with a 503 that says to try again).
    statement_s: float = 15.0
    # Our transactions hold row locks for milliseconds; waiting this long means one is stuck elsewhere
    # (or an operator's session holds a table), and failing beats queueing every writer behind it.
    lock_s: float = 5.0
    # asyncpg's own clock, for a server or network that stops answering at all (where the server's
    # timers cannot help). Later than the statement timeout, so the server's clearer error comes first.
    command_s: float | None = 20.0

    def connect_args(self) -> dict[str, Any]:
        return {
            "command_timeout": self.command_s,
            "server_settings": {
                "statement_timeout": str(round(self.statement_s * 1000)),
                "lock_timeout": str(round(self.lock_s * 1000)),
            },
        }


STORE_TIMEOUTS = StoreTimeouts()
# A migration may rewrite a large table or wait for another replica's migration to finish: no bound.
MIGRATION_TIMEOUTS = StoreTimeouts(statement_s=0, lock_s=0, command_s=None)
CONNECT_TIMEOUT_S = 10  # connecting to PostgreSQL: a server this slow to accept is as good as down

# Whether the running task already holds this process's SQLite writer turn (a write inside a write
# must not wait for itself).
_WRITING: ContextVar[bool] = ContextVar("companion_store_writing", default=False)

_json_dumps = functools.partial(json.dumps, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _DropDriverDebug(logging.Filter):
    """aiosqlite logs every call with its bound parameters at DEBUG, i.e. document bodies, which hold
    health data. Those records are dropped even when the service runs with DEBUG logging."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _silence_driver_debug() -> None:
    driver_log = logging.getLogger("aiosqlite")
    if not any(isinstance(f, _DropDriverDebug) for f in driver_log.filters):
        driver_log.addFilter(_DropDriverDebug())


_silence_driver_debug()


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalise_url(url: str) -> URL:
    """Parse ``url`` and pick the async driver when a bare ``postgresql://``/``sqlite://`` was given."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise InvalidInput("database URL cannot be parsed", field="database_url") from exc
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise InvalidInput(
            f"unsupported database backend {backend!r}; use sqlite or postgresql", field="database_url"
        )
    if parsed.drivername == backend:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[backend])
    return parsed


def json_roundtrip(body: Any) -> dict[str, Any]:
    """Validate ``body`` up front and return exactly what a later ``get`` will return.

    Done before the database sees it so that both backends reject the same inputs (NaN, sets, ...)
    with the same error, and so ``put`` can return the stored form without reading it back.
    """
    if not isinstance(body, dict):
        raise InvalidInput("document body must be a JSON object", field="body")
    try:
        loaded = json.loads(_json_dumps(body))
    except (TypeError, ValueError) as exc:
        # The message names the offending type only; never echo the body.
        raise InvalidInput(f"document body is not valid JSON: {type(exc).__name__}", field="body") from None
    assert isinstance(loaded, dict)
    return loaded


def check_key(field: str, value: object, max_len: int) -> None:
    """Reject keys both backends would not treat identically (PostgreSQL enforces lengths and
    refuses NUL characters; SQLite does neither)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    if len(value) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters", field=field)


def check_aware(*values: datetime) -> None:
    """A naive time would be read as local time by one database and UTC by another."""
    for value in values:
        if getattr(value, "tzinfo", None) is None:
            raise InvalidInput("times must be timezone-aware datetimes", field="time")


def _timed_out(exc: BaseException) -> bool:
    """A statement canceled by the server's timers, or asyncpg's ``command_timeout`` expiring."""
    if isinstance(exc, TimeoutError):
        return True
    inner = getattr(exc, "orig", None)
    if isinstance(inner, TimeoutError) or isinstance(exc.__cause__, TimeoutError):
        return True
    return getattr(inner, "sqlstate", None) in (_QUERY_CANCELED, _LOCK_NOT_AVAILABLE)


def _describe(exc: BaseException) -> str:
    # SQLAlchemy's own str() carries the SQL; the driver's message is the useful part. Parameters are
    # hidden by the engine anyway (hide_parameters=True).
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    return text[:200]


class SqlBase:
    """Owns the engine; subclasses add the actual queries."""

    def __init__(self, url: str, *, clock: Clock = utcnow, timeouts: StoreTimeouts = STORE_TIMEOUTS) -> None:
        parsed = normalise_url(url)
        self._url = parsed
        self._clock = clock
        self._timeouts = timeouts
        self.backend: str = parsed.get_backend_name()
        kwargs: dict[str, Any] = {
            "hide_parameters": True,  # bound parameters include document bodies (health data)
            "json_serializer": _json_dumps,
            # A server can drop idle connections; a SQLite file cannot, and the ping cost ~2 ms a query.
            "pool_pre_ping": self.backend == "postgresql",
        }
        if self.backend == "postgresql":
            kwargs["connect_args"] = {"timeout": CONNECT_TIMEOUT_S, **timeouts.connect_args()}
        else:
            # Writers queue on SQLite's single write lock; wait instead of failing under bursts.
            kwargs["connect_args"] = {"timeout": 30}
        try:
            self._engine: AsyncEngine = create_async_engine(parsed, **kwargs)
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, sa_exc.InvalidRequestError) as exc:
            raise InvalidInput(f"cannot use database URL: {exc}", field="database_url") from exc
        if self.backend == "sqlite":
            event.listen(self._engine.sync_engine, "connect", _sqlite_on_connect)
        self._writers: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @property
    def url(self) -> str:
        """The URL without its password, safe to log."""
        return self._url.render_as_string(hide_password=True)

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("store clock must return aware datetimes")
        return now.astimezone(UTC)

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        if _timed_out(exc):
            log.warning("store %s: a statement ran out of time: %s", self.backend, _describe(exc))
            return StoreTimeout(f"{self.backend} database did not answer in time: {_describe(exc)}")
        log.warning("store %s unavailable: %s", self.backend, _describe(exc))
        return StoreUnavailable(f"{self.backend} database unavailable: {_describe(exc)}")

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; commits on success, rolls back on any exception."""
        async with self._writer_turn(), self._read() as conn:
            try:
                async with conn.begin():
                    yield conn
            except _UNAVAILABLE as exc:
                raise self._unavailable(exc) from exc
            except sa_exc.DBAPIError as exc:
                if _timed_out(exc):
                    raise self._unavailable(exc) from exc
                raise

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        """On SQLite, this process's transactions take turns here, first come first served. SQLite has
        one write lock per file; pooled connections that all begin at once otherwise contend for it
        in SQLite's busy handler, which sleeps up to 100 ms between attempts: 1,000 saves at once
        spent more time asleep there than working. Readers never wait (WAL). Other processes on the
        same file still meet the busy handler, as before. PostgreSQL's row locks need no turns."""
        if self.backend != "sqlite" or _WRITING.get():
            yield
            return
        loop = asyncio.get_running_loop()
        if self._writers is None or self._writers[0] is not loop:
            self._writers = (loop, asyncio.Lock())  # a store used from another event loop gets its own
        async with self._writers[1]:
            mine = _WRITING.set(True)
            try:
                yield
            finally:
                _WRITING.reset(mine)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection. Any failure to obtain one (refused, unknown database, bad credentials,
        too many clients, pool exhausted) means the store is unavailable, whatever its SQL class."""
        conn = self._engine.connect()
        try:
            await conn.start()
        except _CONNECT_FAILURES as exc:
            raise self._unavailable(exc) from exc
        try:
            yield conn
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc
        except sa_exc.DBAPIError as exc:
            if exc.connection_invalidated or _timed_out(exc):
                raise self._unavailable(exc) from exc
            raise
        finally:
            await conn.close()

    def _insert_ignore(self, table: Table) -> Insert:
        """``INSERT ... ON CONFLICT DO NOTHING``: the unique constraints decide, and ``rowcount``
        tells whether this caller won, without an aborted transaction to recover from."""
        if self.backend == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers proceed while a writer holds the lock; foreign keys are off by default.
        _use_wal(cursor)
        # In WAL mode NORMAL still never corrupts the file; it may lose the last commits on power loss
        # (not on a crash of the process), and saves one fsync per commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted rows are overwritten with zeros, not left in free pages: an erased person's data must
        # not be readable in the file afterwards (the erasure also checkpoints the WAL, where the
        # pages' earlier images stay otherwise).
        cursor.execute("PRAGMA secure_delete=ON")
    finally:
        cursor.close()


WAL_ATTEMPTS = 40  # switching a new file to WAL needs it to itself; several workers starting at once wait
WAL_RETRY_S = 0.05  # ... up to 2 s in all, and only on a file that is not yet in WAL mode


def _use_wal(cursor: Any) -> None:
    """Put the file in WAL mode (it stays so). SQLite answers "database is locked" at once, without
    its busy timeout, when another connection holds the file while this one asks: retry briefly."""
    cursor.execute("PRAGMA journal_mode")
    row = cursor.fetchone()
    if row is not None and str(row[0]).lower() == "wal":
        return
    for attempt in range(WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(WAL_RETRY_S)


def stored_document(row: Any) -> StoredDocument:
    """A ``documents`` row as the store hands it out."""
    return StoredDocument(
        user_id=row["user_id"],
        kind=row["kind"],
        doc_id=row["doc_id"],
        body=row["body"],
        version=int(row["version"]),
        updated_at=row["updated_at"],
    )
