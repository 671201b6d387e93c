"""Conversations kept as the family chose, over real sockets with the offline engine: two in a row (the
first's summary, written by the model out of band, is stored, found by search, and recalled in the
second's instructions); "none" keeps only the counts; "transcript" keeps the turns and shows where the
person cut the companion off."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.live.conftest import EVENT_TIMEOUT_S, USER, Live, RealtimeClient

RECORD_TIMEOUT_S = 15.0  # the person leaves: read-out, the summary, the last write


async def records_as(live: Live, level: str) -> None:
    current = await live.http.get(f"/api/users/{USER}/profile", headers=live.auth())
    body = current.json()["data"] | {"conversationRecords": level}
    saved = await live.http.put(
        f"/api/users/{USER}/profile", json=body, headers={**live.auth(), "If-Match": current.headers["etag"]}
    )
    assert saved.status_code == 200, saved.text


async def ended_conversations(live: Live, count: int, **params: str) -> list[dict[str, Any]]:
    """The newest conversations once ``count`` of them have ended (with their summary, where kept)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECORD_TIMEOUT_S
    while True:
        answer = await live.http.get(f"/api/users/{USER}/conversations", params=params, headers=live.auth())
        assert answer.status_code == 200, answer.text
        found = answer.json()["conversations"]
        done = [c for c in found if c["endedAt"] and (c["records"] == "none" or c["summary"])]
        if len(done) >= count:
            return found
        if loop.time() > deadline:
            raise AssertionError(f"{count} ended conversations were not recorded in time: {found}")
        await asyncio.sleep(0.05)


async def talk_and_leave(live: Live, *said: str) -> RealtimeClient:
    client = await live.connect()
    for text in said:
        await client.say(text)
    await client.ws.close()
    return client


async def test_two_conversations_in_a_row_the_first_summary_is_stored_found_and_recalled(live: Live) -> None:
    await talk_and_leave(live, "I planted tomatoes in the garden", "tell me a story")
    [first] = await ended_conversations(live, 1)
    assert first["summaryKind"] == "model", "the model wrote it, out of band, after the person left"
    assert "tomatoes" in first["summary"]
    assert first["endedHow"] == "person" and first["turns"] == {"person": 2, "companion": 2}
    assert first["records"] == "summary"
    one = (await live.http.get(f"/api/users/{USER}/conversations/{first['id']}", headers=live.auth())).json()
    assert one["transcript"] == [], "summaries are kept by default, transcripts are not"

    found = await live.http.get(
        f"/api/users/{USER}/conversations", params={"q": "TOMATOES"}, headers=live.auth()
    )
    assert [c["id"] for c in found.json()["conversations"]] == [first["id"]]
    none_found = await live.http.get(
        f"/api/users/{USER}/conversations", params={"q": "cucumbers"}, headers=live.auth()
    )
    assert none_found.json()["conversations"] == []

    second = await live.connect()
    instructions = live.engine_session(-1).config["instructions"]
    assert "tomatoes" in instructions, "the second conversation recalls the first"
    assert instructions.rindex("tomatoes") > instructions.index("## "), "at the end, as data"
    await second.say("hello")
    await second.ws.close()
    both = await ended_conversations(live, 2)
    assert both[0]["id"] != first["id"] and both[1]["id"] == first["id"], "newest first"
    client_saw = json_of(second)
    assert "companion_summary" not in client_saw, "the client never sees the summary's response"


def json_of(client: RealtimeClient) -> str:
    return client.texts()


async def test_none_keeps_only_the_counts(live: Live) -> None:
    await records_as(live, "none")
    await talk_and_leave(live, "I planted tomatoes in the garden", "play me music")
    [record] = await ended_conversations(live, 1)
    assert record["records"] == "none"
    assert record["summary"] is None and record["summaryKind"] is None and record["timeline"] == []
    assert record["turns"] == {"person": 2, "companion": 1}, "the music request was answered by a call"
    assert record["endedHow"] == "person" and record["durationSeconds"] >= 0
    assert record["did"]["songs"] == 1, "what the companion did is counted, without its words"
    one = (await live.http.get(f"/api/users/{USER}/conversations/{record['id']}", headers=live.auth())).json()
    assert one["transcript"] == []
    found = await live.http.get(
        f"/api/users/{USER}/conversations", params={"q": "tomatoes"}, headers=live.auth()
    )
    assert found.json()["conversations"] == []
    instructions = (await live.http.get(f"/api/users/{USER}/instructions", headers=live.auth())).json()[
        "text"
    ]
    assert "tomatoes" not in instructions


async def test_transcript_keeps_the_turns_and_a_barge_in_shows_the_cut(live: Live) -> None:
    await records_as(live, "transcript")
    client = await live.connect()
    done = await client.say("tell me a story")
    [message] = [o for o in done["response"]["output"] if o["type"] == "message"]
    spoken = message["content"][0]["transcript"]
    audio = [
        e
        for e in client.events
        if e["type"] == "response.output_audio.delta" and e["item_id"] == message["id"]
    ]
    audio_ms = sum(len(e["delta"]) * 3 // 4 for e in audio) // 48
    assert audio_ms > 200, "the engine spoke it"
    await client.send(
        {
            "type": "conversation.item.truncate",
            "item_id": message["id"],
            "content_index": 0,
            "audio_end_ms": audio_ms // 3,
        }
    )
    await client.until("conversation.item.truncated")
    await client.say("thank you")
    await client.ws.close()
    [record] = await ended_conversations(live, 1)
    one = (await live.http.get(f"/api/users/{USER}/conversations/{record['id']}", headers=live.auth())).json()
    turns = one["transcript"]
    assert [t["role"] for t in turns] == ["person", "companion", "person", "companion"]
    assert turns[0]["text"] == "tell me a story" and turns[2]["text"] == "thank you"
    cut = turns[1]
    assert cut["cut"] and cut["text"].endswith("…") and len(cut["text"]) < len(spoken)
    assert spoken.startswith(cut["text"].removesuffix("…").rstrip())
    assert not turns[3]["cut"]
    found = await live.http.get(
        f"/api/users/{USER}/conversations", params={"q": "story"}, headers=live.auth()
    )
    assert [c["id"] for c in found.json()["conversations"]] == [record["id"]], "transcripts are searched"


async def test_narrowing_the_choice_removes_kept_transcripts_at_once(live: Live) -> None:
    await records_as(live, "transcript")
    await talk_and_leave(live, "I planted tomatoes in the garden")
    [record] = await ended_conversations(live, 1)
    url = f"/api/users/{USER}/conversations/{record['id']}"
    assert (await live.http.get(url, headers=live.auth())).json()["transcript"] != []
    await records_as(live, "summary")
    after = (await live.http.get(url, headers=live.auth())).json()
    assert after["transcript"] == [] and after["conversation"]["summary"]
    deleted = await live.http.delete(url, headers=live.auth())
    assert deleted.status_code == 204
    assert (await live.http.get(url, headers=live.auth())).status_code == 404
    entries = await live.services.store.audit_entries()
    assert (entries[0].action, entries[0].target) == ("delete_conversation", record["id"])
    assert EVENT_TIMEOUT_S > 0
