"""``recording``: what keeping a conversation's record costs the service. N conversations stream audio
in real time and talk (a typed turn every few seconds, answered aloud by the engine), once by people
whose family chose ``none`` (only the counts are kept) and once by people whose family chose
``transcript`` (every turn's words, written every two seconds); the service's CPU per streaming
session of each, as a ratio, in the same run. Then the service's memory per idle session of people
whose transcripts are kept.

Method. Two sets of N pool people, one set to ``none`` and one to ``transcript`` through the API (``PUT
/api/users/{id}/profile``, as a family does). After one untimed phase, the phases alternate (none,
transcript, transcript, none, ...), each on fresh conversations: N clients connect, switch server VAD
off (no response starts from the audio itself), stream 20 ms of PCM16 every 20 ms, and every
:data:`TURN_EVERY_S` (each client at its own offset, once its previous answer has ended) send a typed
message and ``response.create``; the engine answers with a spoken reply (audio and transcript deltas),
which the relay forwards and the recording tap reads. CPU is read from /proc for the service over each
window; per session = CPU seconds / window / N. Ratio = transcript / none, each the median of its
phases. Memory, first, on fresh processes: M idle conversations of ``transcript`` people that have done
nothing but start (and had their record's first write); per session = (RSS at M - RSS at 0) / M, after a
collection in the service (as the ``memory`` scenario).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

from bench.data import pool_user
from bench.harness import Harness
from bench.net import Realtime
from bench.scenarios.relay import APPEND, FRAME_S, GROUPS, NO_VAD
from bench.stats import ROUND

TURN_EVERY_S = 4.0  # a typed turn per conversation this often: a lively conversation, busier than speech
CPU_RATIO_TARGET = 1.05  # recording transcripts adds at most 5% of the service's CPU per streaming session
IDLE_KB_TARGET = 100.0
FIRST_WRITE_S = 2.5  # a record is written within two seconds of its conversation's start
CLOSE_SETTLE_S = 0.5  # after a phase's clients closed, before the next phase opens its own
LEVELS = ("none", "transcript")


def _users(level: str, n: int) -> list[str]:
    offset = 0 if level == "none" else n
    return [pool_user(offset + i) for i in range(n)]


async def _choose(h: Harness, users: list[str], level: str) -> None:
    """The family's choice, through the API, as the dashboard saves it."""
    for user in users:
        current = await h.get(f"/api/users/{user}/profile")
        body = current.json()["data"] | {"conversationRecords": level}
        headers = {**h.care_headers, "If-Match": current.headers["etag"]}
        saved = await h.http.request("PUT", f"/api/users/{user}/profile", headers, body)
        if saved.status != 200:
            raise RuntimeError(f"PUT profile of {user}: {saved.status} {saved.body[:300]!r}")


def _turn(serial: int) -> list[str]:
    said = f"Tell me about the garden, number {serial}"
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": said}]}
    return [
        json.dumps({"type": "conversation.item.create", "item": item}),
        json.dumps({"type": "response.create"}),
    ]


