"""``/v1/realtime?greet=1``: the companion speaks first, greeting by the person's local time."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect

from tests.live.conftest import Live, RealtimeClient


async def test_greet_makes_the_model_speak_first_with_the_local_time(live: Live) -> None:
    ws = await connect(f"{live.ws_url}?greet=1", additional_headers=live.auth(live.creds.device_token))
    client = RealtimeClient(ws)
    await client.until("session.created")
    # The client sends nothing: the relay asks for the greeting itself.
    transcript = await client.until("response.output_audio_transcript.done")
    done = await client.until("response.done")
    assert done["response"]["status"] == "completed"
    assert "משה" in transcript["transcript"], "the greeting names the person (demo: preferred name משה)"
    received = live.engine_session().received
    created = [e["item"] for e in received if e.get("type") == "conversation.item.create"]
    system = [item for item in created if item.get("role") == "system"]
    assert len(system) == 1
    assert "[part_of_day]:" in system[0]["content"][0]["text"]
    assert [e["type"] for e in received].count("response.create") == 1
    await ws.close()


async def test_without_greet_the_model_waits_for_the_person(live: Live) -> None:
    client = await live.connect()
    await asyncio.sleep(0.3)
    assert not any(e.get("type") == "response.created" for e in client.events)
    assert not any(e.get("type") == "response.create" for e in live.engine_session().received)
