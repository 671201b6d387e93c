"""The offline engine forgets what it no longer needs: a long conversation costs bounded memory.

The default deployment talks to this engine, so it must not keep every audio frame it was sent nor
every session it ever ran.
"""

from __future__ import annotations

import base64
import json
import tracemalloc
from collections.abc import Callable

from lm_helpers import pcm, recv, update
from websockets.asyncio.client import connect

from companion.localmodel import EngineSession, LocalModelServer
from companion.localmodel.engine import RECEIVED_KEPT
from companion.localmodel.server import FINISHED_KEPT

FRAME_MS = 20  # what the tablet sends: 50 appends a second
MINUTES = 3
TURN_S = 5  # a manual commit every five seconds of audio
MAX_RETAINED = 2 * 1024 * 1024  # bytes, for the whole conversation; keeping the frames is ~4 MB a minute


AUDIO = [base64.b64encode(pcm(FRAME_MS, amplitude=level * 100)).decode() for level in range(7)]


def _frame_text(index: int) -> str:
    """One append as the relay sends it: a JSON text, parsed into fresh strings each time."""
    audio = AUDIO[index % len(AUDIO)]
    return json.dumps({"type": "input_audio_buffer.append", "event_id": f"evt_{index}", "audio": audio})


def test_minutes_of_audio_leave_bounded_memory(make_engine: Callable[..., EngineSession]) -> None:
    engine = make_engine()
    engine.receive_event(update("u1", instructions="Be kind.", audio={"input": {"turn_detection": None}}))
    frames = MINUTES * 60 * 1000 // FRAME_MS
    per_turn = TURN_S * 1000 // FRAME_MS
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(frames):
            engine.receive_text(_frame_text(index))
            if (index + 1) % per_turn == 0:
                engine.receive_event({"type": "input_audio_buffer.commit"})
                engine.drain()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    print(f"retained after {MINUTES} min of {FRAME_MS} ms appends: {retained / 1024:.0f} KiB")
    assert len(engine.received) <= RECEIVED_KEPT
    assert retained < MAX_RETAINED, f"{retained / 1024 / 1024:.1f} MiB kept for {MINUTES} minutes of audio"


def test_an_append_is_remembered_as_a_summary_not_its_audio(
    make_engine: Callable[..., EngineSession],
) -> None:
    engine = make_engine()
    engine.receive_text(_frame_text(1))
    [kept] = engine.received
    assert kept["type"] == "input_audio_buffer.append"
    assert kept["event_id"] == "evt_1"
    assert "audio" not in kept
    assert kept["audio_chars"] == len(base64.b64encode(pcm(FRAME_MS)))


def test_the_oldest_events_go_first(make_engine: Callable[..., EngineSession]) -> None:
    engine = make_engine()
    for index in range(RECEIVED_KEPT + 10):
        engine.receive_event({"type": "conversation.item.retrieve", "event_id": f"e{index}", "item_id": "x"})
    assert len(engine.received) == RECEIVED_KEPT
    assert engine.received[0]["event_id"] == "e10"
    assert engine.received[-1]["event_id"] == f"e{RECEIVED_KEPT + 9}"


async def test_the_server_keeps_only_the_latest_finished_sessions(server: LocalModelServer) -> None:
    for _ in range(FINISHED_KEPT + 3):
        async with connect(server.url + "?model=gpt-realtime") as ws:
            await recv(ws)
    assert server.connections_total == FINISHED_KEPT + 3
    assert len(server.all_sessions) == FINISHED_KEPT
    assert server.all_sessions[-1].config["id"] == f"sess_{FINISHED_KEPT + 3}"


def test_an_open_microphone_in_silence_keeps_only_the_next_turns_padding(
    make_engine: Callable[..., EngineSession],
) -> None:
    """Server VAD on, and ten minutes of room noise below its threshold: nothing is committed, so the
    buffer must not keep what can never become part of a turn (it grew by ~2.9 MB a minute)."""
    engine = make_engine()
    engine.receive_event(update("u1", instructions="Be kind."))  # the default: server VAD
    quiet = base64.b64encode(pcm(FRAME_MS, amplitude=30)).decode()
    for index in range(10 * 60 * 1000 // FRAME_MS):
        engine.receive_event({"type": "input_audio_buffer.append", "event_id": f"e{index}", "audio": quiet})
    padding_ms = engine.config["audio"]["input"]["turn_detection"]["prefix_padding_ms"]
    assert len(engine.audio.buffer) <= (padding_ms + 100) * 48  # 24 kHz PCM16: 48 bytes a millisecond
    loud = base64.b64encode(pcm(FRAME_MS, amplitude=12_000)).decode()
    events = []
    for index in range(20):  # and speech afterwards still starts a turn, with its padding
        events += engine.receive_event(
            {"type": "input_audio_buffer.append", "event_id": f"s{index}", "audio": loud}
        )
    assert any(e["type"] == "input_audio_buffer.speech_started" for e in events)
    assert len(engine.audio.buffer) >= (padding_ms + 20 * FRAME_MS) * 48 - FRAME_MS * 48


def test_instructions_history_is_bounded(make_engine: Callable[..., EngineSession]) -> None:
    engine = make_engine()
    for n in range(500):
        engine.receive_event(update(f"u{n}", instructions=f"version {n}"))
    assert len(engine.instructions_history) <= 50
    assert engine.instructions_history[-1] == "version 499"
