"""Fixtures for the care tests: an outbox store on SQLite and PostgreSQL, an HTTP client, and real
receivers on loopback (``receivers.py``).

``care_store_url`` is a migrated, empty database on each backend (a SQLite file, or the session's
PostgreSQL database with its tables emptied), so a test can open, close and reopen stores on it as a
restarted service would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from receivers import USER, CareStore, SmtpReceiver, WebhookReceiver
from sqlalchemy.engine import make_url

from companion.store import open_store
from companion.store.schema import ALL_TABLES


async def _empty_postgres(url: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f"TRUNCATE {', '.join(t.name for t in ALL_TABLES)}")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def care_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'care.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    migrator = open_store(url)
    try:
        await migrator.migrate()
        if request.param == "postgresql":
            await _empty_postgres(url)
        await migrator.create_user(USER)
    finally:
        await migrator.close()
    return url


@pytest.fixture
async def care_store(care_store_url: str) -> AsyncIterator[CareStore]:
    store = CareStore(care_store_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
