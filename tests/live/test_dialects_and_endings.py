"""The Azure preview dialect through the translation, and how conversations end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.live.conftest import USER, eventually, run_live

ARIK = "אריק איינשטיין"


async def test_azure_preview_dialect_end_to_end(tmp_path: Path) -> None:
    async for live in run_live(
        tmp_path,
        engine_kwargs={"api_key": "azure-key"},  # the engine refuses a handshake without the api-key header
        upstream="azure",
        upstream_api_key="azure-key",
        upstream_model="gpt-realtime-dep",
        azure_api_version="2025-04-01-preview",
    ):
        client = await live.connect()
        engine_session = live.engine_session()
        assert engine_session.dialect == "beta"
        # the wire to the model spoke beta: the first update used beta field names
        first_update = next(e for e in engine_session.received if e.get("type") == "session.update")
        assert "modalities" in first_update["session"] and "audio" not in first_update["session"]
        assert "נעמי שמר" in engine_session.config["instructions"]
        # the client sees GA shapes only
        await client.say("שלום")
        kinds = {e["type"] for e in client.events}
        assert "response.output_audio.delta" in kinds and "conversation.item.added" in kinds
        assert not any(k.startswith("response.audio") or k == "conversation.item.created" for k in kinds)
        # refresh works through the translation
        save = await live.put_music(ARIK)
        assert save.json()["liveSessions"] == {"refreshed": 1, "unchanged": 0, "failed": 0}
        assert "נעמי שמר" not in engine_session.config["instructions"]
        await client.say("תנגן לי מוזיקה")
        call = next(e for e in client.events if e["type"] == "response.function_call_arguments.done")
        assert json.loads(call["arguments"])["artist"] == ARIK


async def test_upstream_expiry_reaches_the_client_as_error_and_close(tmp_path: Path) -> None:
    async for live in run_live(tmp_path, engine_kwargs={"max_session_s": 0.5}):
        client = await live.connect()
        codes = []
        while True:
            try:
                event = await client.next_event()
            except Exception:
                break
            if event["type"] == "error":
                codes.append(event["error"]["code"])
        assert codes[:2] == ["session_expired", "upstream_disconnected"]
        assert client.ws.close_code == 1011
        sessions = live.services.sessions
        await eventually(lambda s=sessions: not s.of_user(USER), "the session to be closed")
        closed = live.services.sessions.all(include_closed=True)[0]
        assert closed.status.value == "closed"
