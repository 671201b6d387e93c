"""Shared database fixtures: throwaway PostgreSQL databases for tests that need the real thing.

``COMPANION_TEST_POSTGRES_URL`` names a maintenance database on the test server (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``). Each session creates randomly named
``companion_test_<hex>`` databases next to it and drops them at the end, so runs never share state
and never touch a real database. An unreachable server skips, or fails under ``CI=true``
(see ``services.require_service``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

from bench.redis_server import RedisServer
from services import require_service, tcp_unreachable

# The demo person's doses are at fixed local hours (07:00 and 08:00 in Jerusalem): a service under test
# would speak them into whatever conversation a test is having at that hour. Tests of reminders drive
# their own ReminderService with a clock; every other service under test (in this process or started
# as a subprocess, which inherits the environment) leaves reminders alone.
os.environ.setdefault("COMPANION_REMINDERS", "false")

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to completion even when called from inside a running event loop (async fixtures)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


class PostgresDatabases:
    """Creates databases on the test server and remembers them for cleanup."""

    def __init__(self, maintenance_url: URL) -> None:
        self.maintenance_url = maintenance_url
        self.created: list[str] = []

    def _dsn(self, url: URL) -> str:
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self._dsn(self.maintenance_url), timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create(self) -> str:
        """A new empty database; returns its SQLAlchemy async URL."""
        name = f"companion_test_{secrets.token_hex(6)}"
        _run(self._execute(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.maintenance_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.created:
            _run(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.created.clear()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    url = make_url(os.environ.get("COMPANION_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    databases = PostgresDatabases(url)
    shown = url.render_as_string(hide_password=True)
    try:
        _run(databases._execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:  # OSError includes timeouts
        require_service("PostgreSQL", f"at {shown}: {type(exc).__name__}: {exc}")
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def postgres_url(postgres_databases: PostgresDatabases) -> str:
    """One empty database shared by the session; tests that use it clean up their own tables."""
    return postgres_databases.create()


# ---- Redis ------------------------------------------------------------------------------------------

DEFAULT_REDIS = ("127.0.0.1", 6379)
REDIS_DATABASES = range(1, 16)  # database 0 holds only the leases below; tests get one of 1..15 each
REDIS_LEASE_S = 900  # a crashed run's lease lapses by itself


@pytest.fixture
def redis_url() -> Iterator[str]:
    """``redis://127.0.0.1:6379/<n>``: a database of the machine's Redis leased to this test alone (test
    runs in parallel each take another), emptied before and after. Skips, or fails under ``CI=true``,
    when Redis is not there."""
    import redis

    host, port = DEFAULT_REDIS
    why = tcp_unreachable(host, port)
    if why is not None:
        require_service("Redis", why)
    leases = redis.Redis(host=host, port=port, db=0)
    owner = secrets.token_hex(8)
    chosen = next(
        (
            db
            for db in REDIS_DATABASES
            if leases.set(f"companion-test-lease:{db}", owner, nx=True, ex=REDIS_LEASE_S)
        ),
        None,
    )
    if chosen is None:
        leases.close()
        pytest.fail("every Redis test database is leased (15 tests at once?)")
    database = redis.Redis(host=host, port=port, db=chosen)
    database.flushdb()
    try:
        yield f"redis://{host}:{port}/{chosen}"
    finally:
        database.flushdb()
        database.close()
        if leases.get(f"companion-test-lease:{chosen}") == owner.encode():
            leases.delete(f"companion-test-lease:{chosen}")
        leases.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A ``redis-server`` of the test's own (no persistence) that it may stop and start again; the
    machine's Redis is never stopped. Skips, or fails under ``CI=true``, without redis-server."""
    if RedisServer.binary() is None:
        require_service("redis-server", "not installed (Debian package redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