async def _phase(h: Harness, users: list[str]) -> dict[str, Any]:
    """N conversations stream and talk for the window; the service's CPU over it."""
    cfg = h.config
    clients = await h.open_clients(users)

    async def no_vad(client: Realtime) -> None:
        await client.send(NO_VAD)
        await client.until("session.updated")

    await asyncio.gather(*(no_vad(c) for c in clients))
    answered = [0] * len(clients)
    errors = [0] * len(clients)
    first_error: list[str] = []
    waiting = [False] * len(clients)  # a turn's answer not yet done: the next turn waits for it

    async def read(index: int, client: Realtime) -> None:
        async for message in client.ws:
            text = message if isinstance(message, str) else message.decode()
            if '"response.done"' in text:
                answered[index] += 1
                waiting[index] = False
            elif '"type":"error"' in text.replace(" ", ""):
                errors[index] += 1
                if not first_error:
                    first_error.append(text[:300])

    readers = [asyncio.create_task(read(i, c)) for i, c in enumerate(clients)]
    start = time.perf_counter() + 0.1
    window = (start + cfg.recording_warmup_s, start + cfg.recording_warmup_s + cfg.recording_window_s)
    lags: list[float] = []

    async def group(members: list[tuple[int, Realtime]], offset: float) -> None:
        tick = 0
        every = round(TURN_EVERY_S / FRAME_S)
        while (due := start + offset + tick * FRAME_S) < window[1]:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if window[0] <= due:
                lags.append(time.perf_counter() - due)
            for index, client in members:
                await client.ws.send(APPEND)
                # each conversation's turn at its own moment, once its last answer has ended
                if tick % every == (index * 7) % every and not waiting[index]:
                    waiting[index] = True
                    for frame in _turn(tick):
                        await client.ws.send(frame)
            tick += 1

    async def cpu_window() -> tuple[float, float]:
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        before = h.cpu_s()["service"]
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        return before, h.cpu_s()["service"]

    cpu_task = asyncio.create_task(cpu_window())
    members = list(enumerate(clients))
    groups = [members[g::GROUPS] for g in range(GROUPS)]
    await asyncio.gather(*(group(m, g * FRAME_S / GROUPS) for g, m in enumerate(groups)))
    before, after = await cpu_task
    await asyncio.gather(*(c.close() for c in clients))
    await asyncio.gather(*readers, return_exceptions=True)
    await h.wait_live_at_most(0)
    await asyncio.sleep(CLOSE_SETTLE_S)
    window_s = window[1] - window[0]
    lags.sort()
    return {
        "service_cpu_s": round(after - before, ROUND),
        "cpu_ms_per_s_per_session": round((after - before) / window_s / len(clients) * 1000, ROUND),
        "responses": sum(answered),
        "errors": sum(errors),
        "first_error": first_error[0] if first_error else None,
        "send_lag_p99_ms": round(lags[int(0.99 * (len(lags) - 1))] * 1000, ROUND) if lags else None,
    }


async def _idle_memory(h: Harness, users: list[str]) -> dict[str, Any]:
    """Fresh processes (the baseline RSS was taken with no session): M idle conversations."""
    base = h.baseline_rss_kb["service"]
    clients = await h.open_clients(users)
    await asyncio.sleep(FIRST_WRITE_S)  # each record's first write is made meanwhile
    at_m = (await h.rss_kb())["service"]
    await asyncio.gather(*(c.close() for c in clients))
    await h.wait_live_at_most(0)
    m = len(users)
    return {
        "m": m,
        "service_rss_kb": {"0": base, str(m): at_m},
        "kb_per_session": round((at_m - base) / m, 1),
    }


async def recording(h: Harness) -> dict[str, Any]:
    cfg = h.config
    n = cfg.recording_n
    memory_users = [pool_user(i) for i in range(cfg.recording_idle_n)]
    await _choose(h, memory_users, "transcript")
    await h.restart()  # fresh processes: memory first, on a heap no conversation has touched yet
    idle = await _idle_memory(h, memory_users)
    for level in LEVELS:
        await _choose(h, _users(level, n), level)
    await _phase(h, _users("none", n))  # untimed: the engine's first answers after a start are slow
    phases: dict[str, list[dict[str, Any]]] = {level: [] for level in LEVELS}
    for round_ in range(cfg.recording_rounds):
        # none, transcript, transcript, none, ...: a drift of the machine's load falls on both alike
        for level in LEVELS if round_ % 2 == 0 else LEVELS[::-1]:
            phases[level].append(await _phase(h, _users(level, n)))
            h.check_alive()
    per_session = {
        level: statistics.median(p["cpu_ms_per_s_per_session"] for p in runs)
        for level, runs in phases.items()
    }
    ratio = round(per_session["transcript"] / per_session["none"], 3) if per_session["none"] > 0 else None
    return {
        "n": n,
        "rounds": cfg.recording_rounds,
        "window_s": cfg.recording_window_s,
        "turn_every_s": TURN_EVERY_S,
        "phases": phases,
        "cpu_ms_per_s_per_session": per_session,
        "cpu_ratio": ratio,
        "targets": {"cpu_ratio": CPU_RATIO_TARGET, "idle_kb_per_session": IDLE_KB_TARGET},
        "cpu_ratio_met": ratio is not None and ratio <= CPU_RATIO_TARGET,
        "idle": idle,
        "idle_met": idle["kb_per_session"] < IDLE_KB_TARGET,
    }
