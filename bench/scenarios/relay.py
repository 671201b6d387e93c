"""``relay``: N clients stream 24 kHz PCM16 audio in real time, through the relay or straight to the
engine; what the relay adds to each frame's latency, and what it costs in CPU per session.

Method. Each client sends one ``input_audio_buffer.append`` of 20 ms of audio (960 bytes, base64)
every 20 ms. Audio frames are not answered, so latency is observed with a probe that travels in
the same stream: every 10th frame (a different one for each client) is followed by an
``input_audio_buffer.clear``, which the engine answers at once with ``input_audio_buffer.cleared``
(it also keeps the engine's buffer small). The probe's round trip, measured by the client, is
compared between the relayed and the direct runs; the relay adds two hops to it (client -> model
and model -> client) where an audio frame crosses only the first, so the one-way figure is half the
added round trip. Server VAD is switched off by the client (``turn_detection: null``) so the engine
never starts a response. CPU is read from /proc for the service and the engine over the window.
"""

from __future__ import annotations

import array
import asyncio
import base64
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from bench.data import pool_user
from bench.harness import OPEN_CONCURRENCY, Harness
from bench.net import Realtime
from bench.stats import ROUND, difference, percentile, summary_ms

SAMPLE_RATE = 24_000
FRAME_S = 0.020
FRAME_SAMPLES = int(SAMPLE_RATE * FRAME_S)  # 480 samples = 960 bytes of PCM16
PROBE_EVERY = 10  # frames: one probe per client every 200 ms
GROUPS = 10  # clients are spread over 10 send slots 2 ms apart, as independent devices would be
DRAIN_S = 1.0  # after the last frame, how long outstanding probes may still answer
TARGET_N = 200  # the target is stated at this N
REAL_TIME_LAG_S = 0.020  # a client whose p99 send lag exceeds one frame no longer streams in real time


def _frame() -> str:
    tone = array.array(
        "h", (round(1000 * math.sin(2 * math.pi * 440 * i / SAMPLE_RATE)) for i in range(FRAME_SAMPLES))
    )
    return base64.b64encode(tone.tobytes()).decode()


APPEND = json.dumps({"type": "input_audio_buffer.append", "audio": _frame()})
PROBE = json.dumps({"type": "input_audio_buffer.clear"})
PROBE_ANSWER = '"input_audio_buffer.cleared"'
NO_VAD = {
    "type": "session.update",
    "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
}


@dataclass
class _Streamer:
    client: Realtime
    phase: int
    probe_sent: float | None = None
    rtts: list[float] = field(default_factory=list)
    errors: int = 0

    async def read(self, window: tuple[float, float]) -> None:
        async for message in self.client.ws:
            text = message if isinstance(message, str) else message.decode()
            if PROBE_ANSWER in text:
                if self.probe_sent is not None and window[0] <= self.probe_sent < window[1]:
                    self.rtts.append(time.perf_counter() - self.probe_sent)
                self.probe_sent = None
            elif '"type":"error"' in text.replace(" ", ""):
                self.errors += 1


async def _stream(h: Harness, clients: list[Realtime]) -> dict[str, Any]:
    cfg = h.config
    streamers = [_Streamer(c, i % PROBE_EVERY) for i, c in enumerate(clients)]
    start = time.perf_counter() + 0.1
    window = (start + cfg.relay_warmup_s, start + cfg.relay_warmup_s + cfg.relay_window_s)
    lags: list[float] = []
    sent = [0]
    skipped = [0]

    async def group(members: list[_Streamer], offset: float) -> None:
        tick = 0
        while (due := start + offset + tick * FRAME_S) < window[1]:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if window[0] <= due:
                lags.append(time.perf_counter() - due)
            for member in members:
                await member.client.ws.send(APPEND)
                sent[0] += 1
                if tick % PROBE_EVERY == member.phase:
                    if member.probe_sent is None:
                        member.probe_sent = time.perf_counter()
                        await member.client.ws.send(PROBE)
                    elif window[0] <= due:
                        skipped[0] += 1  # the last probe has not come back within 200 ms
            tick += 1

    def cpu() -> dict[str, float]:
        return {**h.cpu_s(), "client": time.process_time()}

    async def cpu_window() -> tuple[dict[str, float], dict[str, float]]:
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        before = cpu()
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        return before, cpu()

    readers = [asyncio.create_task(s.read(window)) for s in streamers]
    cpu_task = asyncio.create_task(cpu_window())
    groups = [streamers[g::GROUPS] for g in range(GROUPS)]
    await asyncio.gather(*(group(m, g * FRAME_S / GROUPS) for g, m in enumerate(groups)))
    before, after = await cpu_task
    await asyncio.sleep(DRAIN_S)
    await asyncio.gather(*(s.client.close() for s in streamers))
    await asyncio.gather(*readers, return_exceptions=True)
    n = len(clients)
    window_s = window[1] - window[0]
    rtts = [r for s in streamers for r in s.rtts]
    out: dict[str, Any] = {
        "probe_rtt": summary_ms(rtts),
        "probes_skipped": skipped[0],
        "errors": sum(s.errors for s in streamers),
        "frames_sent": sent[0],
        "send_lag_p99_ms": round(percentile(lags, 99) * 1000, ROUND),
        "kept_real_time": percentile(lags, 99) < REAL_TIME_LAG_S,
    }
    out["client_cpu_s"] = round(after["client"] - before["client"], ROUND)
    for role in ("service", "engine"):
        used = after[role] - before[role]
        out[f"{role}_cpu_s"] = round(used, ROUND)
        out[f"{role}_cpu_ms_per_s_per_session"] = round(used / window_s / n * 1000, ROUND)
    return out


async def _no_vad(clients: list[Realtime]) -> None:
    async def one(client: Realtime) -> None:
        await client.send(NO_VAD)
        await client.until("session.updated")

    await asyncio.gather(*(one(c) for c in clients))


async def _open_direct(h: Harness, n: int) -> list[Realtime]:
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def one() -> Realtime:
        async with gate:
            return await Realtime.open(h.engine_ws_url)

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def relay(h: Harness) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for n in h.config.relay_n:
        await h.restart()  # each N on fresh processes: no backlog or heap carried over
        relayed_clients = await h.open_clients([pool_user(i) for i in range(n)])
        await _no_vad(relayed_clients)
        relayed = await _stream(h, relayed_clients)
        await h.wait_live_at_most(0)
        direct_clients = await _open_direct(h, n)
        await _no_vad(direct_clients)
        direct = await _stream(h, direct_clients)
        h.check_alive()
        added = difference(relayed["probe_rtt"], direct["probe_rtt"])
        results[str(n)] = {
            "relayed": relayed,
            "direct": direct,
            "added_rtt": added,
            "added_one_way_p50_ms": round(added["p50_ms"] / 2, ROUND),
            "added_one_way_p99_ms": round(added["p99_ms"] / 2, ROUND),
            "service_cpu_ms_per_s_per_session": relayed["service_cpu_ms_per_s_per_session"],
        }
    at = str(TARGET_N) if str(TARGET_N) in results else str(max(h.config.relay_n))
    return {
        "n": list(h.config.relay_n),
        "frame_ms": FRAME_S * 1000,
        "frame_bytes": FRAME_SAMPLES * 2,
        "probe_every_frames": PROBE_EVERY,
        "window_s": h.config.relay_window_s,
        "results": results,
        "at_n": int(at),
        "added_one_way_p99_ms": results[at]["added_one_way_p99_ms"],
        "added_one_way_p50_ms": results[at]["added_one_way_p50_ms"],
    }
