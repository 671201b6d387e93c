"""``import``: the seed system's people brought over, each with 5 memories, 20 reminders and 2
incidents (and a profile, a safety config in either shape, music preferences), into SQLite and into
PostgreSQL, from an export folder and from a Cosmos DB SQL API server: how long the whole import takes
(reading the source included; one transaction per person), and a second run, which changes nothing.

Runs in the load generator's process, as ``build`` does: the import is a command, not the service. The
change events go to an in-process bus with no live conversations (there are none to refresh). The
PostgreSQL runs need the server on 127.0.0.1:5432, the Cosmos DB ones node and ``tools/cosmosdb``;
without them those runs are left out and the results say why.

Besides the time, each run's CPU time in this process (reading, mapping, planning, writing: the import's
own work) and, from the Cosmos DB server, the server's CPU time (node's, from ``/proc``): on a shared
machine the times move with the load, the CPU times much less, and they say where the time went.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.cosmos_server import KEY, CosmosServer, seed
from companion.events import InProcessBus
from companion.importers.runner import ImportRunner
from companion.importers.sources import CosmosSource, DirSource, Source
from companion.store import open_store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TARGET_S = 10.0
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MEMORIES, REMINDERS, INCIDENTS = 5, 20, 2
STATES = ("completed", "completed", "completed", "missed", "acknowledged", "snoozed", "declined", "triggered")


def person(index: int) -> dict[str, list[dict[str, Any]]]:
    """One person's documents, shaped as the seed system writes them (odd people: shape B)."""
    user = f"na-bench-{index:05d}"
    hours = [8, 20]
    docs: dict[str, list[dict[str, Any]]] = {
        "users": [
            {
                "id": user,
                "userId": user,
                "type": "user_profile",
                "personalInfo": {
                    "fullName": f"אדם {index}",
                    "age": 70 + index % 25,
                    "gender": "female",
                    "language": "he",
                },
                "cognitiveMode": "elderly",
                "familyMembers": [
                    {"name": "שרה", "relationship": "daughter", "phone": f"052-{index % 1000:03d}4567"}
                ],
            }
        ],
        "user-music-preferences": [
            {
                "id": f"music-pref-{user}",
                "userId": user,
                "enabled": True,
                "preferredArtists": ["Naomi Shemer"],
            }
        ],
    }
    medications = [{"name": "Aricept", "dosage": "5 mg", "time": f"{h:02d}:00"} for h in hours]
    if index % 2:
        docs["safety-config"] = [
            {
                "id": user,
                "userId": user,
                "type": "safety_config",
                "neverAllow": [{"rule": "Never suggest going out alone", "reason": "gets lost"}],
                "crisisTriggers": ["help me", "I fell"],
                "medications": medications,
                "forbiddenTopics": ["politics"],
            }
        ]
    else:
        docs["safety-config"] = [
            {
                "id": f"config-{user}-1764000000000",
                "userId": user,
                "emergencyContacts": [{"name": "שרה", "phone": "052-123-4567", "relationship": "daughter"}],
                "medications": medications,
                "routines": {"wakeTime": "07:00", "sleepTime": "22:00"},
                "boundaries": {"forbiddenTopics": ["politics"]},
                "crisisTriggers": [
                    {"keyword": "lost", "severity": "critical", "action": "reassure and alert the family"}
                ],
                "updatedAt": "2025-11-24T16:00:00Z",
            }
        ]
    kinds = ("family_info", "preference", "health", "personal_history", "routine")
    docs["memories"] = [
        {
            "id": str(uuid.UUID(int=index * 100 + m)),
            "userId": user,
            "memoryType": kinds[m],
            "key": f"fact {m}",
            "value": f"זיכרון מספר {m} של אדם {index}",
            "importance": "medium",
            "extractedAt": (NOW - timedelta(days=m + 1)).isoformat(),
            "confidence": 0.95,
        }
        for m in range(MEMORIES)
    ]
    docs["reminders"] = [
        {
            "id": f"rem-{index}-{r}",
            "userId": user,
            "type": "medication",
            "scheduledFor": (NOW - timedelta(days=r // 2 + 1))
            .replace(hour=hours[r % 2] - 2, minute=0)
            .isoformat(),
            "status": STATES[r % len(STATES)],
            "metadata": {"medicationName": "Aricept", "dosage": "5 mg"},
        }
        for r in range(REMINDERS)
    ]
    docs["safety-incidents"] = [
        {
            "id": f"incident_{index}_{i}",
            "userId": user,
            "type": "safety_incident",
            "timestamp": (NOW - timedelta(days=i + 1)).isoformat(),
            "severity": "high",
            "userRequest": "asked to go out alone",
            "safetyRuleViolated": "going out alone",
            "resolved": i == 0,
        }
        for i in range(INCIDENTS)
    ]
    return docs


def people(n: int) -> dict[str, list[dict[str, Any]]]:
    containers: dict[str, list[dict[str, Any]]] = {}
    for index in range(n):
        for name, docs in person(index).items():
            containers.setdefault(name, []).extend(docs)
    return containers


async def _postgres() -> tuple[str, Any] | None:
    import asyncpg  # type: ignore[import-untyped]

    name = f"companion_bench_import_{uuid.uuid4().hex[:8]}"
    try:
        admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

    async def drop() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", drop


def _cpu_of(pid: int | None) -> float | None:
    """CPU seconds (user and system) a process has used so far; None when it cannot be read."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def _timed(url: str, make_source: Any, n: int, server_pid: int | None = None) -> dict[str, Any]:
    store = open_store(url)
    try:
        await store.migrate()
        bus = InProcessBus()
        figures: dict[str, Any] = {}
        for run in ("first", "second"):
            source: Source = make_source()
            runner = ImportRunner(store, bus.publish, clock=lambda: NOW)
            server_before = _cpu_of(server_pid)
            cpu_before = time.process_time()
            started = time.perf_counter()
            try:
                report = await runner.run(source)
            finally:
                await source.close()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
            server_after = _cpu_of(server_pid)
            totals = report.totals()
            if totals["failed"] or totals["people"] != n:
                raise RuntimeError(f"the bench import did not go through: {totals}")
            figures[run] = {"seconds": round(elapsed, 3), "changes": totals["changes"]}
            figures[run]["cpu_s"] = round(cpu, 2)
            if server_before is not None and server_after is not None:
                figures[run]["server_cpu_s"] = round(server_after - server_before, 2)
        figures["people_per_s"] = round(n / figures["first"]["seconds"], 1)
        return figures
    finally:
        await store.close()


async def run(config: BenchConfig) -> dict[str, Any]:
    n = config.import_people
    containers = people(n)
    results: dict[str, Any] = {
        "people": n,
        "per_person": {"memories": MEMORIES, "reminders": REMINDERS, "incidents": INCIDENTS},
        "documents": sum(len(docs) for docs in containers.values()),
        "target_s": TARGET_S,
        "runs": {},
        "left_out": {},
    }
    with tempfile.TemporaryDirectory(prefix="companion-bench-import-") as folder:
        export = Path(folder) / "export"
        export.mkdir()
        for name, docs in containers.items():
            (export / f"{name}.json").write_text(json.dumps(docs, ensure_ascii=False))
        sources: dict[str, Any] = {"files": lambda: DirSource(export)}
        server: CosmosServer | None = None
        server_pid: int | None = None
        missing = CosmosServer.missing()
        if missing is None:
            server = CosmosServer()
            server.start()
            await seed(server.endpoint, "never-alone", containers)
            endpoint = server.endpoint
            server_pid = server.process.pid if server.process is not None else None
            sources["cosmos"] = lambda: CosmosSource(endpoint, KEY, "never-alone")
        else:
            results["left_out"]["cosmos"] = missing
        try:
            for source_name, make_source in sources.items():
                pid = server_pid if source_name == "cosmos" else None
                url = f"sqlite+aiosqlite:///{folder}/{source_name}.db"
                results["runs"][f"sqlite/{source_name}"] = await _timed(url, make_source, n, pid)
                postgres = await _postgres()
                if postgres is None:
                    results["left_out"]["postgresql"] = "no PostgreSQL server on 127.0.0.1:5432"
                    continue
                pg_url, drop = postgres
                try:
                    results["runs"][f"postgresql/{source_name}"] = await _timed(pg_url, make_source, n, pid)
                finally:
                    await drop()
        finally:
            if server is not None:
                server.stop()
    return results
