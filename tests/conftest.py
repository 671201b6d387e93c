"""What kind each test is (markers), and shared database fixtures: throwaway PostgreSQL databases and
leased Redis databases for tests that need the real thing.

Every test gets exactly one of four markers, from where it lives (``pytest_collection_modifyitems``):
``unit`` (plain data and in-memory fakes: no socket, no database, no process), ``integration`` (the
store, HTTP in process, live sessions over loopback sockets, services as processes), ``browser``
(headless Chromium) and ``cluster`` (several instances and Redis, ``tests/cluster/``). A module may say
its own kind with ``pytestmark``. ``./scripts/test -m unit`` runs the fast part.

The suite runs on every core (pytest-xdist, ``scripts/test``): each worker is a session of its own, so
session fixtures (a PostgreSQL database, a browser) are per worker, and every server binds a free port.
Workers take whole modules (``pytest_xdist_make_scheduler`` below): a module's browser and service are
module-scoped, so they are built once, on one worker. The longest modules are handed out first.

``COMPANION_TEST_POSTGRES_URL`` names a maintenance database on the test server (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``). Each session creates randomly named
``companion_test_<hex>`` databases next to it and drops them at the end, so runs never share state
and never touch a real database. An unreachable server skips, or fails under ``CI=true``
(see ``services.require_service``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
from collections.abc import Coroutine, Generator, Iterator, Sequence
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

# ---- kinds of tests -----------------------------------------------------------------------------------

KINDS: dict[str, str] = {
    "unit": "plain data and in-memory fakes: no socket, database or process (./scripts/test -m unit)",
    "integration": "the store, HTTP in process, live sessions over loopback sockets, service processes",
    "browser": "headless Chromium (Playwright driving /usr/bin/chromium)",
    "cluster": "several instances over Redis and PostgreSQL (tests/cluster/)",
}
# Paths (relative to tests/, a folder ending in "/" or a file) whose tests are units; first match wins
# after the rules in ``kind_of``. Anything not named here is an integration test.
UNIT_PATHS: Sequence[str] = (
    "prompt/",
    "photos/test_choose.py",
    "realtime_protocol/",
    "js/",
    "realtime/test_audio_fast_path.py",
    "realtime/test_fakes.py",
    "realtime/test_greeting.py",
    "realtime/test_music_guard_names.py",
    "realtime/test_policy.py",
    "realtime/test_reconnect.py",
    "realtime/test_mirror.py",
    "realtime/test_endings.py",
    "localmodel/test_localmodel_engine.py",
    "localmodel/test_localmodel_companion_gender.py",
    "localmodel/test_localmodel_session_values.py",
    "localmodel/test_localmodel_talk_rules.py",
    "localmodel/test_localmodel_photos.py",
    "care/test_schedule.py",
    "elder/test_fetch_timeouts.py",
    "care/test_delivery_messages.py",
    "test_companion_voice.py",
    "test_gcpolicy.py",
    "test_settings.py",
    "importers/test_mapping.py",
    "importers/test_plan.py",
)
ORDER = ("browser", "cluster", "integration", "unit")  # the order tests are handed to the workers
# The modules that take longest, longest first: they start at once, and the many short modules fill in
# around them, so no worker is left running one of them alone at the end.
LONGEST = (
    "elder/test_app_hearing_browser.py",
    "elder/test_app_browser.py",
    "bench/test_bench_smoke_streams.py",
    "cluster/test_instances.py",
    "live/test_reconnection.py",
    "cluster/test_outages.py",
    "live/test_reminders_said_live.py",
    "api/test_openapi_conformance.py",
    "elder/test_reminders_page.py",
    "dashboard/test_dashboard_browser.py",
    "photos/test_photos_browser.py",
    "dashboard/test_conversations_browser.py",
    "bench/test_bench_smoke.py",
)
REAL_PASSWORDS = "every password hashed and checked anew (see ``remembered_passwords``)"
BROWSER_WORDS = ("playwright", "page_driver")  # a module that drives Chromium names one of these
SERVICE_FIXTURES = frozenset(
    {"postgres_url", "postgres_databases", "postgres_empty_url", "redis_url", "own_redis"}
)
TESTS = Path(__file__).resolve().parent


def kind_of(path: Path, fixtures: Sequence[str], source: str) -> str:
    relative = path.resolve().relative_to(TESTS).as_posix()
    if relative.startswith("cluster/"):
        return "cluster"
    if any(word in source for word in BROWSER_WORDS):
        return "browser"
    if SERVICE_FIXTURES.intersection(fixtures):
        return "integration"
    if any(relative == p or (p.endswith("/") and relative.startswith(p)) for p in UNIT_PATHS):
        return "unit"
    return "integration"


def pytest_configure(config: pytest.Config) -> None:
    for name, what in KINDS.items():
        config.addinivalue_line("markers", f"{name}: {what}")
    config.addinivalue_line("markers", f"real_passwords: {REAL_PASSWORDS}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    sources: dict[Path, str] = {}
    for item in items:
        if any(item.get_closest_marker(name) for name in KINDS):
            continue  # the module said its kind itself
        path = item.path
        if path not in sources:
            sources[path] = path.read_text(errors="replace")
        kind = kind_of(path, getattr(item, "fixturenames", ()), sources[path])
        item.add_marker(getattr(pytest.mark, kind))
    # The longest modules first, then the slowest kinds, so that the workers start them at once and the
    # many short tests fill in around them; a long module handed out last would leave one worker running
    # it alone at the end. (A stable sort: otherwise the order of the files and their tests stays.)
    items.sort(key=lambda item: (first_of(item.path), kind_rank(item)))


def first_of(path: Path) -> int:
    relative = path.resolve().relative_to(TESTS).as_posix()
    return LONGEST.index(relative) if relative in LONGEST else len(LONGEST)


def kind_rank(item: pytest.Item) -> int:
    return ORDER.index(next(m.name for m in item.iter_markers() if m.name in KINDS))


COLLECTED = TESTS / "__pycache__" / "collected-once"  # a collection has cached every rewritten module


@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, None, None]:
    """On a fresh checkout, one worker collects first and the others wait for it. Each worker collects
    every module, and pytest rewrites a module's asserts (about 3.5 of a worker's 7.5 CPU-seconds of
    collection) unless an earlier process has cached the result: the first worker caches it, and the
    others then collect together from the cache. Afterwards (``COLLECTED`` is there) nobody waits."""
    if "PYTEST_XDIST_WORKER" not in os.environ or COLLECTED.exists():
        yield
        return
    COLLECTED.parent.mkdir(exist_ok=True)
    with (COLLECTED.parent / "collecting.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker holds it while it collects
        if COLLECTED.exists():
            fcntl.flock(lock, fcntl.LOCK_UN)
            yield
            return
        try:
            yield
        finally:
            COLLECTED.touch()


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Whole modules to a worker, in the order above (xdist's ``loadfile`` without its reordering by
    test count). Module-scoped fixtures (a Chromium, a service process, a pair of instances) are then
    built once: under ``loadgroup`` they were built again on every worker that got one of the module's
    tests, since pytest 9.2 no longer lets xdist carry the group in the test's id."""
    from xdist.scheduler import LoadFileScheduling

    config.option.loadscopereorder = False
    return LoadFileScheduling(config, log)


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to completion even when called from inside a running event loop (async fixtures)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


