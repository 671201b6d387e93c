"""Tools the relay answers itself: the client never sees them, the model gets the result."""

from __future__ import annotations

import json

from tests.live.conftest import USER, Live, eventually


async def test_remember_saves_a_memory_from_the_conversation(live: Live) -> None:
    client = await live.connect()
    await client.say("תזכור שאני אוהב קפה שחור")
    engine = live.engine_session()
    await eventually(
        lambda: any(i.get("type") == "function_call_output" for i in engine.items),
        "the tool result to reach the model",
    )
    output = json.loads(next(i for i in engine.items if i.get("type") == "function_call_output")["output"])
    assert output["ok"] is True
    memories = await live.services.profiles.list_memories(USER)
    saved = [m for m in memories if m.source.value == "conversation"]
    assert [m.text for m in saved] == ["אני אוהב קפה שחור"]
    # the model speaks again after the result, and the new memory is in its instructions
    await client.until(
        "response.done", lambda e: e["response"]["output"] and e["response"]["output"][0]["type"] == "message"
    )
    await eventually(
        lambda: "קפה שחור" in engine.config["instructions"], "the memory to reach the instructions"
    )
    assert not any("function_call" in e["type"] for e in client.events)
    assert "remember" not in client.texts()


async def test_crisis_phrase_raises_a_critical_alert(live: Live) -> None:
    client = await live.connect()
    await client.say("תעזרו לי, אני לא יודע איפה אני")
    await eventually(lambda: bool(live.engine_session().items[-1:]), "items")
    await client.until(
        "response.done", lambda e: e["response"]["output"] and e["response"]["output"][0]["type"] == "message"
    )
    r = await live.http.get(f"/api/users/{USER}/alerts", headers=live.auth())
    alerts = r.json()["alerts"]
    assert len(alerts) == 1
    assert alerts[0]["severity"] == "critical"
    assert alerts[0]["rule"] == "תעזרו לי"
    assert alerts[0]["sessionId"] == live.services.sessions.of_user(USER)[0].id
    assert not any("alert_family" in json.dumps(e, ensure_ascii=False) for e in client.events)
    r = await live.http.post(f"/api/users/{USER}/alerts/{alerts[0]['id']}/resolve", headers=live.auth())
    assert r.status_code == 200 and r.json()["alert"]["resolved"] is True
