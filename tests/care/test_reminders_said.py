"""A reminder is recorded as said only when the conversation said it: the outcome of the model's
response decides, not the sending of the request. Not said is retried a bounded number of times and
then left to the page's card; "talk to me" has the greeting say it once. Real SQLite store, a driven
clock and a fake conversation whose outcomes the test chooses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from companion.care.reminders import GREETING_HOLD, MAX_SAY_ATTEMPTS, SAY_AGAIN
from tests.care.reminder_fixtures import Rig, make_rig, medications, person

START = datetime(2026, 3, 26, 6, 0, 1, tzinfo=UTC)  # 08:00:01 in Jerusalem: the 08:00 dose is due
U = "u-said"
LABEL = 'אקמול 500 מ"ג'


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await make_rig(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", START - timedelta(minutes=5))
    await r.store.create_user(U)
    await r.save(U, "profile", person())
    await r.save(U, "safety", medications(("אקמול", '500 מ"ג', ["08:00"])))  # at 07:55: owed at 08:00
    r.clock.now = START
    try:
        yield r
    finally:
        await r.service.close()
        await r.store.close()


async def the_dose(rig: Rig) -> tuple[str, str | None, datetime | None]:
    [record] = await rig.store.list_of_user(U, START.replace(hour=0), START.replace(hour=23))
    return record.state, record.delivered_via, record.delivered_at


async def test_said_is_recorded_when_the_response_was_said_and_only_then(rig: Rig) -> None:
    rig.conversation.live = True
    rig.conversation.outcomes = ["interrupted"]
    await rig.tick()
    assert len(rig.conversation.said) == 1
    assert await the_dose(rig) == ("due", None, None), "asked, not said: the record does not claim it"

    rig.clock.advance(seconds=SAY_AGAIN.total_seconds() - 1)
    await rig.tick()
    assert len(rig.conversation.said) == 1, "asked again only after a pause"
    rig.clock.advance(seconds=1)
    await rig.tick()
    assert len(rig.conversation.said) == 2
    assert await the_dose(rig) == ("delivered", "conversation", rig.clock.now)
    assert await rig.service.for_page(U) == [], "said in the conversation: no card afterwards"


@pytest.mark.parametrize("outcome", ["interrupted", "failed", "no_response", "busy"])
async def test_retries_are_bounded_then_the_card_is_the_fallback(rig: Rig, outcome: str) -> None:
    rig.conversation.live = True
    rig.conversation.outcomes = [outcome] * MAX_SAY_ATTEMPTS  # type: ignore[list-item]
    for _ in range(MAX_SAY_ATTEMPTS + 2):
        await rig.tick()
        rig.clock.advance(seconds=SAY_AGAIN.total_seconds())
    assert len(rig.conversation.said) == MAX_SAY_ATTEMPTS, "then the conversation is not asked again"
    assert await the_dose(rig) == ("due", None, None)
    [card] = await rig.service.for_page(U)  # the conversation ended: the page shows the card
    assert (card.state, card.delivered_via) == ("delivered", "page")


async def test_no_conversation_is_not_an_attempt(rig: Rig) -> None:
    for _ in range(MAX_SAY_ATTEMPTS + 2):
        await rig.tick()
        rig.clock.advance(seconds=SAY_AGAIN.total_seconds())
    rig.conversation.live = True
    await rig.tick()
    assert len(rig.conversation.said) == 1
    assert (await the_dose(rig))[:2] == ("delivered", "conversation")


async def test_talk_greets_with_the_reminder_once_and_records_it_said(rig: Rig) -> None:
    [card] = await rig.service.for_page(U)
    await rig.service.talk(U, card.id)
    note = await rig.service.greeting_note(U, card.id)
    assert note is not None and f"[say]: «הגיע הזמן לקחת {LABEL}. לקחת כבר?»" in note
    assert await rig.service.greeting_note(U, card.id) is None, "one greeting says it, not two"
    rig.conversation.live = True
    await rig.tick()
    assert rig.conversation.said == [], "the tick does not ask while the greeting says it"
    assert await rig.service.for_page(U) == [], "nor does the page show it meanwhile"
    rig.clock.advance(seconds=3)
    await rig.service.greeting_said(U, card.id, "said")
    assert await the_dose(rig) == ("delivered", "conversation", rig.clock.now)
    await rig.tick()
    assert rig.conversation.said == []
    assert await rig.service.for_page(U) == [], "the card does not come back"
    assert await rig.service.greeting_note(U, card.id) is None, "said: a second conversation does not"


async def test_a_greeting_that_was_cut_hands_the_reminder_back_to_the_conversation(rig: Rig) -> None:
    [card] = await rig.service.for_page(U)
    assert await rig.service.greeting_note(U, card.id) is not None
    await rig.service.greeting_said(U, card.id, "interrupted")
    assert await the_dose(rig) == ("due", None, None)
    rig.conversation.live = True
    await rig.tick()
    assert rig.conversation.said == [], "asked again after a pause"
    rig.clock.advance(seconds=SAY_AGAIN.total_seconds())
    await rig.tick()
    assert [rid for _, _, rid in rig.conversation.said] == [card.id]
    assert (await the_dose(rig))[:2] == ("delivered", "conversation")


async def test_no_greeting_note_for_a_confirmed_or_unknown_reminder(rig: Rig) -> None:
    [card] = await rig.service.for_page(U)
    await rig.service.acknowledge(U, card.id, via="page")
    assert await rig.service.greeting_note(U, card.id) is None
    assert await rig.service.greeting_note(U, "rem-nope") is None


async def test_a_greeting_that_never_reports_lets_go_of_the_reminder_in_the_end(rig: Rig) -> None:
    """The conversation ended before its greeting's outcome could be recorded: the hold lapses and the
    card (still delivered to the page, never said) comes back."""
    [card] = await rig.service.for_page(U)
    assert await rig.service.greeting_note(U, card.id) is not None
    rig.clock.advance(seconds=GREETING_HOLD.total_seconds() - 1)
    assert await rig.service.for_page(U) == []
    rig.clock.advance(seconds=1)
    assert [r.id for r in await rig.service.for_page(U)] == [card.id]
    assert await the_dose(rig) == ("delivered", "page", START)
