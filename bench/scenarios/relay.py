"""``relay``: N clients stream 24 kHz PCM16 audio in real time through the relay, N more through a
bare forwarder (``bench/forwarder.py``: the baseline) and N more straight to the engine, all at the
same time and interleaved, so that whatever else the shared machine does falls on the three paths
alike; what the relay adds to each frame's latency, and what it costs in CPU per session, each also
as a ratio to the bare forwarder's.

Method. Each client sends one ``input_audio_buffer.append`` of 20 ms of audio (960 bytes, base64)
every 20 ms. Audio frames are not answered, so latency is observed with a probe that travels in
the same stream: every 10th frame (a different one for each client) is followed by an
``input_audio_buffer.clear``, which the engine answers at once with ``input_audio_buffer.cleared``
(it also keeps the engine's buffer small). The probe's round trip, measured by the client, is
compared between the relayed (or forwarded) and the direct runs; the relay adds two hops to it
(client -> model and model -> client) where an audio frame crosses only the first, so the one-way
figure is half the added round trip. Server VAD is switched off by the client (``turn_detection:
null``) so the engine never starts a response. CPU is read from /proc for every process over the
window; the relay's per session is the service's, the forwarder's is the forwarder process's.
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
TARGET_N = 200  # the headline figures are reported at this N
REAL_TIME_LAG_S = 0.020  # a client whose p99 send lag exceeds one frame no longer streams in real time
BEHIND_MS = FRAME_S * 1000  # a path that adds more than a frame at p99 is queueing audio: not real time
CPU_RATIO_TARGET = 1.5  # relay CPU per streaming session at most this times the bare forwarder's
ADDED_P99_TARGET_MS = 2.0  # added latency per frame, one way, p99, wherever the forwarder keeps real time
SETTLE_S = 0.5  # after a run's clients closed, before the next run opens its own


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
    path: str
    phase: int
    probe_sent: float | None = None
    rtts: list[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0
    skipped: int = 0

    async def read(self, window: tuple[float, float]) -> None:
        async for message in self.client.ws:
            text = message if isinstance(message, str) else message.decode()
            if PROBE_ANSWER in text:
                if self.probe_sent is not None and window[0] <= self.probe_sent < window[1]:
                    self.rtts.append(time.perf_counter() - self.probe_sent)
                self.probe_sent = None
            elif '"type":"error"' in text.replace(" ", ""):
                self.errors += 1


async def _stream(h: Harness, paths: dict[str, list[Realtime]]) -> dict[str, dict[str, Any]]:
    """Every path's clients stream at the same time, interleaved in the same send slots, so that the
    machine's other load falls on all of them alike; figures come out per path."""
    cfg = h.config
    streamers = []
    for name, clients in paths.items():
        streamers += [_Streamer(c, name, i % PROBE_EVERY) for i, c in enumerate(clients)]
    streamers.sort(key=lambda s: s.phase)  # each slot gets clients of every path
    lags: list[float] = []

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
                member.sent += 1
                if tick % PROBE_EVERY == member.phase:
                    if member.probe_sent is None:
                        member.probe_sent = time.perf_counter()
                        await member.client.ws.send(PROBE)
                    elif window[0] <= due:
                        member.skipped += 1  # the last probe has not come back within 200 ms
            tick += 1

    def cpu() -> dict[str, float]:
        return {**h.cpu_s(), "client": time.process_time()}

    async def cpu_window() -> tuple[dict[str, float], dict[str, float]]:
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        before = cpu()
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        return before, cpu()

    # What each process spends with every client connected and silent (the service's care loop,
    # keep-alive timers): reported next to the streaming figures, which include it. Measured once the
    # sessions have settled: what a session does once when it starts (its conversation record's first
    # write, within the care loop's next second) is the sessions scenario's, not a steady cost.
    await asyncio.sleep(cfg.relay_idle_settle_s)
    idle_before = cpu()
    await asyncio.sleep(cfg.relay_idle_window_s)
    idle = {role: (used - idle_before[role]) / cfg.relay_idle_window_s for role, used in cpu().items()}
    start = time.perf_counter() + 0.1
    window = (start + cfg.relay_warmup_s, start + cfg.relay_warmup_s + cfg.relay_window_s)
    readers = [asyncio.create_task(s.read(window)) for s in streamers]
    cpu_task = asyncio.create_task(cpu_window())
    groups = [streamers[g::GROUPS] for g in range(GROUPS)]
    await asyncio.gather(*(group(m, g * FRAME_S / GROUPS) for g, m in enumerate(groups)))
    before, after = await cpu_task
    await asyncio.sleep(DRAIN_S)
    await asyncio.gather(*(s.client.close() for s in streamers))
    await asyncio.gather(*readers, return_exceptions=True)
    window_s = window[1] - window[0]
    shared: dict[str, Any] = {
        "send_lag_p99_ms": round(percentile(lags, 99) * 1000, ROUND),
        "kept_real_time": percentile(lags, 99) < REAL_TIME_LAG_S,
        "client_cpu_s": round(after["client"] - before["client"], ROUND),
        "streams_at_once": len(streamers),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, clients in paths.items():
        mine = [s for s in streamers if s.path == name]
        node: dict[str, Any] = {
            "probe_rtt": summary_ms([r for s in mine for r in s.rtts]),
            "probes_skipped": sum(s.skipped for s in mine),
            "errors": sum(s.errors for s in mine),
            "frames_sent": sum(s.sent for s in mine),
            **shared,
        }
        for role in ("service", "forwarder", "engine"):
            used = after[role] - before[role]
            node[f"{role}_cpu_s"] = round(used, ROUND)
            # the engine serves every path at once: its share per session is over all of them
            sessions = len(streamers) if role == "engine" else len(clients)
            node[f"{role}_cpu_ms_per_s_per_session"] = round(used / window_s / sessions * 1000, ROUND)
            node[f"{role}_idle_cpu_ms_per_s"] = round(idle[role] * 1000, ROUND)
            streaming = max(0.0, used / window_s - idle[role])
            node[f"{role}_streaming_cpu_ms_per_s_per_session"] = round(streaming / sessions * 1000, ROUND)
        out[name] = node
    return out


async def _no_vad(clients: list[Realtime]) -> None:
    async def one(client: Realtime) -> None:
        await client.send(NO_VAD)
        await client.until("session.updated")

    await asyncio.gather(*(one(c) for c in clients))


async def _open_plain(url: str, n: int) -> list[Realtime]:
    """N clients without credentials: straight to the engine, or through the bare forwarder."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def one() -> Realtime:
        async with gate:
            return await Realtime.open(url)

    return list(await asyncio.gather(*(one() for _ in range(n))))


def _one_way(path: dict[str, Any], reference: dict[str, Any]) -> dict[str, float]:
    """Added latency per frame (one way): half the added probe round trip, percentile by percentile."""
    added = difference(path["probe_rtt"], reference["probe_rtt"])
    return {key: round(value / 2, ROUND) for key, value in added.items()}


def _keeps_real_time(path: dict[str, Any], added_one_way: dict[str, float] | None) -> bool:
    """The load generator sent on time and (for a relaying path) the path queues less than a frame."""
    if not path["kept_real_time"]:
        return False
    return added_one_way is None or added_one_way["p99_ms"] < BEHIND_MS


def _judge(relayed: dict[str, Any], forwarded: dict[str, Any], direct: dict[str, Any]) -> dict[str, Any]:
    relay_added, forwarder_added = _one_way(relayed, direct), _one_way(forwarded, direct)
    relay_cpu = relayed["service_cpu_ms_per_s_per_session"]
    forwarder_cpu = forwarded["forwarder_cpu_ms_per_s_per_session"]
    ratio = round(relay_cpu / forwarder_cpu, 2) if forwarder_cpu > 0 else None
    relay_net = relayed["service_streaming_cpu_ms_per_s_per_session"]
    forwarder_net = forwarded["forwarder_streaming_cpu_ms_per_s_per_session"]
    net_ratio = round(relay_net / forwarder_net, 2) if forwarder_net > 0 else None
    kept = {
        "direct": _keeps_real_time(direct, None),
        "forwarder": _keeps_real_time(forwarded, forwarder_added),
        "relay": _keeps_real_time(relayed, relay_added),
    }
    applies = kept["direct"] and kept["forwarder"]  # where the baseline keeps up, the relay must too
    return {
        "added_one_way": relay_added,
        "forwarder_added_one_way": forwarder_added,
        "relay_over_forwarder_one_way": _one_way(relayed, forwarded),
        "added_one_way_p50_ms": relay_added["p50_ms"],
        "added_one_way_p99_ms": relay_added["p99_ms"],
        "relay_cpu_ms_per_s_per_session": relay_cpu,
        "forwarder_cpu_ms_per_s_per_session": forwarder_cpu,
        "cpu_ratio": ratio,
        "relay_idle_cpu_ms_per_s": relayed["service_idle_cpu_ms_per_s"],
        "forwarder_idle_cpu_ms_per_s": forwarded["forwarder_idle_cpu_ms_per_s"],
        "streaming_cpu_ratio": net_ratio,
        # judged where the baseline keeps up: a starved process's CPU per session says nothing
        "cpu_ratio_met": (not applies) or (ratio is not None and ratio <= CPU_RATIO_TARGET),
        "kept_real_time": kept,
        "latency_target_applies": applies,
        "real_time_met": (not applies) or kept["relay"],
        "latency_met": (not applies) or relay_added["p99_ms"] < ADDED_P99_TARGET_MS,
        "service_cpu_ms_per_s_per_session": relay_cpu,
    }


async def relay(h: Harness) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for n in h.config.relay_n:
        await h.restart()  # each N on fresh processes: no backlog or heap carried over
        paths = {
            "relayed": await h.open_clients([pool_user(i) for i in range(n)]),
            "forwarded": await _open_plain(h.forwarder_ws_url, n),
            "direct": await _open_plain(h.engine_ws_url, n),
        }
        await _no_vad([c for clients in paths.values() for c in clients])
        runs = await _stream(h, paths)
        await h.wait_live_at_most(0)
        await asyncio.sleep(SETTLE_S)
        h.check_alive()
        results[str(n)] = {
            **runs,
            "added_rtt": difference(runs["relayed"]["probe_rtt"], runs["direct"]["probe_rtt"]),
            **_judge(runs["relayed"], runs["forwarded"], runs["direct"]),
        }
    at = str(TARGET_N) if str(TARGET_N) in results else str(max(h.config.relay_n))
    return {
        "n": list(h.config.relay_n),
        "frame_ms": FRAME_S * 1000,
        "frame_bytes": FRAME_SAMPLES * 2,
        "probe_every_frames": PROBE_EVERY,
        "window_s": h.config.relay_window_s,
        "targets": {"cpu_ratio": CPU_RATIO_TARGET, "added_one_way_p99_ms": ADDED_P99_TARGET_MS},
        "results": results,
        "at_n": int(at),
        "added_one_way_p99_ms": results[at]["added_one_way_p99_ms"],
        "added_one_way_p50_ms": results[at]["added_one_way_p50_ms"],
        "cpu_ratio": results[at]["cpu_ratio"],
    }
