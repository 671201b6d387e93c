"""The conversations API in process, on SQLite and PostgreSQL: pages with a cursor, dates, bad
input's clear 4xx, the person's today, the export (complete, without secrets, audited), and editing a
memory with If-Match."""

from __future__ import annotations

from datetime import timedelta

from companion.clock import utcnow
from companion.conversations.today import day_bounds
from companion.store.base import ConversationRecord, ConversationWrite, TurnRecord
from tests.api import payloads
from tests.api.conftest import Api

PERSON = "user-api-conv"


async def person(api: Api) -> None:
    assert (await api.admin("POST", "/api/users", json={"userId": PERSON})).status_code == 201
    assert (
        await api.admin("PUT", f"/api/users/{PERSON}/profile", json=payloads.profile())
    ).status_code == 200


async def conversations(api: Api, count: int) -> list[ConversationRecord]:
    now = utcnow()
    zone = await api.services.family.zone(PERSON)  # the profile's (Asia/Jerusalem when it says none)
    midnight, _ = day_bounds(now.astimezone(zone).date(), zone)
    # half an hour ago, or halfway since the person's midnight when that is sooner: today is today
    latest = max(now - timedelta(minutes=30), midnight + (now - midnight) / 2)
    made = []
    for i in range(count):
        started = latest - timedelta(days=i)
        record = ConversationRecord(
            f"sess-{i:03d}",
            PERSON,
            None,
            "transcript",
            started,
            ended_at=started + timedelta(minutes=5),
            ended_how="person",
            person_turns=1,
            person_talk_ms=60_000,
            summary=f"summary number {i}",
            summary_kind="model",
        )
        turn = TurnRecord(0, "person", started, f"words of day {i}")
        assert await api.services.store.save_conversation(ConversationWrite(record, (turn,), first=True))
        made.append(record)
    return made


async def test_pages_follow_the_cursor_to_the_end(any_api: Api) -> None:
    api = any_api
    await person(api)
    await conversations(api, 5)
    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await api.admin("GET", f"/api/users/{PERSON}/conversations", params=params)
        assert page.status_code == 200, page.text
        seen += [c["id"] for c in page.json()["conversations"]]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"sess-{i:03d}" for i in range(5)]


async def test_bad_filters_are_a_clear_4xx(api: Api) -> None:
    await person(api)
    url = f"/api/users/{PERSON}/conversations"
    bad_cursor = await api.admin("GET", url, params={"cursor": "nonsense!"})
    assert bad_cursor.status_code == 422 and bad_cursor.json()["field"] == "cursor"
    backwards = await api.admin("GET", url, params={"from": "2026-03-05", "to": "2026-03-01"})
    assert backwards.status_code == 422 and backwards.json()["field"] == "from"
    not_a_day = await api.admin("GET", url, params={"from": "2026-02-31"})
    assert not_a_day.status_code == 422
    missing = await api.admin("GET", f"{url}/sess-nobody")
    assert missing.status_code == 404


async def test_today_counts_the_persons_day(api: Api) -> None:
    await person(api)
    await conversations(api, 3)
    today = (await api.admin("GET", f"/api/users/{PERSON}/today")).json()
    assert today["conversations"] >= 1 and len(today["days"]) == 14
    assert today["last"]["id"] == "sess-000" and today["last"]["summary"] == "summary number 0"
    assert sum(d["conversations"] for d in today["days"]) == 3


async def test_the_export_holds_everything_without_secrets_and_is_audited(any_api: Api) -> None:
    api = any_api
    await person(api)
    await conversations(api, 2)
    await api.admin("POST", f"/api/users/{PERSON}/memories", json={"text": "Grew up in Haifa"})
    await api.services.alerts.record(PERSON, {"severity": "high", "summary": "Fell"}, session_id=None)
    await api.admin("POST", f"/api/users/{PERSON}/pairings")
    await api.admin("POST", "/api/tokens", json={"role": "device", "userId": PERSON})
    answer = await api.admin("GET", f"/api/users/{PERSON}/export")
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["profile"]["profile"]["data"]["personalInfo"]
    assert [m["text"] for m in doc["memories"]] == ["Grew up in Haifa"]
    assert doc["alerts"][0]["summary"] == "Fell"
    assert [c["id"] for c in doc["conversations"]] == ["sess-001", "sess-000"]
    assert doc["conversations"][0]["transcript"][0]["text"] == "words of day 1"
    assert doc["records"]["pairing_codes"] and doc["records"]["api_tokens"]
    assert "_hash" not in answer.text and "token_hash" not in answer.text
    assert doc["photos"] == []
    [entry, *_] = await api.services.store.audit_entries()
    assert (entry.action, entry.target) == ("export_person", PERSON)


async def test_a_memory_is_edited_from_the_version_read(api: Api) -> None:
    await person(api)
    made = await api.admin("POST", f"/api/users/{PERSON}/memories", json={"text": "Likes tea"})
    memory_id = made.json()["memory"]["id"]
    url = f"/api/users/{PERSON}/memories/{memory_id}"
    read = await api.admin("GET", url)
    etag = read.headers["etag"]
    no_version = await api.admin("PATCH", url, json={"text": "Likes green tea"})
    assert no_version.status_code == 428
    edited = await api.admin("PATCH", url, json={"text": "Likes green tea"}, headers={"If-Match": etag})
    assert edited.status_code == 200 and edited.json()["memory"]["text"] == "Likes green tea"
    stale = await api.admin("PATCH", url, json={"importance": 5}, headers={"If-Match": etag})
    assert stale.status_code == 412
    wrong = await api.admin(
        "PATCH", url, json={"importance": 9}, headers={"If-Match": edited.headers["etag"]}
    )
    assert wrong.status_code == 422 and "importance" in wrong.json()["field"]
