"""Bounded waits on the real PostgreSQL: a statement that runs too long, one that waits too long for a
lock, and a server that stops answering all end with the store's ``StoreTimeout`` (503), and the pool
is usable afterwards. The limits are lowered here; the defaults are checked as the server sees them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from companion.errors import StoreTimeout, StoreUnavailable
from companion.store import SqlStore, open_store
from companion.store._engine import STORE_TIMEOUTS, StoreTimeouts
from companion.store.sql import _MIGRATION_LOCK_KEY

SHORT = StoreTimeouts(statement_s=0.2, lock_s=0.2, command_s=2.0)


@pytest.fixture
async def migrated(postgres_url: str) -> str:
    migrator = open_store(postgres_url)
    try:
        await migrator.migrate()
    finally:
        await migrator.close()
    return postgres_url


@pytest.fixture
async def short(migrated: str) -> AsyncIterator[SqlStore]:
    store = open_store(migrated, timeouts=SHORT)
    try:
        yield store
    finally:
        await store.close()


async def _show(store: SqlStore, setting: str) -> str:
    async with store._read() as conn:
        return str(await conn.scalar(text(f"SHOW {setting}")))


async def test_every_connection_carries_the_statement_and_lock_timeouts(migrated: str) -> None:
    store = open_store(migrated)
    try:
        assert await _show(store, "statement_timeout") == f"{round(STORE_TIMEOUTS.statement_s)}s"
        assert await _show(store, "lock_timeout") == f"{round(STORE_TIMEOUTS.lock_s)}s"
    finally:
        await store.close()
    assert STORE_TIMEOUTS.command_s is not None and STORE_TIMEOUTS.command_s > STORE_TIMEOUTS.statement_s


async def test_a_statement_running_too_long_is_canceled_with_the_stores_error(short: SqlStore) -> None:
    with pytest.raises(StoreTimeout) as caught:
        async with short._read() as conn:
            await conn.execute(text("SELECT pg_sleep(5)"))
    assert isinstance(caught.value, StoreUnavailable) and caught.value.status == 503
    assert "canceling statement due to statement timeout" in caught.value.message
    async with short._read() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1, "the pool is usable afterwards"


async def test_a_write_waiting_too_long_for_a_lock_fails_with_the_stores_error(migrated: str) -> None:
    short = open_store(migrated, timeouts=StoreTimeouts(statement_s=10, lock_s=0.2, command_s=20))
    try:
        await _erase_a_locked_person(short, migrated)
    finally:
        await short.close()


async def _erase_a_locked_person(short: SqlStore, migrated: str) -> None:
    await short.create_user("user-locked")
    dsn = make_url(migrated).set(drivername="postgresql").render_as_string(hide_password=False)
    holder = await asyncpg.connect(dsn, timeout=5)
    try:
        holding = holder.transaction()
        await holding.start()
        await holder.execute("SELECT 1 FROM users WHERE user_id = 'user-locked' FOR UPDATE")
        with pytest.raises(StoreTimeout) as caught:
            await short.erase_user("user-locked", actor="admin")
        assert "lock timeout" in caught.value.message
        await holding.rollback()
    finally:
        await holder.close()
    await short.erase_user("user-locked", actor="admin")  # once the lock is gone, it goes through
    assert not await short.user_exists("user-locked")


async def test_a_server_that_does_not_answer_ends_at_the_command_timeout(short: SqlStore) -> None:
    """The server's own timer is switched off for this transaction, as a hung server would not use it:
    asyncpg's clock ends the wait."""
    assert SHORT.command_s is not None
    with pytest.raises(StoreTimeout):
        await _sleep_without_the_servers_timer(short, SHORT.command_s * 3)
    async with short._read() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1


async def _sleep_without_the_servers_timer(store: SqlStore, seconds: float) -> None:
    async with store._tx() as conn:
        await conn.execute(text("SET LOCAL statement_timeout = 0"))
        await conn.execute(text(f"SELECT pg_sleep({seconds})"))


async def test_migrations_run_without_the_limits(migrated: str) -> None:
    """A migration may rewrite a large table or wait for another replica's: ``migrate`` uses
    connections of its own, unbounded. Here it waits for the migration lock (held by "another
    replica") well past every limit of its store, and then completes."""
    limits = StoreTimeouts(statement_s=0.2, lock_s=0.2, command_s=1.0)
    store = open_store(migrated, timeouts=limits)
    dsn = make_url(migrated).set(drivername="postgresql").render_as_string(hide_password=False)
    other_replica = await asyncpg.connect(dsn, timeout=5)
    try:
        await other_replica.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
        migrating = asyncio.create_task(store.migrate())
        waited = 0.0
        async with asyncio.timeout(30):
            while waited <= limits.command_s + limits.statement_s:  # still waiting, past every limit
                await asyncio.sleep(0.05)
                assert not migrating.done(), "the migration gave up waiting"
                waited = float(await other_replica.fetchval(_WAITING_FOR_THE_LOCK) or 0.0)
        await other_replica.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY)
        async with asyncio.timeout(30):
            await migrating
        assert await _show(store, "statement_timeout") == "200ms", "the store's own connections are bounded"
    finally:
        await other_replica.close()
        await store.close()


_WAITING_FOR_THE_LOCK = """
SELECT extract(epoch FROM clock_timestamp() - query_start) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%' AND pid <> pg_backend_pid()
"""
