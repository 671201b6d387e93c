"""``resume``: how long a conversation is without its model after the model's expiry or an abrupt drop,
next to how long a fresh session takes to start.

Runs in the bench process: the offline engine (tone replies: no espeak-ng, no pocketsphinx, so the
figures are the relay's and not the synthesiser's) and the service (uvicorn, ``websockets-sansio``)
on loopback, sharing its event loop, because the bench must end the engine's connections on demand
(:meth:`LocalModelServer.expire`, :meth:`LocalModelServer.drop`) and read the session's own record.

Each run: a client connects (timed to its ``session.created``: the *fresh start*), says one turn
(timed from sending it to the first audio delta: a *healthy turn*), then the model's session expires
(``session_expired`` then close 1001); right after, the client sends its next turn, timed to its
first audio delta (*client-visible*); the relay's own *resume* time is
``session.connections[-1].resume_ms`` (from noticing the loss to relaying on the new model session,
replay included). Then the same after an abrupt drop (no close frame). The ratio is resume / fresh
start, p50 over p50 and p95 over p95, from the same runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import uvicorn

from bench.config import BenchConfig
from bench.net import EVENT_TIMEOUT_S, Realtime
from bench.stats import ROUND, summary_ms
from companion.app import create_app
from companion.demo import DEMO_USER, seed_demo
from companion.localmodel.server import LocalModelServer
from companion.realtime.session import LiveSession
from companion.services import Services
from companion.settings import Settings

ADMIN_TOKEN: Final = "bench-admin-token"
WARMUP_RUNS: Final = 1  # untimed: the first session pays for lazy imports and cold caches
START_POLL_S: Final = 0.01
START_TIMEOUT_S: Final = 10.0  # uvicorn listens within milliseconds; bounded anyway
SETTLE_TIMEOUT_S: Final = 10.0  # a closed client's session leaves the manager within milliseconds
LOSSES: Final = ("expired", "dropped")
TURN: Final = {
    "type": "conversation.item.create",
    "item": {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "שלום, ספר לי משהו על הים"}],
    },
}
RESPOND: Final = {"type": "response.create"}
FIRST_AUDIO: Final = "response.output_audio.delta"


@dataclass
class _Samples:
    fresh: list[float] = field(default_factory=list)
    healthy_turn: list[float] = field(default_factory=list)
    resume: dict[str, list[float]] = field(default_factory=lambda: {loss: [] for loss in LOSSES})
    client: dict[str, list[float]] = field(default_factory=lambda: {loss: [] for loss in LOSSES})


@dataclass
class _System:
    engine: LocalModelServer
    services: Services
    url: str
    token: str


@contextlib.asynccontextmanager
async def _system() -> AsyncIterator[_System]:
    """The offline engine and the service in this process, on loopback, with the demo person seeded."""
    engine = LocalModelServer(speech=False, hearing=False)
    await engine.start()
    with tempfile.TemporaryDirectory(prefix="companion-bench-resume-") as workdir:
        settings = Settings(
            data_dir=Path(workdir), admin_token=ADMIN_TOKEN, upstream="local", upstream_url=engine.url
        )
        app = create_app(settings)
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", ws="websockets-sansio"
            )
        )
        task = asyncio.create_task(server.serve())
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not server.started:
                if task.done():
                    task.result()
                if time.monotonic() > deadline:
                    raise RuntimeError("the service did not start")
                await asyncio.sleep(START_POLL_S)
            port = server.servers[0].sockets[0].getsockname()[1]
            services: Services = app.state.services
            creds = await seed_demo(services)
            yield _System(engine, services, f"ws://127.0.0.1:{port}/v1/realtime", creds.device_token)
        finally:
            server.should_exit = True
            await task
            await engine.close()


async def _first_audio(client: Realtime, since: float) -> float:
    """Send a turn; seconds from ``since`` to its first audio delta (then read to its end)."""
    await client.send(TURN)
    await client.send(RESPOND)
    await client.until(FIRST_AUDIO)
    elapsed = time.perf_counter() - since
    done = await client.until("response.done")
    if done["response"]["status"] != "completed":
        raise RuntimeError(f"a turn ended {done['response']['status']}: {done['response']}")
    return elapsed


def _session(system: _System) -> LiveSession:
    sessions = system.services.sessions.of_user(DEMO_USER)
    if len(sessions) != 1:
        raise RuntimeError(f"expected one live session of the demo person, found {len(sessions)}")
    return sessions[0]


async def _loss(
    system: _System, client: Realtime, end: Callable[[], Awaitable[None]], reason: str
) -> tuple[float, float]:
    """End the model connection with ``end``; the relay's resume time and the client's wait, in s."""
    session = _session(system)
    before = len(session.connections)
    lost = time.perf_counter()
    await end()
    client_wait = await _first_audio(client, lost)
    record = session.connections[-1]
    if len(session.connections) != before + 1 or record.reason.value != reason or record.resume_ms is None:
        raise RuntimeError(f"expected one new model connection ({reason}), got {session.connections}")
    return record.resume_ms / 1000, client_wait


async def _run_once(system: _System, samples: _Samples | None) -> None:
    started = time.perf_counter()
    client = await Realtime.open(system.url, system.token)
    fresh = time.perf_counter() - started
    try:
        turn = await _first_audio(client, time.perf_counter())
        expired = await _loss(system, client, system.engine.expire, "expired")
        dropped = await _loss(system, client, system.engine.drop, "dropped")
    finally:
        await client.close()
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while system.services.sessions.of_user(DEMO_USER):
        if time.monotonic() > deadline:
            raise RuntimeError("the closed client's session is still live")
        await asyncio.sleep(START_POLL_S)
    if samples is None:
        return
    samples.fresh.append(fresh)
    samples.healthy_turn.append(turn)
    for loss, (resume, client_wait) in zip(LOSSES, (expired, dropped), strict=True):
        samples.resume[loss].append(resume)
        samples.client[loss].append(client_wait)


def _ratio(resume: dict[str, Any], fresh: dict[str, Any], key: str) -> float:
    return round(float(resume[key]) / float(fresh[key]), ROUND)


async def run(config: BenchConfig) -> dict[str, Any]:
    samples = _Samples()
    async with _system() as system:
        for _ in range(WARMUP_RUNS):
            await asyncio.wait_for(_run_once(system, None), EVENT_TIMEOUT_S * 6)
        for _ in range(config.resume_runs):
            await asyncio.wait_for(_run_once(system, samples), EVENT_TIMEOUT_S * 6)
    fresh = summary_ms(samples.fresh)
    out: dict[str, Any] = {
        "runs": config.resume_runs,
        "setup": "offline engine and service in the bench process, loopback, tone replies",
        "fresh_start": fresh,
        "healthy_turn_first_audio": summary_ms(samples.healthy_turn),
    }
    for loss in LOSSES:
        resume = summary_ms(samples.resume[loss])
        out[loss] = {
            "resume": resume,
            "client_first_audio": summary_ms(samples.client[loss]),
            "ratio_p50": _ratio(resume, fresh, "p50_ms"),
            "ratio_p95": _ratio(resume, fresh, "p95_ms"),
        }
    return out
