"""The whole photo path over real sockets, with the offline engine: asked for photos of a named
grandchild, the engine calls ``show_photos``; the relay answers with that photo's facts and tells the
client which photo to show; ``next_photo`` gives the next; a photo the family deleted meanwhile is
never shown."""

from __future__ import annotations

import json
from typing import Any

from tests.live.conftest import USER, Live, RealtimeClient, eventually
from tests.photos.images import photo


async def add_photo(live: Live, **description: Any) -> str:
    made = await live.http.post(
        f"/api/users/{USER}/photos",
        headers=live.auth(),
        files=[("files", ("p.jpg", photo("jpeg"), "image/jpeg"))],
    )
    assert made.status_code == 201, made.text
    photo_id: str = made.json()["photos"][0]["id"]
    edited = await live.http.patch(
        f"/api/users/{USER}/photos/{photo_id}", headers=live.auth(), json=description
    )
    assert edited.status_code == 200, edited.text
    return photo_id


def outputs(live: Live) -> list[dict[str, Any]]:
    items = live.engine_session().items
    return [json.loads(i["output"]) for i in items if i.get("type") == "function_call_output"]


def calls(live: Live) -> list[dict[str, Any]]:
    items = live.engine_session().items
    return [i for i in items if i.get("type") == "function_call" and i.get("name") == "show_photos"]


async def spoken(client: RealtimeClient) -> dict[str, Any]:
    """The next response that speaks (after a tool's answer, the model speaks again)."""
    return await client.until(
        "response.done", lambda e: e["response"]["output"] and e["response"]["output"][0]["type"] == "message"
    )


async def shown(client: RealtimeClient) -> dict[str, Any]:
    event = await client.until("companion.photo")
    notice: dict[str, Any] = event["photo"]
    return notice


async def test_photos_of_a_named_grandchild_paged_and_never_a_deleted_one(live: Live) -> None:
    beach = await add_photo(live, caption="נועם בים", people=["נועם"], when="2019", where="תל אביב")
    birthday = await add_photo(live, caption="יום ההולדת של נועם", people=["נועם", "דנה"])
    school = await add_photo(live, caption="היום הראשון בבית הספר", people=["נוֹעַם"])  # with niqqud
    await add_photo(live, caption="דנה בגן", people=["דנה"])
    await add_photo(live, caption="סבא משה", people=["משה"], onlyWhenAsked=True)

    client = await live.connect()
    engine = live.engine_session()
    assert "show_photos" in {t.get("name") for t in engine.config.get("tools", [])}
    assert "[photo_people]: «נועם»" in engine.config["instructions"]

    await client.say("תראי לי תמונות של נועם")
    [call] = calls(live)
    assert json.loads(call["arguments"])["mentioned_names"] == ["נועם"]
    first = await shown(client)
    assert (first["id"], first["number"], first["of"], first["hasMore"]) == (beach, 1, 3, True)
    assert first["url"] == f"/app/photos/{beach}" and first["caption"] == "נועם בים"
    answer = outputs(live)[-1]
    assert answer["showing"] == {
        "number": 1,
        "of": 3,
        "caption": "«נועם בים»",
        "when": "«2019»",
        "where": "«תל אביב»",
        "people": ["«נועם»"],
    }
    assert answer["hasMore"] is True
    reply = await spoken(client)
    assert "נועם בים" in json.dumps(reply, ensure_ascii=False)  # the engine speaks the photo's facts

    # The family deletes the next one while the first is on the screen.
    gone = await live.http.delete(f"/api/users/{USER}/photos/{birthday}", headers=live.auth())
    assert gone.status_code == 204

    await client.say("עוד תמונה בבקשה")
    assert json.loads(calls(live)[-1]["arguments"]).get("next_photo") is True
    second = await shown(client)
    assert (second["id"], second["number"], second["of"], second["hasMore"]) == (school, 2, 2, False)
    assert outputs(live)[-1]["showing"]["caption"] == "«היום הראשון בבית הספר»"
    await spoken(client)

    await client.say("עוד תמונה")
    await eventually(lambda: len(outputs(live)) == 3, "the third answer")
    assert outputs(live)[-1]["showing"] is None and outputs(live)[-1]["reason"] == "no_more"
    notices = [e["photo"]["id"] for e in client.events if e.get("type") == "companion.photo"]
    assert notices == [beach, school]  # the deleted one never, the asked-only one never
    assert not any(e.get("type", "").startswith("response.function_call") for e in client.events)
    facts = await live.services.store.photo_facts(USER)
    assert facts[beach].shown_count == 1 and facts[school].shown_count == 1
