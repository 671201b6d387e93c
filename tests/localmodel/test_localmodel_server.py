"""The offline engine over a real loopback WebSocket: handshake rules, streaming, expiry, the SDK."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from lm_helpers import (
    HE_INSTRUCTIONS,
    MUSIC_TOOL,
    append,
    pcm,
    recv,
    recv_until,
    send,
    types,
    update,
    user_text,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from companion.localmodel import LocalModelServer
from companion.localmodel.server import serve_forever

MODEL = "?model=gpt-realtime"


async def test_session_created_first_and_update_echoes_whole_session(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        created = await recv(ws)
        assert created["type"] == "session.created"
        assert created["session"]["model"] == "gpt-realtime"
        await send(ws, update("u1", instructions=HE_INSTRUCTIONS))
        updated = await recv(ws)
        assert updated["type"] == "session.updated"
        assert updated["session"]["instructions"] == HE_INSTRUCTIONS
        assert updated["session"]["audio"] == created["session"]["audio"]
        assert set(updated["session"]) == set(created["session"])
    assert server.connections_total == 1


async def test_inspection_of_live_sessions(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        await recv(ws)
        await send(ws, update(instructions="A"))
        await recv(ws)
        [engine] = server.sessions
        assert engine.instructions_history == ["", "A"]
        assert engine.received[0]["session"]["instructions"] == "A"
        assert engine.config["instructions"] == "A"
    for _ in range(100):
        if not server.sessions:
            break
        await asyncio.sleep(0.01)
    assert server.sessions == []
    assert len(server.all_sessions) == 1


async def test_voice_change_after_audio_is_rejected(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        await recv(ws)
        await send(ws, {"type": "response.create"})
        seen = await recv_until(ws, "rate_limits.updated")
        assert "response.output_audio.delta" in types(seen)
        await send(ws, update("v1", audio={"output": {"voice": "ash"}}))
        error = await recv(ws)
        assert error["error"]["code"] == "cannot_update_voice"
        assert error["error"]["event_id"] == "v1"


async def test_double_response_create(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        await recv(ws)
        await send(ws, {"type": "response.create", "event_id": "r1"})
        await send(ws, {"type": "response.create", "event_id": "r2"})
        seen = await recv_until(ws, "error")
        assert types(seen)[0] == "response.created"
        assert "response.done" not in types(seen)  # rejected while the first one was still active
        assert seen[-1]["error"]["code"] == "conversation_already_has_active_response"
        assert seen[-1]["error"]["event_id"] == "r2"
        await recv_until(ws, "rate_limits.updated")


async def test_unknown_event_and_bad_frames_keep_the_session_open(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        await recv(ws)
        await send(ws, {"type": "conversation.item.frobnicate", "event_id": "evt_42"})
        error = await recv(ws)
        assert error["type"] == "error"
        assert (error["error"]["code"], error["error"]["param"], error["error"]["event_id"]) == (
            "invalid_value",
            "type",
            "evt_42",
        )
        await ws.send("not json")
        assert (await recv(ws))["error"]["code"] == "invalid_json"
        await ws.send(b"\x00\x01")
        assert (await recv(ws))["error"]["code"] == "invalid_event"
        await send(ws, update(instructions="still here"))
        assert (await recv(ws))["type"] == "session.updated"


def _music_artist(events: list[dict[str, Any]]) -> str:
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    return str(json.loads(done["arguments"])["artist"])


async def test_music_follows_the_current_instructions_and_items_survive(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        await recv(ws)
        await send(ws, update(instructions=HE_INSTRUCTIONS, tools=[MUSIC_TOOL]))
        await recv(ws)
        await send(ws, user_text("תנגן לי שיר"))
        await send(ws, {"type": "response.create"})
        first = await recv_until(ws, "rate_limits.updated")
        assert _music_artist(first) == "נעמי שמר"
        call = next(e for e in first if e["type"] == "response.function_call_arguments.done")
        assert (call["call_id"], call["name"]) == ("call_1", "play_music")

        await send(ws, update(instructions=HE_INSTRUCTIONS.replace("«נעמי שמר», ", "")))
        assert (await recv(ws))["type"] == "session.updated"
        [engine] = server.sessions
        assert [i["type"] for i in engine.items] == ["message", "function_call"]

        await send(
            ws,
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "call_1", "output": "{}"},
            },
        )
        await send(ws, user_text("עוד מוזיקה"))
        await send(ws, {"type": "response.create"})
        second = await recv_until(ws, "rate_limits.updated")
        assert _music_artist(second) == "אריק איינשטיין"
        assert [i["type"] for i in engine.items] == [
            "message",
            "function_call",
            "function_call_output",
            "message",
            "function_call",
        ]


async def test_beta_preview_path_uses_beta_shapes(server: LocalModelServer) -> None:
    async with connect(server.azure_preview_url("x")) as ws:
        created = await recv(ws)
        assert created["session"]["modalities"] == ["text", "audio"]
        assert "type" not in created["session"]
        await send(
            ws, {"type": "session.update", "session": {"voice": "verse", "instructions": HE_INSTRUCTIONS}}
        )
        updated = await recv(ws)
        assert updated["session"]["voice"] == "verse"
        await send(ws, {"type": "session.update", "event_id": "g", "session": {"type": "realtime"}})
        assert (await recv(ws))["error"]["code"] == "unknown_parameter"
        await send(ws, user_text("hi"))
        created_item = await recv(ws)
        assert created_item["type"] == "conversation.item.created"
        await send(ws, {"type": "response.create"})
        names = types(await recv_until(ws, "rate_limits.updated"))
        assert "response.audio.delta" in names
        assert "response.audio_transcript.done" in names
        assert "conversation.item.added" not in names
    assert server.all_sessions[-1].config["model"] == "x"


async def test_openai_beta_header_on_v1_gives_beta(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL, additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        assert "modalities" in (await recv(ws))["session"]


async def test_azure_ga_path(server: LocalModelServer) -> None:
    async with connect(server.azure_url("my-deployment")) as ws:
        created = await recv(ws)
        assert created["session"]["type"] == "realtime"
        assert created["session"]["model"] == "my-deployment"


@pytest.mark.parametrize(
    "path",
    [
        "/openai/realtime?deployment=x",
        "/openai/v1/realtime?model=x&api-version=2025-04-01-preview",
        "/openai/realtime?api-version=2025-04-01-preview&model=x",
        "/realtime",
    ],
)
async def test_mixed_url_forms_get_404(server: LocalModelServer, path: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(server.base_url + path):
            pass
    assert info.value.response.status_code == 404


async def test_beta_header_on_azure_ga_closes_4000(server: LocalModelServer) -> None:
    async with connect(server.azure_url("x"), additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        error = await recv(ws)
        assert error["error"]["code"] == "beta_api_shape_disabled"
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 4000
    assert info.value.rcvd.reason == "invalid_request_error.beta_api_shape_disabled"


async def test_missing_model_closes_4000(server: LocalModelServer) -> None:
    async with connect(server.url) as ws:
        assert (await recv(ws))["error"]["code"] == "missing_model"
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 4000


async def test_api_key_is_required_when_configured() -> None:
    async with LocalModelServer(api_key="sekret") as srv:
        with pytest.raises(InvalidStatus) as info:
            async with connect(srv.url + MODEL):
                pass
        assert info.value.response.status_code == 401
        with pytest.raises(InvalidStatus):
            async with connect(srv.url + MODEL, additional_headers={"Authorization": "Bearer nope"}):
                pass
        async with connect(srv.url + MODEL, additional_headers={"Authorization": "Bearer sekret"}) as ws:
            assert (await recv(ws))["type"] == "session.created"
        async with connect(srv.azure_url("d"), additional_headers={"api-key": "sekret"}) as ws:
            assert (await recv(ws))["type"] == "session.created"


async def test_session_expires_after_the_maximum_duration() -> None:
    async with LocalModelServer(max_session_s=0.3) as srv, connect(srv.url + MODEL) as ws:
        assert (await recv(ws))["type"] == "session.created"
        error = await asyncio.wait_for(recv(ws), timeout=5)
        assert error["error"]["code"] == "session_expired"
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), timeout=5)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1001
    assert info.value.rcvd.reason == "Your session hit the maximum duration of 0.3 seconds."


async def test_vad_over_the_wire(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        await recv(ws)
        await send(ws, update(output_modalities=["text"]))
        await recv(ws)
        audio = pcm(300) + pcm(500, amplitude=8000) + pcm(700)
        for start in range(0, len(audio), 4800):  # 100 ms appends, as a client streams them
            await send(ws, append(audio[start : start + 4800]))
        seen = await recv_until(ws, "rate_limits.updated")
        assert types(seen)[:5] == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
        ]
        assert seen[0]["audio_start_ms"] == 0
        assert seen[1]["audio_end_ms"] == 800 + 500
        assert "response.output_text.done" in types(seen)


async def test_runtime_switches_reject_ignore_delay(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        await recv(ws)
        server.reject_session_updates = True
        await send(ws, update("a", instructions="x"))
        rejected = await recv(ws)
        assert (rejected["type"], rejected["error"]["event_id"]) == ("error", "a")
        server.reject_session_updates = False
        server.ignore_session_updates = True
        await send(ws, update("b", instructions="y"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), timeout=0.2)
        server.ignore_session_updates = False
        server.session_update_delay_s = 0.3
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        await send(ws, update("c", instructions="z"))
        updated = await recv(ws)
        assert updated["session"]["instructions"] == "z"
        assert loop.time() - sent_at >= 0.25


async def test_response_audio_is_valid_pcm(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        await recv(ws)
        await send(ws, {"type": "response.create"})
        seen = await recv_until(ws, "response.done")
        audio = b"".join(
            base64.b64decode(e["delta"]) for e in seen if e["type"] == "response.output_audio.delta"
        )
        assert len(audio) % 2 == 0
        assert 0 < len(audio) <= 3 * 48000


async def test_official_openai_sdk_can_talk_to_it(server: LocalModelServer) -> None:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="x", websocket_base_url=server.base_url + "/v1")
    async with client.realtime.connect(model="gpt-realtime") as conn:
        created = await conn.recv()
        assert created.type == "session.created"
        await conn.session.update(
            session={"type": "realtime", "instructions": HE_INSTRUCTIONS, "output_modalities": ["text"]}
        )
        updated = await conn.recv()
        assert updated.type == "session.updated"
        assert getattr(updated.session, "instructions", None) == HE_INSTRUCTIONS
        await conn.response.create()
        text = ""
        async for event in conn:
            if event.type == "response.output_text.done":
                text = event.text
            if event.type == "response.done":
                assert event.response.status == "completed"
                assert event.response.usage is not None
                break
        assert text == "שלום משה! מה שלומך היום?"


async def test_serve_forever_runs_until_cancelled() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    task = asyncio.create_task(serve_forever("127.0.0.1", port, max_session_s=60))
    try:
        for _ in range(100):
            try:
                async with connect(f"ws://127.0.0.1:{port}/v1/realtime{MODEL}") as ws:
                    assert (await recv(ws))["type"] == "session.created"
                    break
            except OSError:
                await asyncio.sleep(0.02)
        else:
            raise AssertionError("server never came up")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