class PostgresDatabases:
    """Creates databases on the test server and remembers them for cleanup."""

    def __init__(self, maintenance_url: URL) -> None:
        self.maintenance_url = maintenance_url
        self.created: list[str] = []
        self.free: list[str] = []  # URLs of databases a test gave back, their tables emptied

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

    def lease(self) -> str:
        """An empty database for one test: one an earlier test gave back (at the schema's head, every
        table emptied), else a new one. Building a database costs the server more than emptying one."""
        return self.free.pop() if self.free else self.create()

    def give_back(self, url: str) -> None:
        """Empty every table but the schema's version and keep the database for the next lease; a
        database that cannot be emptied at once (a connection still holds a lock) is not reused."""
        try:
            _run(self._empty(url))
        except (OSError, asyncpg.PostgresError):
            return
        self.free.append(url)

    async def _empty(self, url: str) -> None:
        conn = await asyncpg.connect(self._dsn(make_url(url)), timeout=5)
        try:
            await conn.execute("SET lock_timeout = '2s'")
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
            if tables:
                names = ", ".join(f'"{row["tablename"]}"' for row in tables)
                await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()

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


@pytest.fixture
def postgres_empty_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """An empty database of the test's own (``PostgresDatabases.lease``): new, or at the schema's head
    with no rows. Given back when the test is over."""
    url = postgres_databases.lease()
    yield url
    postgres_databases.give_back(url)


@pytest.fixture(scope="session")
def postgres_url(postgres_databases: PostgresDatabases) -> str:
    """One empty database shared by the session; tests that use it clean up their own tables."""
    return postgres_databases.create()


# ---- Redis ------------------------------------------------------------------------------------------

DEFAULT_REDIS = ("127.0.0.1", 6379)
REDIS_DATABASES = range(1, 16)  # database 0 holds only the leases below; tests get one of 1..15 each
REDIS_LEASE_S = 900  # a crashed run's lease lapses by itself


@contextlib.contextmanager
def _leased_redis() -> Iterator[str]:
    """``redis://127.0.0.1:6379/<n>``: a database of the machine's Redis leased to its holder alone
    (test runs in parallel each take another), emptied before and after. Skips, or fails under
    ``CI=true``, when Redis is not there."""
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
def redis_url() -> Iterator[str]:
    """A Redis database of the test's own (see ``_leased_redis``)."""
    with _leased_redis() as url:
        yield url


@pytest.fixture(scope="module")
def module_redis_url() -> Iterator[str]:
    """A Redis database shared by the module's tests, for what they build once (a pair of instances)."""
    with _leased_redis() as url:
        yield url


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


# ---- passwords --------------------------------------------------------------------------------------

_HASHES: dict[str, str] = {}
_CHECKS: dict[tuple[str, str], bool] = {}


@pytest.fixture(autouse=True)
def remembered_passwords(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-process service's argon2 work (OWASP's parameters: about 70 ms of CPU a call) is done once
    per worker for each password and each (hash, password) pair, and its real result reused: hundreds
    of tests create the demo's caregiver and sign in with the same few passwords. A password's hash is
    then the same each time it is made (one salt per password per worker). Tests about the passwords
    themselves say ``real_passwords``; services run as processes always hash anew."""
    if request.node.get_closest_marker("real_passwords"):
        return
    from companion.auth.service import AuthService

    original_hash, original_check = AuthService._hash, AuthService._check

    async def remembered_hash(self: AuthService, password: str) -> str:
        if password not in _HASHES:
            _HASHES[password] = await original_hash(self, password)
        return _HASHES[password]

    def remembered_check(self: AuthService, password_hash: str, password: str) -> bool:
        key = (password_hash, password)
        if key not in _CHECKS:
            _CHECKS[key] = original_check(self, password_hash, password)
        return _CHECKS[key]

    monkeypatch.setattr(AuthService, "_hash", remembered_hash)
    monkeypatch.setattr(AuthService, "_check", remembered_check)
