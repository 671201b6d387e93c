"""``cluster``: two service processes on one PostgreSQL database and one Redis, as several instances run.

*Save -> confirmed*: a caregiver's save on instance A of a person whose conversation runs on instance B
(routed to B, refreshed there, confirmed by B's model) next to the same save of a person whose
conversation runs on A itself, interleaved in one run. Target: the routed save within 1.3x of the local
one at p50, or within +5 ms.

*Catch-up after a Redis outage*: Redis (the scenario's own ``redis-server``, so that it can be stopped)
goes away; a save on A then cannot reach B through Redis, and B must find it in the change log. Timed
from the save's answer to B's conversation reporting the new instructions (read from B's own
``/realtime/session/{id}``, which needs no Redis). Promise: under 10 s; expected: about the log's read
interval (1 s).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Final

import asyncpg
import httpx

from bench.net import Realtime
from bench.procs import Child, start_child
from bench.redis_server import RedisServer
from bench.stats import summary_ms

ADMIN: Final = "bench-cluster-admin"
HEADERS: Final = {"Authorization": f"Bearer {ADMIN}"}
POSTGRES_ADMIN: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
CATCH_UP_POLL_S: Final = 0.02
CATCH_UP_LIMIT_S: Final = 10.0  # the promise: no conversation stale longer than this
RATIO_TARGET: Final = 1.3
DELTA_TARGET_MS: Final = 5.0
OUTAGE_RUNS: Final = 5
PROFILE: Final = {
    "personalInfo": {"fullName": "משה לוי", "preferredName": "משה", "gender": "male", "age": 80},
    "cognitiveMode": "dementia-mild",
}


async def _music(http: httpx.AsyncClient, user_id: str, artists: list[str]) -> dict[str, Any]:
    current = await http.get(f"/api/users/{user_id}/music", headers=HEADERS)
    headers = {**HEADERS, "If-Match": current.headers["etag"]} if current.status_code == 200 else HEADERS
    body = {"enabled": True, "preferredArtists": artists, "maxSongsPerSession": 3}
    saved = await http.put(f"/api/users/{user_id}/music", json=body, headers=headers)
    if saved.status_code not in (200, 201):
        raise RuntimeError(f"save failed: {saved.status_code} {saved.text[:200]}")
    result: dict[str, Any] = saved.json()
    return result


async def _person(http: httpx.AsyncClient, user_id: str) -> str:
    created = await http.post("/api/users", json={"userId": user_id}, headers=HEADERS)
    if created.status_code != 201:
        raise RuntimeError(f"could not create {user_id}: {created.text[:200]}")
    await http.put(f"/api/users/{user_id}/profile", json=PROFILE, headers=HEADERS)
    await _music(http, user_id, ["נעמי שמר"])
    token = await http.post("/api/tokens", json={"role": "device", "userId": user_id}, headers=HEADERS)
    return str(token.json()["token"])


async def _listed(http: httpx.AsyncClient, instance: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sessions = (await http.get("/realtime/sessions", headers=HEADERS)).json().get("sessions", [])
        if sum(1 for s in sessions if s.get("instance") == instance) >= count:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"instance {instance}'s conversations were never listed")


async def _timed_save(http: httpx.AsyncClient, user_id: str, n: int) -> float:
    started = time.perf_counter()
    body = await _music(http, user_id, [f"artist-{n}"])
    elapsed = time.perf_counter() - started
    if body["liveSessions"].get("refreshed") != 1:
        raise RuntimeError(f"a save was not confirmed by its conversation: {body['liveSessions']}")
    return elapsed


async def _catch_up(
    http_a: httpx.AsyncClient, http_b: httpx.AsyncClient, user_id: str, session_id: str, n: int
) -> float:
    before = (await http_b.get(f"/realtime/session/{session_id}", headers=HEADERS)).json()
    await _music(http_a, user_id, [f"outage-artist-{n}"])
    saved_at = time.perf_counter()
    while time.perf_counter() - saved_at < CATCH_UP_LIMIT_S:
        now = (await http_b.get(f"/realtime/session/{session_id}", headers=HEADERS)).json()
        if now.get("instructionsVersion") != before.get("instructionsVersion"):
            return time.perf_counter() - saved_at
        await asyncio.sleep(CATCH_UP_POLL_S)
    raise RuntimeError(f"B's conversation did not follow within {CATCH_UP_LIMIT_S} s")


async def run_cluster(samples: int, warmup: int = 3) -> dict[str, Any]:
    name = "companion_bench_" + uuid.uuid4().hex[:8]
    admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=5)
    await admin.execute(f'CREATE DATABASE "{name}"')
    with tempfile.TemporaryDirectory(prefix="companion-bench-cluster-") as folder:
        workdir = Path(folder)
        redis = RedisServer(workdir)
        redis.start()
        children: list[Child] = []
        try:
            for instance in ("a", "b"):
                env = {
                    "COMPANION_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
                    "COMPANION_REDIS_URL": redis.url,
                    "COMPANION_INSTANCE_ID": instance,
                    "COMPANION_ADMIN_TOKEN": ADMIN,
                    "COMPANION_DATA_DIR": str(workdir / instance),
                    "COMPANION_UPSTREAM": "local",
                    "COMPANION_PORT": "0",
                    "COMPANION_LOG_LEVEL": "WARNING",
                    "COMPANION_REMINDERS": "false",
                }
                children.append(
                    await asyncio.to_thread(start_child, "service", env, workdir / f"{instance}.log")
                )
            a, b = children
            async with (
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{a.port}", timeout=30) as http_a,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{b.port}", timeout=30) as http_b,
            ):
                remote_token = await _person(http_a, "user-bench-remote")
                local_token = await _person(http_a, "user-bench-local")
                on_b = await Realtime.open(f"ws://127.0.0.1:{b.port}/v1/realtime", remote_token)
                on_a = await Realtime.open(f"ws://127.0.0.1:{a.port}/v1/realtime", local_token)
                await _listed(http_a, "b", 1)
                cross: list[float] = []
                same: list[float] = []
                for n in range(warmup + samples):
                    remote = await _timed_save(http_a, "user-bench-remote", n)
                    local = await _timed_save(http_a, "user-bench-local", n)
                    if n >= warmup:
                        cross.append(remote)
                        same.append(local)
                listed = (await http_b.get("/realtime/sessions", headers=HEADERS)).json()["sessions"]
                session_id = next(s["id"] for s in listed if s["userId"] == "user-bench-remote")
                redis.stop()
                catch_up = [
                    await _catch_up(http_a, http_b, "user-bench-remote", session_id, n)
                    for n in range(OUTAGE_RUNS)
                ]
                redis.start()
                await on_a.ws.close()
                await on_b.ws.close()
        finally:
            for child in children:
                await asyncio.to_thread(child.stop)
            redis.stop()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    cross_s, same_s = summary_ms(cross), summary_ms(same)
    ratio = float(cross_s["p50_ms"]) / float(same_s["p50_ms"])
    delta = float(cross_s["p50_ms"]) - float(same_s["p50_ms"])
    return {
        "other_instance": cross_s,
        "same_instance": same_s,
        "ratio_p50": round(ratio, 2),
        "delta_p50_ms": round(delta, 3),
        "target": f"within {RATIO_TARGET}x or +{DELTA_TARGET_MS:g} ms at p50",
        "met": ratio <= RATIO_TARGET or delta <= DELTA_TARGET_MS,
        "catch_up_after_redis_outage": summary_ms(catch_up),
        "catch_up_target": f"under {CATCH_UP_LIMIT_S:g} s",
    }


if __name__ == "__main__":  # python -m bench.scenarios.cluster [samples]
    import json
    import sys

    print(json.dumps(asyncio.run(run_cluster(int(sys.argv[1]) if len(sys.argv) > 1 else 50)), indent=2))
