"""The running system under test: the store, the engine and the service processes, and a pool of
idle live sessions that scenarios grow and shrink."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from bench.config import BenchConfig
from bench.data import ADMIN_TOKEN, Seeded, pool_user, seed
from bench.net import HttpConnection, HttpResponse, Realtime
from bench.procs import Child, start_child
from companion import gcpolicy

OPEN_CONCURRENCY = 32  # sessions opened at once; each start is a handshake plus a confirmed update
CLOSE_SETTLE_TIMEOUT_S = 30.0  # the service notices closed clients within milliseconds; bounded anyway
POLL_S = 0.05
WARMUP_SESSIONS = 5  # opened and closed before the memory baseline, so lazy imports are not counted
SAVE_USER_PREFIX = "bench-save-k"
MAX_USER = "bench-max"
PROFILE_WRITE_TIMEOUT_S = 30.0  # rendering a long pyinstrument report takes a while
ENGINE_PATH = "/v1/realtime?model=gpt-realtime"


async def _spawn(workdir: Path, env: dict[str, str]) -> tuple[Child, Child, Child]:
    """The engine, then the service and the bare forwarder (the relay's baseline) pointed at it."""
    engine_env = {k: v for k, v in env.items() if k.startswith("BENCH_")}
    engine = await asyncio.to_thread(start_child, "engine", engine_env, workdir / "engine.log")
    service_env = {**env, "COMPANION_UPSTREAM_URL": f"ws://127.0.0.1:{engine.port}/v1/realtime"}
    forwarder_env = {**engine_env, "BENCH_FORWARD_TO": f"ws://127.0.0.1:{engine.port}{ENGINE_PATH}"}
    started = [engine]
    try:
        service = await asyncio.to_thread(start_child, "service", service_env, workdir / "service.log")
        started.append(service)
        forwarder = await asyncio.to_thread(
            start_child, "forwarder", forwarder_env, workdir / "forwarder.log"
        )
    except BaseException:
        for child in started:
            child.stop()
        raise
    return engine, service, forwarder


@dataclass
class PoolSession:
    user_id: str
    client: Realtime
    session_id: str = ""


@dataclass
class Harness:
    config: BenchConfig
    workdir: Path
    seeded: Seeded
    engine: Child
    service: Child
    forwarder: Child
    http: HttpConnection
    store_name: str
    pool: list[PoolSession] = field(default_factory=list)
    baseline_rss_kb: dict[str, int] = field(default_factory=dict)
    profile_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    # ---- start and stop --------------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        config: BenchConfig,
        only: frozenset[str],
        *,
        database_url: str | None = None,
        profile: Path | None = None,
    ) -> Harness:
        workdir = Path(tempfile.mkdtemp(prefix="companion-bench-"))
        extra = {f"{SAVE_USER_PREFIX}{k}": "realistic" for k in config.save_k}
        if config.max_profile_samples:
            extra[MAX_USER] = "max"
        pool = max(config.pool_size(only), WARMUP_SESSIONS)
        seeded = await seed(workdir, pool=pool, extra=extra, database_url=database_url)
        # The load generator as the service: its own collections' pauses would count as latency on
        # every path (up to 660 ms with the default thresholds and a thousand clients).
        gcpolicy.settle()
        env = {
            "COMPANION_DATA_DIR": str(workdir),
            "COMPANION_ADMIN_TOKEN": ADMIN_TOKEN,
            "COMPANION_UPSTREAM": "local",
            "COMPANION_PORT": "0",
            "COMPANION_LOG_LEVEL": "WARNING",
            # Every pool person has the demo person's doses: at 07:00 and 08:00 their time the care
            # loop would speak reminders into a thousand sessions, and each run would depend on the hour.
            "COMPANION_REMINDERS": "false",
            # save_to_confirmed opens K sessions of one person on one device token: beyond the limits
            # a real household needs (3 and 2), which it measures nothing about
            "COMPANION_MAX_SESSIONS_PER_PERSON": str(max(3, *config.save_k)),
            "COMPANION_MAX_SESSIONS_PER_DEVICE": str(max(2, *config.save_k)),
        }
        if database_url:
            env["COMPANION_DATABASE_URL"] = database_url
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
            env["BENCH_PROFILE"] = str(workdir)  # the children write there; profile_stop moves them
        try:
            engine, service, forwarder = await _spawn(workdir, env)
        except BaseException:
            await seeded.close()
            raise
        http = await HttpConnection.open(service.port)
        harness = cls(
            config, workdir, seeded, engine, service, forwarder, http, seeded.services.store.backend
        )
        harness.profile_dir = profile
        harness.env = env
        try:
            await harness._warm_up()
        except BaseException:
            await harness.__aexit__(None, None, None)
            raise
        return harness

    async def restart(self) -> None:
        """Fresh service and engine processes (same store), so that a scenario does not inherit the
        heap, the remembered closed sessions and the garbage of the ones before it."""
        await self.resize_pool(0)
        await self.http.close()
        for child in self.children:
            child.stop()
        self.engine, self.service, self.forwarder = await _spawn(self.workdir, self.env)
        self.http = await HttpConnection.open(self.service.port)
        self.profile_start()  # with --profile, the report covers what follows the last restart
        await self._warm_up()

    async def _warm_up(self) -> None:
        await self.resize_pool(WARMUP_SESSIONS)
        await self.resize_pool(0)
        self.baseline_rss_kb = await self.rss_kb()

    async def stop(self) -> None:
        await self.resize_pool(0)
        await self.http.close()
        for child in self.children:
            child.stop()
        await self.seeded.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.stop()
        finally:
            for child in self.children:
                child.stop()

    @property
    def children(self) -> tuple[Child, ...]:
        return (self.service, self.forwarder, self.engine)

    # ---- addresses and requests ------------------------------------------------------------------

    @property
    def service_ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.service.port}/v1/realtime"

    @property
    def engine_ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.engine.port}{ENGINE_PATH}"

    @property
    def forwarder_ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.forwarder.port}/v1/realtime"

    @property
    def care_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.seeded.caregiver_token}"}

    async def get(self, path: str) -> HttpResponse:
        response = await self.http.request("GET", path, self.care_headers)
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {response.body[:300]!r}")
        return response

    async def live_session_ids(self) -> dict[str, list[str]]:
        """user id -> ids of its live sessions, as the service lists them."""
        found: dict[str, list[str]] = {}
        for session in (await self.get("/realtime/sessions")).json()["sessions"]:
            if session["status"] == "active":
                found.setdefault(session["userId"], []).append(session["id"])
        return found

    # ---- sessions --------------------------------------------------------------------------------

    async def open_clients(self, user_ids: list[str]) -> list[Realtime]:
        """One live session through the service per entry (a user may appear more than once)."""
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)

        async def one(user_id: str) -> Realtime:
            async with gate:
                return await Realtime.open(self.service_ws_url, self.seeded.device_tokens[user_id])

        return list(await asyncio.gather(*(one(u) for u in user_ids)))

    async def close_clients(self, clients: list[Realtime]) -> None:
        await asyncio.gather(*(c.close() for c in clients))
        await self.wait_live_at_most(len(self.pool))

    async def wait_live_at_most(self, count: int) -> None:
        deadline = time.monotonic() + CLOSE_SETTLE_TIMEOUT_S
        while sum(len(v) for v in (await self.live_session_ids()).values()) > count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service still has more than {count} live sessions")
            await asyncio.sleep(POLL_S)

    async def resize_pool(self, size: int) -> None:
        """Grow (opening sessions of pool users in order) or shrink (closing the newest) the pool."""
        if size > len(self.pool):
            users = [pool_user(i) for i in range(len(self.pool), size)]
            clients = await self.open_clients(users)
            self.pool += [PoolSession(u, c) for u, c in zip(users, clients, strict=True)]
            ids = await self.live_session_ids()
            for member in self.pool:
                member.session_id = ids[member.user_id][0]
        elif size < len(self.pool):
            closing, self.pool = self.pool[size:], self.pool[:size]
            await asyncio.gather(*(m.client.close() for m in closing))
            await self.wait_live_at_most(size)

    # ---- profiling (``--profile``) ----------------------------------------------------------------

    def profile_start(self) -> None:
        if self.profile_dir is not None:
            for child in self.children:
                os.kill(child.pid, signal.SIGUSR2)

    async def profile_stop(self, scenario: str) -> None:
        """Stop both profilers; move their reports to ``<profile dir>/<scenario>-<role>.txt``."""
        if self.profile_dir is None:
            return
        for child in self.children:
            report = self.workdir / f"{child.role}.txt"
            report.unlink(missing_ok=True)
            os.kill(child.pid, signal.SIGUSR2)
            deadline = time.monotonic() + PROFILE_WRITE_TIMEOUT_S
            while not report.exists() and time.monotonic() < deadline:
                await asyncio.sleep(POLL_S)
            await asyncio.sleep(POLL_S)  # the file is written in one call; let it finish
            if report.exists():
                shutil.move(report, self.profile_dir / f"{scenario}-{child.role}.txt")

    # ---- measurements ----------------------------------------------------------------------------

    async def rss_kb(self) -> dict[str, int]:
        service, engine = await asyncio.gather(
            asyncio.to_thread(self.service.rss_kb), asyncio.to_thread(self.engine.rss_kb)
        )
        return {"service": service, "engine": engine}

    def cpu_s(self) -> dict[str, float]:
        return {child.role: child.cpu_s() for child in self.children}

    def check_alive(self) -> None:
        for child in self.children:
            child.check_alive()
