"""Run the benchmarks: ``python -m bench.run [--quick] [--only SCENARIO ...] [--out PATH]``.

Starts the offline engine and the service as separate processes on loopback (so the load generator's
CPU does not count as the service's; ``resume`` runs both in this process, since it ends the engine's
connections on demand and reads the session's own record), seeds a temporary SQLite store (or a
throwaway PostgreSQL database with ``--postgres``), runs the scenarios, writes the results file and the
table in docs/performance.md. Every wait is bounded; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.config import FULL, PRESETS, QUICK, RESULT_KEYS, SCENARIOS, BenchConfig
from bench.harness import Harness
from bench.procs import ROOT, git_commit, memory_gib
from bench.scenarios import build, cluster, imports, recording, relay, resume, sessions, signins
from bench.serve import loop_factory, raise_open_files_limit

DEFAULT_OUT = ROOT / "bench" / "results" / "latest.json"
DEFAULT_DOCS = ROOT / "docs" / "performance.md"
RUN_TIMEOUT_S = 1800.0  # the full run takes a few minutes; anything this long is stuck
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# In this order: memory needs idle sessions that were never refreshed; bulk reuses them; refresh
# shrinks the pool from the largest N down; save and relay want the service otherwise idle.
LIVE: tuple[tuple[str, Callable[[Harness], Awaitable[dict[str, Any]]]], ...] = (
    ("memory", sessions.memory),
    ("bulk", sessions.bulk),
    ("refresh", sessions.refresh),
    ("save_to_confirmed", sessions.save_to_confirmed),
    ("relay", relay.relay),
    ("recording", recording.recording),
    ("signins", signins.signins),  # last: its accounts and lock-out counters stay in the store
)


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def log(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


async def _postgres_database() -> tuple[str, Callable[[], Awaitable[None]]]:
    import asyncpg  # type: ignore[import-untyped]

    name = f"companion_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

    async def drop() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", drop


async def run(
    config: BenchConfig, only: frozenset[str], *, postgres: bool, profile: Path | None
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    started = time.perf_counter()
    if "build" in only:
        log("build")
        results["build"] = build.run(config)
    if "resume" in only:
        log("resume")
        results["resume"] = await resume.run(config)
    if "import" in only:
        log("import (the seed system's people: SQLite and PostgreSQL, files and the Cosmos DB server)")
        results["import"] = await imports.run(config)
    if "cluster" in only:
        log("cluster (two service processes on PostgreSQL and a Redis of the run's own)")
        results["cluster"] = await cluster.run_cluster(config.cluster_samples, warmup=min(config.warmup, 3))
    live = [(name, scenario) for name, scenario in LIVE if name in only]
    if not live:
        return results
    database_url, drop = (await _postgres_database()) if postgres else (None, None)
    try:
        log(f"seeding {config.pool_size(only)} users, starting the engine and the service")
        harness = await Harness.start(config, only, database_url=database_url, profile=profile)
        async with harness:
            results["store"] = harness.store_name
            for name, scenario in live:
                log(f"{name} ({time.perf_counter() - started:.0f} s so far)")
                harness.profile_start()
                # Bulk is reported per store (the issue asks for both); the rest is the run's store.
                key = f"bulk_{harness.store_name}" if name == "bulk" and postgres else name
                results[key] = await scenario(harness)
                await harness.profile_stop(name)
                harness.check_alive()
    finally:
        if drop is not None:
            await drop()
    return results


def merge(out: Path, fresh: dict[str, Any], *, quick: bool, overrides: list[str]) -> dict[str, Any]:
    """Scenarios run now replace their earlier figures; the others stay, marked with their own run."""
    merged: dict[str, Any] = {}
    if out.exists():
        merged = json.loads(out.read_text())
    stamp: dict[str, Any] = {
        "commit": git_commit(),
        "quick": quick,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if overrides:
        stamp["overrides"] = overrides
    for name in RESULT_KEYS:
        if name in fresh:
            merged[name] = {**fresh[name], "run": stamp}
    merged.update(machine=machine(), **stamp)
    if "store" in fresh and set(fresh) - {"store", "bulk_postgresql"}:
        merged["store"] = fresh["store"]  # the store of the run's other scenarios
    return merged


def override(config: BenchConfig, settings: list[str]) -> BenchConfig:
    """``FIELD=VALUE`` pairs applied to a preset; tuples are given comma-separated."""
    changes: dict[str, Any] = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        current = getattr(config, name)  # AttributeError names an unknown field
        if isinstance(current, tuple):
            changes[name] = tuple(int(v) for v in value.split(","))
        else:
            changes[name] = type(current)(value)
    return replace(config, **changes) if changes else config


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller N and shorter windows (< 60 s)")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes for the smoke test; figures mean nothing"
    )
    parser.add_argument(
        "--only", action="append", choices=SCENARIOS, help="run only this scenario (repeatable)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"results file (default {DEFAULT_OUT.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--docs", type=Path, default=DEFAULT_DOCS, help="page whose results table is rewritten"
    )
    parser.add_argument("--no-docs", action="store_true", help="do not touch the docs page")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="profile the service and the engine with pyinstrument during each scenario; reports go to DIR",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override one size of the chosen mode, e.g. --set relay_n=50,100 --set relay_window_s=10",
    )
    parser.add_argument("--postgres", action="store_true", help="use a throwaway database on 127.0.0.1:5432")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    config = override(PRESETS["smoke"] if args.smoke else QUICK if args.quick else FULL, args.set)
    only = frozenset(args.only or SCENARIOS)
    raise_open_files_limit()
    started = time.perf_counter()
    load_before = os.getloadavg()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        fresh = runner.run(
            asyncio.wait_for(run(config, only, postgres=args.postgres, profile=args.profile), RUN_TIMEOUT_S)
        )
    results = merge(args.out, fresh, quick=config.name != FULL.name, overrides=args.set)
    results["duration_s"] = round(time.perf_counter() - started, 1)
    # The machine is shared: how busy it was says how far the run's figures can be trusted.
    results["load_average_1min"] = {"start": load_before[0], "end": os.getloadavg()[0]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if not args.no_docs:
        report.write_docs(results, args.docs)
    log(f"done in {results['duration_s']} s: {args.out}")
    sys.stdout.write(report.table(results) + "\n")
    return results


if __name__ == "__main__":
    main()
