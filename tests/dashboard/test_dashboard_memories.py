"""The family's memories page (an edit from the version shown, a conflict that loses nothing, keep,
remove, the link to the conversation that taught it), the wizard's conversation-records fields as a
round trip, and narrowing to "none" from the wizard removing kept transcripts at once. In process,
over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from companion.profiles.models import MemorySource
from companion.store.base import ConversationRecord, ConversationWrite, TurnRecord
from tests.dashboard.conftest import DEMO_USER, Dash

MEMORIES = f"/dashboard/people/{DEMO_USER}/memories"
WIZARD = f"/dashboard/people/{DEMO_USER}/wizard"
T0 = datetime.now(UTC) - timedelta(hours=1)


def version_on_page(html: str, memory_id: str) -> str:
    card = html[html.index(f'id="memory-{memory_id}"') :]
    match = re.search(r'name="version" value="(\d+)"', card)
    assert match, "the page carries the version it shows"
    return match[1]


async def test_a_memory_is_edited_from_the_version_shown_and_a_conflict_loses_nothing(dash: Dash) -> None:
    memory, _ = await dash.services.profiles.add_memory(
        DEMO_USER, {"text": "אוהב תה עם נענע"}, source=MemorySource.CONVERSATION, conversation_id="sess-abc"
    )
    await dash.login()
    page = await dash.get(MEMORIES)
    shown = version_on_page(page.text, memory.id)
    saved = await dash.post(f"{MEMORIES}/{memory.id}", {"version": shown, "text": "אוהב תה עם מרווה"})
    assert saved.status_code == 303 and saved.headers["location"] == MEMORIES
    assert "הזיכרון נשמר." in (await dash.get(MEMORIES)).text
    stored, _ = await dash.services.profiles.get_memory(DEMO_USER, memory.id)
    assert stored.text == "אוהב תה עם מרווה"
    assert (stored.source, stored.conversation_id) == (MemorySource.CONVERSATION, "sess-abc")

    stale = await dash.post(f"{MEMORIES}/{memory.id}", {"version": shown, "text": "אוהב קפה"})
    assert stale.status_code == 409
    assert "מישהו אחר שינה את הזיכרון בינתיים" in stale.text
    assert "אוהב תה עם מרווה" in stale.text, "their version is shown to apply the change again"
    after, _ = await dash.services.profiles.get_memory(DEMO_USER, memory.id)
    assert after.text == "אוהב תה עם מרווה", "the edit in between is not overwritten"
    empty = await dash.post(
        f"{MEMORIES}/{memory.id}", {"version": version_on_page(stale.text, memory.id), "text": "x" * 2001}
    )
    assert empty.status_code == 422 and 'role="alert"' in empty.text


async def test_keep_and_remove_and_which_conversation_taught_it(dash: Dash) -> None:
    learned, _ = await dash.services.profiles.add_memory(
        DEMO_USER, {"text": "הנכדה נועה מתחתנת"}, source=MemorySource.CONVERSATION, conversation_id="sess-xyz"
    )
    doubtful, _ = await dash.services.profiles.add_memory(
        DEMO_USER, {"text": "גר פעם בירח"}, source=MemorySource.CONVERSATION
    )
    await dash.login()
    page = (await dash.get(MEMORIES)).text
    card = page[page.index(f'id="memory-{learned.id}"') :]
    card = card[: card.index("</li>")]
    assert f'href="/dashboard/people/{DEMO_USER}/conversations/sess-xyz">נלמד בשיחה הזו</a>' in card
    assert '<span class="badge alert">לבדיקה</span>' in card, "learned in conversation: waits for review"
    assert "נכתב בידי המשפחה" in page, "the family's own memories say so"

    kept = await dash.post(f"{MEMORIES}/{learned.id}/keep", {})
    assert kept.status_code == 303
    stored, _ = await dash.services.profiles.get_memory(DEMO_USER, learned.id)
    assert stored.confirmed_at is not None
    page = (await dash.get(MEMORIES)).text
    assert "הזיכרון נשאר." in page
    assert f"/memories/{learned.id}/keep" not in page, "kept: nothing left to review"

    removed = await dash.post(f"{MEMORIES}/{doubtful.id}/remove", {})
    assert removed.status_code == 303
    assert doubtful.id not in {m.id for m in await dash.services.profiles.list_memories(DEMO_USER)}
    assert "גר פעם בירח" not in (await dash.get(MEMORIES)).text


async def profile_json(dash: Dash) -> dict[str, object]:
    state = await dash.services.profiles.get_section(DEMO_USER, "profile")
    assert state.data is not None
    data: dict[str, object] = state.data.model_dump(mode="json", by_alias=True)
    return data


async def test_the_conversation_records_fields_make_a_round_trip(dash: Dash) -> None:
    await dash.login()
    step = (await dash.get(f"{WIZARD}/2")).text
    assert re.search(r'name="conversationRecords" value="summary" checked', step), "the default"
    moved = await dash.step(2, {"conversationRecords": "transcript", "conversationRetentionDays": "30"})
    assert moved.status_code == 303
    assert (await dash.step(10, action="submit")).status_code == 303
    saved = await profile_json(dash)
    assert (saved["conversationRecords"], saved["conversationRetentionDays"]) == ("transcript", 30)
    again = (await dash.get(f"{WIZARD}/2")).text
    assert re.search(r'name="conversationRecords" value="transcript" checked', again)
    assert not re.search(r'name="conversationRecords" value="summary" checked', again)
    assert re.search(r'name="conversationRetentionDays"[^>]*value="30"', again)
    bad = await dash.step(2, {"conversationRetentionDays": "3"})
    assert bad.status_code == 422, "7-365 days"


async def test_narrowing_to_none_in_the_wizard_removes_kept_transcripts_at_once(dash: Dash) -> None:
    await dash.login()
    await dash.step(2, {"conversationRecords": "transcript"})
    await dash.step(10, action="submit")
    record = ConversationRecord(
        "sess-kept",
        DEMO_USER,
        None,
        "transcript",
        T0,
        ended_at=T0 + timedelta(minutes=3),
        ended_how="person",
        person_turns=1,
        companion_turns=1,
        summary="He talked about tomatoes.",
        summary_kind="model",
    )
    turns = (TurnRecord(0, "person", T0, "I planted tomatoes"), TurnRecord(1, "companion", T0, "Lovely"))
    assert await dash.services.store.save_conversation(ConversationWrite(record, turns, first=True))
    before = await dash.services.store.get_conversation(DEMO_USER, "sess-kept")
    assert before is not None and len(before[1]) == 2

    await dash.step(2, {"conversationRecords": "none"})
    assert (await dash.step(10, action="submit")).status_code == 303
    after = await dash.services.store.get_conversation(DEMO_USER, "sess-kept")
    assert after is not None, "the counts the family needs stay"
    row, kept_turns = after
    assert kept_turns == [] and row.summary is None and row.records == "none"
    assert (row.person_turns, row.companion_turns) == (1, 1)
    page = (await dash.get(f"/dashboard/people/{DEMO_USER}/conversations/sess-kept")).text
    assert "tomatoes" not in page
