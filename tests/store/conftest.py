"""``store``: a migrated, empty ``SqlStore`` on each backend, so every test is a contract test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from companion.store import SqlStore, open_store
from companion.store.schema import ALL_TABLES

BACKENDS = ["sqlite", "postgresql"]


async def truncate_postgres(url: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f"TRUNCATE {', '.join(t.name for t in ALL_TABLES)}")
    finally:
        await conn.close()


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, migrated database: a fresh SQLite file (in a directory ``open_store`` has to
    create), or the session's PostgreSQL database with its tables truncated."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'db' / 'companion.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    migrator = open_store(url)
    try:
        await migrator.migrate()
    finally:
        await migrator.close()
    if request.param == "postgresql":
        await truncate_postgres(url)
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    s = open_store(store_url)
    try:
        yield s
    finally:
        await s.close()
