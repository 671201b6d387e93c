"""Helpers for the offline engine's tests: event builders, synthetic audio, websocket reading."""

from __future__ import annotations

import array
import base64
import json
import math
from typing import Any

from websockets.asyncio.client import ClientConnection

HE_INSTRUCTIONS = (
    "את/ה מלווה חם/ה.\n"
    "שם מועדף [preferred_name]: «משה»\n"
    "אמנים מועדפים [preferred_artists]: «נעמי שמר», «אריק איינשטיין»\n"
)
EN_INSTRUCTIONS = (
    "You are kind.\nPreferred name [preferred_name]: «Ann»\nArtists [preferred_artists]: «Nina Simone»\n"
)
MUSIC_TOOL = {"type": "function", "name": "play_music", "description": "Play music", "parameters": {}}


def user_text(text: str, event_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }
    if event_id:
        event["event_id"] = event_id
    return event


def update(event_id: str | None = None, **session: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "session.update", "session": {"type": "realtime", **session}}
    if event_id:
        event["event_id"] = event_id
    return event


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def pcm(ms: int, amplitude: int = 0, hz: float = 300.0) -> bytes:
    """24 kHz mono PCM16 little-endian: a tone (or silence with amplitude 0)."""
    count = 24 * ms
    return array.array(
        "h", (round(amplitude * math.sin(2 * math.pi * hz * i / 24000)) for i in range(count))
    ).tobytes()


def append(audio: bytes) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def recv(ws: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(await ws.recv()))


async def recv_until(ws: ClientConnection, kind: str, limit: int = 500) -> list[dict[str, Any]]:
    """Every event up to and including the first of type ``kind``."""
    seen: list[dict[str, Any]] = []
    for _ in range(limit):
        seen.append(await recv(ws))
        if seen[-1]["type"] == kind:
            return seen
    raise AssertionError(f"no {kind} in {types(seen)}")


async def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    await ws.send(json.dumps(event, ensure_ascii=False))
