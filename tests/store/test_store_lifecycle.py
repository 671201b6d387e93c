"""Migrations, URLs, health and behaviour when the database is not there."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from companion.errors import InvalidInput, StoreUnavailable
from companion.store import SqlStore, open_store
from companion.store.schema import metadata
from companion.store.sql import _upgrade_to_head

CLOSED_PORT_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/x"


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, never migrated database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    url: str = request.getfixturevalue("postgres_databases").create()
    return url


async def _inspect(url: str, fn: Any) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def test_migrate_twice_is_harmless(store: SqlStore, store_url: str) -> None:
    doc = await store.put("u1", "profile", "main", {"a": "ב"}, expected_version=None)
    await store.migrate()
    await store.migrate()
    assert await store.get("u1", "profile", "main") == doc
    assert await _inspect(store_url, _revision) == "0009"


async def test_concurrent_first_migrations(fresh_url: str) -> None:
    """Several workers starting at once on an empty database must all succeed."""
    stores = [open_store(fresh_url) for _ in range(3)]
    try:
        await asyncio.gather(*(s.migrate() for s in stores))
        doc = await stores[0].put("u1", "profile", "main", {}, expected_version=None)
        assert await stores[2].get("u1", "profile", "main") == doc
    finally:
        for s in stores:
            await s.close()
    assert await _inspect(fresh_url, _revision) == "0009"


async def _migrated_one_by_one(url: str) -> None:
    """Every migration in turn from the first, as a database made before the newest ones has them."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: _upgrade_to_head(c, build_new=False))
    finally:
        await engine.dispose()


def _schema(conn: Connection) -> dict[str, Any]:
    """Everything the database says about the store's tables, in a comparable form."""
    found = inspect(conn)
    tables: dict[str, Any] = {}
    for name in sorted(found.get_table_names()):
        tables[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(name)
            ],
            "primary key": found.get_pk_constraint(name)["constrained_columns"],
            "foreign keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in found.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (i["name"], tuple(str(c) for c in i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(name)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(name)),
            "checks": sorted(" ".join(c["sqltext"].split()) for c in found.get_check_constraints(name)),
        }
    tables["revision"] = MigrationContext.configure(conn).get_current_revision()
    return tables


async def test_schema_matches_table_definitions(fresh_url: str) -> None:
    """The hand-written migrations, run one by one, and ``schema.py`` describe the same tables."""
    await _migrated_one_by_one(fresh_url)

    def diff(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"]

    assert await _inspect(fresh_url, diff) == []


async def test_a_new_database_is_built_as_the_migrations_would_build_it(
    fresh_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A new database is made from ``schema.py`` in one step; what the database then holds (columns,
    types, defaults, keys, indexes, constraints, the revision) is what every migration run in turn
    makes, and a later start finds it at the newest revision."""
    if fresh_url.startswith("sqlite"):
        stepwise_url = f"sqlite+aiosqlite:///{tmp_path / 'stepwise.db'}"
    else:
        stepwise_url = request.getfixturevalue("postgres_databases").create()
    await _migrated_one_by_one(stepwise_url)
    store = open_store(fresh_url)
    try:
        await store.migrate()
        doc = await store.put("u1", "profile", "main", {"a": 1}, expected_version=None)
        await store.migrate()  # at the newest revision: nothing to do
        assert await store.get("u1", "profile", "main") == doc
    finally:
        await store.close()
    built, stepwise = await _inspect(fresh_url, _schema), await _inspect(stepwise_url, _schema)
    assert set(built) >= set(metadata.tables)
    assert built == stepwise


async def test_open_store_creates_sqlite_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "companion.db"
    s = open_store(f"sqlite:///{path}")  # bare sqlite:// gets the async driver
    try:
        await s.migrate()
        assert path.exists()
        assert await s.health() == {"backend": "sqlite", "ok": True}
    finally:
        await s.close()


@pytest.mark.parametrize("url", ["mysql+aiomysql://x@localhost/db", "not a url"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        open_store(url)


async def test_unreachable_postgres_is_store_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = open_store(CLOSED_PORT_URL)
    try:
        with pytest.raises(StoreUnavailable):
            await s.migrate()
        with pytest.raises(StoreUnavailable):
            await s.get("u1", "profile", "main")
        with pytest.raises(StoreUnavailable) as info:
            await s.put("u1", "profile", "main", {"dx": "SECRET-BODY"}, expected_version=None)
        with pytest.raises(StoreUnavailable):
            await s.load_user("u1")
        with pytest.raises(StoreUnavailable):
            await s.find_token("abc")
        health = await s.health()
        assert health["backend"] == "postgresql"
        assert health["ok"] is False
    finally:
        await s.close()
    assert info.value.status == 503
    assert "SECRET" not in str(info.value)
    assert "SECRET" not in str(info.value.__cause__)
    assert "SECRET" not in caplog.text


async def test_unknown_postgres_database_is_store_unavailable(postgres_url: str) -> None:
    s = open_store(postgres_url.rsplit("/", 1)[0] + "/companion_no_such_database")
    try:
        with pytest.raises(StoreUnavailable):
            await s.get("u1", "profile", "main")
    finally:
        await s.close()


async def test_unopenable_sqlite_is_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    url = f"sqlite+aiosqlite:///{blocker / 'companion.db'}"
    with pytest.raises(StoreUnavailable):
        open_store(url)  # cannot create the parent directory
    s = SqlStore(url)
    try:
        with pytest.raises(StoreUnavailable):
            await s.get("u1", "profile", "main")
        assert (await s.health())["ok"] is False
    finally:
        await s.close()
        await _aiosqlite_threads_finished()


async def _aiosqlite_threads_finished() -> None:
    """aiosqlite stops the worker thread of a failed connect without awaiting it; let those threads
    finish while this test's event loop is still open, or they report "Event loop is closed" into
    whichever test runs next."""
    for _ in range(200):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            return
        await asyncio.sleep(0.01)


def test_sqlite_text_is_stored_readably(tmp_path: Path) -> None:
    """Hebrew is stored as UTF-8, not as \\u escapes, so the file stays greppable and compact."""
    path = tmp_path / "c.db"

    async def write() -> None:
        s = open_store(f"sqlite+aiosqlite:///{path}")
        try:
            await s.migrate()
            await s.put("u1", "profile", "main", {"name": "שלום"}, expected_version=None)
        finally:
            await s.close()

    asyncio.run(write())
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT body FROM documents")).scalar_one()
    engine.dispose()
    assert raw == '{"name":"שלום"}'
