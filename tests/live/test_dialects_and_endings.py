"""The Azure preview dialect through the translation, and how conversations end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.live.conftest import USER, Live, eventually, run_live

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


async def test_model_expiry_is_crossed_without_the_client_noticing(tmp_path: Path) -> None:
    async for live in run_live(tmp_path):
        client = await live.connect()
        await client.say("שלום, אני רוצה לספר לך על הנכדה שלי")
        first = live.engine_session()
        await live.engine.expire()
        second = await eventually_new_engine_session(live, first)
        done = await client.say("מה אמרתי קודם?")
        assert done["response"]["status"] == "completed"
        # the client saw no error and no second session.created; the new model session has the turns
        assert not [e for e in client.events if e["type"] == "error"]
        assert [e["type"] for e in client.events].count("session.created") == 1
        # the replay: the relay's fixed header, then the record of what was said, in a user message
        assert not any(
            "הנכדה שלי" in json.dumps(i, ensure_ascii=False)
            for i in second.items
            if i.get("role") == "system"
        )
        record = second.items[1]
        assert record.get("role") == "user" and "conversation_so_far" in json.dumps(record)
        assert "הנכדה שלי" in json.dumps(record, ensure_ascii=False)
        assert "נעמי שמר" in second.config["instructions"]
        session = live.services.sessions.of_user(USER)[0]
        assert [c.reason.value for c in session.connections] == ["start", "expired"]


async def eventually_new_engine_session(live: Live, old: object) -> Any:
    await eventually(
        lambda: bool(live.engine.sessions) and live.engine_session() is not old, "a new model session"
    )
    session = live.services.sessions.of_user(USER)[0]
    await eventually(lambda: session.status.value == "active", "the session active again")
    return live.engine_session()
