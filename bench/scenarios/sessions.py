"""Scenarios over idle live sessions: ``memory``, ``bulk``, ``refresh`` and ``save_to_confirmed``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench.data import MUSIC, SECTION_DOC, max_context, pool_user, realistic_context
from bench.harness import MAX_USER, SAVE_USER_PREFIX, Harness
from bench.net import HttpConnection, Realtime
from bench.stats import ROUND, difference, summary_ms
from companion.prompt import build

DIRECT_WARMUP = 5  # session.update round trips before the timed ones on the direct connection


# ---- memory ----------------------------------------------------------------------------------------


async def memory(h: Harness) -> dict[str, Any]:
    n = h.config.memory_n
    await h.resize_pool(n)
    at_n = await h.rss_kb()
    base = h.baseline_rss_kb
    return {
        "n": n,
        "service_kb_per_session": round((at_n["service"] - base["service"]) / n, 1),
        "engine_kb_per_session": round((at_n["engine"] - base["engine"]) / n, 1),
        "service_rss_kb": {"0": base["service"], str(n): at_n["service"]},
        "engine_rss_kb": {"0": base["engine"], str(n): at_n["engine"]},
    }


# ---- bulk ------------------------------------------------------------------------------------------


async def _music_put(h: Harness, conn: HttpConnection, user_id: str, serial: int) -> bytes:
    """A prepared PUT of the music section that changes what the model sees, with a correct If-Match."""
    current = await h.seeded.services.store.get(user_id, MUSIC, SECTION_DOC)
    assert current is not None
    body = dict(current.body)
    body["preferredSongs"] = [f"שיר מספר {serial}", *body["preferredSongs"][1:]]
    headers = {**h.care_headers, "If-Match": f'"{current.version}"'}
    return conn.prepare("PUT", f"/api/users/{user_id}/music", headers, body)


async def bulk(h: Harness) -> dict[str, Any]:
    """Every pool user's profile changes at once: one PUT per user on its own connection, all written
    before any answer is read; done when the last PUT has answered (each answers after its session
    confirmed)."""
    n = h.config.bulk_n
    await h.resize_pool(n)
    users = [pool_user(i) for i in range(n)]
    conns = list(await asyncio.gather(*(HttpConnection.open(h.service.port) for _ in users)))
    requests = [await _music_put(h, c, u, 1) for c, u in zip(conns, users, strict=True)]
    cpu_before = h.cpu_s()
    started = time.perf_counter()
    for conn, raw in zip(conns, requests, strict=True):
        conn.write(raw)

    async def answer(conn: HttpConnection) -> tuple[float, dict[str, Any]]:
        response = await conn.read_response()
        done = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"bulk PUT answered {response.status}: {response.body[:300]!r}")
        return done, response.json()["liveSessions"]

    answers = await asyncio.gather(*(answer(c) for c in conns))
    elapsed = time.perf_counter() - started
    cpu_after = h.cpu_s()
    await asyncio.gather(*(c.close() for c in conns))
    refreshed = sum(live["refreshed"] for _, live in answers)
    return {
        "n": n,
        "store": h.store_name,
        "last_confirmed_ms": round(elapsed * 1000, ROUND),
        "per_save": summary_ms([done for done, _ in answers]),
        "refreshed": refreshed,
        "failed": sum(live["failed"] for _, live in answers),
        "unchanged": sum(live["unchanged"] for _, live in answers),
        "service_cpu_s": round(cpu_after["service"] - cpu_before["service"], ROUND),
        "engine_cpu_s": round(cpu_after["engine"] - cpu_before["engine"], ROUND),
    }


# ---- refresh -----------------------------------------------------------------------------------------


async def direct_round_trips(h: Harness, texts: list[str], samples: int) -> dict[str, Any]:
    """``session.update`` -> ``session.updated`` on a connection straight to the engine."""
    client = await Realtime.open(h.engine_ws_url)
    try:
        durations = []
        for i in range(DIRECT_WARMUP + samples):
            payload = {
                "type": "session.update",
                "event_id": f"evt_bench_{i}",
                "session": {"type": "realtime", "instructions": texts[i % len(texts)]},
            }
            wire = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
            started = time.perf_counter()
            await client.ws.send(wire)
            await client.until("session.updated")
            if i >= DIRECT_WARMUP:
                durations.append(time.perf_counter() - started)
    finally:
        await client.close()
    return {**summary_ms(durations), "instructions_chars": len(texts[0])}


async def _refresh_series(
    h: Harness, targets: list[tuple[str, str]], samples: int, serial: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """POST refresh -> 200 ("refreshed") over ``targets`` (user, session id) in turn; the store is
    changed beforehand, without announcing it, so each refresh has new instructions to confirm."""
    client_side, service_side = [], []
    for i in range(h.config.warmup + samples):
        user_id, session_id = targets[i % len(targets)]
        await h.seeded.change_unannounced(user_id, serial + i)
        raw = h.http.prepare("POST", f"/realtime/session/{session_id}/refresh", h.care_headers)
        await h.http.fresh()
        started = time.perf_counter()
        response = await h.http.send_prepared(raw)
        elapsed = time.perf_counter() - started
        body = response.json()
        if response.status != 200 or body.get("result") != "refreshed":
            raise RuntimeError(f"refresh of {session_id}: {response.status} {body}")
        if i >= h.config.warmup:
            client_side.append(elapsed)
            service_side.append(body["latencyMs"] / 1000)
    return summary_ms(client_side), summary_ms(service_side)


async def section_gets(h: Harness, users: list[str], samples: int) -> dict[str, Any]:
    """An authenticated ``GET /api/users/{id}/music`` -> 200 over ``users`` in turn, on the same
    connection and with the same caregiver token as the refreshes: the stack's own floor (parsing,
    authentication, access check, one store read, JSON) at the same N, so the refresh's overhead over
    the model's confirmation can be judged against what any request costs here."""
    durations = []
    for i in range(h.config.warmup + samples):
        raw = h.http.prepare("GET", f"/api/users/{users[i % len(users)]}/{MUSIC}", h.care_headers)
        await h.http.fresh()
        started = time.perf_counter()
        response = await h.http.send_prepared(raw)
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"GET of a section: {response.status} {response.body[:300]!r}")
        if i >= h.config.warmup:
            durations.append(elapsed)
    return summary_ms(durations)


