"""The reason the product exists, end to end over real sockets: a caregiver removes an artist and the
running conversation follows, confirmed, with its history intact, and her name never reaches the app."""

from __future__ import annotations

import json
from typing import Any

from openai import AsyncOpenAI

from tests.live.conftest import USER, Live, eventually

NAOMI = "נעמי שמר"
ARIK = "אריק איינשטיין"


def _user_texts(items: list[dict[str, Any]]) -> list[str]:
    texts = []
    for item in items:
        if item.get("role") == "user":
            texts += [c.get("text", "") for c in item.get("content", []) if c.get("type") == "input_text"]
    return texts


async def test_openai_sdk_conversation_follows_the_caregivers_change(live: Live) -> None:
    sdk = AsyncOpenAI(api_key=live.creds.device_token, websocket_base_url=f"ws://127.0.0.1:{live.port}/v1")
    async with sdk.realtime.connect(model="gpt-realtime") as conn:
        created = await conn.recv()
        assert created.type == "session.created"
        engine = live.engine_session()
        assert NAOMI in engine.config["instructions"] and ARIK in engine.config["instructions"]

        # some conversation before the change
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "בוקר טוב"}]}
        )
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                break
        items_before = [dict(i) for i in engine.items]
        assert "בוקר טוב" in _user_texts(items_before)
        updates_before = sum(1 for e in engine.received if e.get("type") == "session.update")

        # the caregiver removes Naomi Shemer
        response = await live.put_music(ARIK)
        assert response.status_code == 200, response.text
        assert response.json()["liveSessions"] == {"refreshed": 1, "unchanged": 0, "failed": 0}

        # the model received exactly one more session.update, without her and still with him, and confirmed it
        updates = [e for e in engine.received if e.get("type") == "session.update"]
        assert len(updates) == updates_before + 1
        sent = updates[-1]["session"]["instructions"]
        assert NAOMI not in sent and ARIK in sent
        assert engine.config["instructions"] == sent
        session = live.services.sessions.of_user(USER)[0]
        assert session.last_refresh is not None and session.last_refresh.result.value == "refreshed"
        assert session.instructions is not None and session.instructions.text == sent

        # same upstream connection, nothing deleted
        assert live.engine.connections_total == 1
        assert not any(e.get("type") == "conversation.item.delete" for e in engine.received)
        assert [i.get("id") for i in engine.items[: len(items_before)]] == [i.get("id") for i in items_before]

        # asking for music now: the call that reaches the client names him, and her name never appears
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "תנגן לי מוזיקה"}],
            }
        )
        await conn.response.create()
        seen: list[str] = []
        call_args = None
        async for event in conn:
            seen.append(event.to_json())
            if event.type == "response.function_call_arguments.done":
                call_args = json.loads(event.arguments)
            if event.type == "response.done":
                break
        assert call_args is not None and call_args["artist"] == ARIK
        assert not any(NAOMI in text for text in seen)


async def test_removed_artist_is_refused_even_if_the_model_ignores_its_instructions(live: Live) -> None:
    client = await live.connect()
    # the model stops accepting updates: its instructions still name her
    live.engine.ignore_session_updates = True
    response = await live.put_music(ARIK)
    assert response.status_code == 200, "the save itself succeeds"
    assert response.json()["liveSessions"] == {"refreshed": 0, "unchanged": 0, "failed": 1}
    engine = live.engine_session()
    assert NAOMI in engine.config["instructions"]

    await client.say("תנגן לי שיר")
    # the relay answered the model itself with a refusal naming what may be played...
    await eventually(
        lambda: any(
            i.get("type") == "function_call_output" and "artist_not_preferred" in i.get("output", "")
            for i in engine.items
        ),
        "the refusal to reach the model",
    )
    output = next(i for i in engine.items if i.get("type") == "function_call_output")
    assert json.loads(output["output"])["mayPlay"]["artists"] == [ARIK]
    # ...and let the model speak again; the client never saw a call with her name
    await client.until("response.done")
    assert NAOMI not in client.texts()
    assert not any(e["type"].startswith("response.function_call_arguments") for e in client.events)
    assert live.services.metrics.tool_calls.labels(tool="play_music", outcome="refused")._value.get() == 1
