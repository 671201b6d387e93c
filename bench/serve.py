"""The bench's child processes: the service (uvicorn) or the offline engine, on a loopback port.

Run as ``python -m bench.serve service|engine|forwarder`` (the forwarder, the relay scenario's
baseline, passes every message to ``BENCH_FORWARD_TO`` untouched). Settings come from
``COMPANION_*`` variables, as for ``companion serve``. The child prints ``READY <port>`` on stdout
once it listens, runs until SIGTERM or SIGINT, and collects garbage on SIGUSR1 (so the parent can
read a settled RSS from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import resource
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

START_POLL_S = 0.01  # how often the child checks whether uvicorn is listening yet
START_POLLS = 1000  # ...and for how long (10 s) before it gives up
PARENT_POLL_S = 1.0  # how soon a child notices that the bench has gone


def raise_open_files_limit() -> int:
    """1,000 sessions hold ~4,000 sockets across the processes: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop when installed (what uvicorn picks in production), else the default loop.

    ``BENCH_LOOP=asyncio`` forces the default loop: py-spy cannot see Python frames under uvloop.
    """
    if os.environ.get("BENCH_LOOP") == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def _install_profiler(loop: asyncio.AbstractEventLoop, role: str) -> None:
    """With ``BENCH_PROFILE=<dir>``, SIGUSR2 starts pyinstrument (not a dependency of the project:
    ``pip install pyinstrument``) and the next SIGUSR2 writes ``<dir>/<role>.txt``."""
    directory = os.environ.get("BENCH_PROFILE")
    if not directory:
        return
    from pyinstrument import Profiler

    running: list[Profiler] = []

    def toggle() -> None:
        if not running:
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
            running.append(profiler)
            return
        profiler = running.pop()
        profiler.stop()
        report = profiler.output_text(unicode=True, show_all=True)
        Path(directory, f"{role}.txt").write_text(report)

    loop.add_signal_handler(signal.SIGUSR2, toggle)


async def _exit_with_parent(stop: Callable[[], None]) -> None:
    """The bench stops its children; should it die first, they stop by themselves."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_POLL_S)
    stop()


def _announce(port: int) -> None:
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()


async def _service() -> None:
    import uvicorn

    from companion import gcpolicy
    from companion.app import create_app
    from companion.cli import server_config
    from companion.settings import Settings

    settings = Settings()
    app = create_app(settings)
    server = uvicorn.Server(
        server_config(  # as ``companion serve`` runs: h11 with a bounded request head, no deflate
            app,
            "127.0.0.1",
            settings.port,
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
            backlog=4096,  # 1,000 clients connect in bursts
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(START_POLLS):
        if server.started or task.done():
            break
        await asyncio.sleep(START_POLL_S)
    if not server.started:
        task.cancel()
        raise SystemExit("the service did not start")
    gcpolicy.settle()  # as ``companion serve`` does once started
    # Signal handlers before READY: the bench may signal as soon as it reads it (SIGUSR2 kills otherwise).
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, gc.collect)
    _install_profiler(asyncio.get_running_loop(), "service")
    _announce(int(server.servers[0].sockets[0].getsockname()[1]))

    def stop() -> None:
        server.should_exit = True

    watchdog = asyncio.create_task(_exit_with_parent(stop))
    try:
        await task
    finally:
        watchdog.cancel()  # uvicorn handles SIGINT/SIGTERM itself and returns


async def _engine() -> None:
    from companion import gcpolicy
    from companion.localmodel.server import LocalModelServer

    server = LocalModelServer()
    await server.start("127.0.0.1", 0)
    # The engine keeps every finished session for tests to inspect; the bench runs thousands.
    server.all_sessions = _Discard()
    gcpolicy.settle()  # as ``companion local-model`` does
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, gc.collect)
    _install_profiler(loop, "engine")
    _announce(server.port)
    watchdog = asyncio.create_task(_exit_with_parent(stop.set))
    try:
        await stop.wait()
    finally:
        watchdog.cancel()
        await server.close()


async def _forwarder() -> None:
    from bench.forwarder import start

    server = await start(os.environ["BENCH_FORWARD_TO"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, gc.collect)
    _install_profiler(loop, "forwarder")
    _announce(int(next(iter(server.sockets)).getsockname()[1]))
    watchdog = asyncio.create_task(_exit_with_parent(stop.set))
    try:
        await stop.wait()
    finally:
        watchdog.cancel()
        server.close()
        await server.wait_closed()


class _Discard(list[Any]):
    """A list that keeps nothing."""

    def append(self, item: Any) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=("service", "engine", "forwarder"))
    args = parser.parse_args()
    raise_open_files_limit()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runs: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
        "service": _service,
        "engine": _engine,
        "forwarder": _forwarder,
    }
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(runs[args.role]())


if __name__ == "__main__":
    main()