def _texts(contexts: list[Any]) -> list[str]:
    return [build(c).text for c in contexts]


async def refresh(h: Harness) -> dict[str, Any]:
    cfg = h.config
    realistic = _texts([realistic_context(i) for i in (1, 2)])
    results: dict[str, Any] = {}
    direct: dict[str, Any] = {}
    session_side: dict[str, Any] = {}
    overhead: dict[str, Any] = {}
    ratio: dict[str, float] = {}
    section_get: dict[str, Any] = {}
    over_floor: dict[str, Any] = {}
    for n in sorted(cfg.refresh_n, reverse=True):  # shrinking: every size sees sessions refreshed alike
        await h.resize_pool(n)
        key = str(n)
        direct[key] = await direct_round_trips(h, realistic, cfg.direct_samples)
        targets = [(m.user_id, m.session_id) for m in h.pool]
        results[key], session_side[key] = await _refresh_series(h, targets, cfg.refresh_samples, n * 10_000)
        overhead[key] = difference(results[key], direct[key])
        ratio[key] = round(results[key]["p50_ms"] / direct[key]["p50_ms"], 2)
        section_get[key] = await section_gets(h, [user for user, _ in targets], cfg.refresh_samples)
        over_floor[key] = difference(overhead[key], section_get[key])
    largest = str(max(cfg.refresh_n))
    out: dict[str, Any] = {
        "n": sorted(cfg.refresh_n),
        "profile": "realistic (the demo person's)",
        "instructions_chars": len(realistic[0]),
        "results": results,
        "direct": direct,
        "service_measured": session_side,
        "overhead": overhead,
        "ratio_p50": ratio,
        "section_get": section_get,  # the stack's floor: an authenticated GET of a section at the same N
        "overhead_over_get": over_floor,  # the refresh's overhead beyond that floor
        "overhead_p99_ms": overhead[largest]["p99_ms"],
        "at_n": int(largest),
    }
    if cfg.max_profile_samples:
        out["max_profile"] = await _max_profile(h)
    return out


async def _max_profile(h: Harness) -> dict[str, Any]:
    """One session of a person with a maximum-size profile: the same refresh, its builder's cost included."""
    texts = [build(max_context()).text]
    texts.append(texts[0] + "\n")
    direct = await direct_round_trips(h, texts, h.config.max_profile_samples)
    (client,) = await h.open_clients([MAX_USER])
    try:
        session_id = (await h.live_session_ids())[MAX_USER][0]
        relayed, service_side = await _refresh_series(
            h, [(MAX_USER, session_id)], h.config.max_profile_samples, 900_000
        )
    finally:
        await h.close_clients([client])
    return {
        "n": len(h.pool) + 1,
        "instructions_chars": len(texts[0]),
        "results": relayed,
        "service_measured": service_side,
        "direct": direct,
        "overhead": difference(relayed, direct),
    }


# ---- save_to_confirmed -------------------------------------------------------------------------------


async def save_to_confirmed(h: Harness) -> dict[str, Any]:
    """PUT of a section -> 200, which the service sends once every live session of the person has
    confirmed the new instructions (``liveSessions.refreshed`` = K)."""
    results: dict[str, Any] = {}
    for k in h.config.save_k:
        user_id = f"{SAVE_USER_PREFIX}{k}"
        clients = await h.open_clients([user_id] * k)
        try:
            durations = []
            for i in range(h.config.warmup + h.config.save_samples):
                raw = await _music_put(h, h.http, user_id, 10_000 + i)
                await h.http.fresh()
                started = time.perf_counter()
                response = await h.http.send_prepared(raw)
                elapsed = time.perf_counter() - started
                live = response.json().get("liveSessions", {}) if response.status == 200 else {}
                if live.get("refreshed") != k:
                    raise RuntimeError(f"save for {user_id}: {response.status} {response.body[:300]!r}")
                if i >= h.config.warmup:
                    durations.append(elapsed)
        finally:
            await h.close_clients(clients)
        results[str(k)] = summary_ms(durations)
    return {"k": list(h.config.save_k), "background_sessions": len(h.pool), "results": results}
