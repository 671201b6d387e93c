"""ReminderService with an injected clock on a real SQLite store: scheduling from the profile and on a
save, spoken in a live conversation, shown on the page without one, acknowledged by the tool and the
button, snoozed, missed and escalated to the family once, and what the companion says."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from companion.care.reminder_tools import REMINDER_TOOL_NAMES
from companion.care.reminder_words import card_words, missed_summary, say_note, sentence
from companion.care.reminders import MAX_SNOOZE_MINUTES, MIN_SNOOZE_MINUTES
from companion.errors import InvalidInput, NotFound
from companion.prompt.tools import REMINDER_TOOLS
from tests.care.reminder_fixtures import Clock, Rig, make_rig, make_service, medications, person

# 07:55 in Jerusalem on 26 March 2026 (UTC+2); the next night skips 02:00-03:00.
START = datetime(2026, 3, 26, 5, 55, tzinfo=UTC)
ACAMOL = ("אקמול", '500 מ"ג', ["08:00", "20:00"])
U = "u-rem"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await make_rig(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", START)
    await r.store.create_user(U)
    await r.save(U, "profile", person(checkins=["10:00"]))
    await r.save(U, "safety", medications(ACAMOL))
    try:
        yield r
    finally:
        await r.service.close()
        await r.store.close()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---- what is said ---------------------------------------------------------------------------------


def test_the_sentence_names_the_medication_and_dosage_in_the_persons_language() -> None:
    assert sentence("medication", 'אקמול 500 מ"ג', "he") == 'הגיע הזמן לקחת אקמול 500 מ"ג. לקחת כבר?'
    assert (
        sentence("medication", "Aricept 5 mg", "en")
        == "It's time to take Aricept 5 mg. Have you taken it yet?"
    )
    assert sentence("checkin", "", "en").startswith("How are you")
    assert sentence("medication", "X 1 mg", "fr") == sentence("medication", "X 1 mg", "he"), "unknown: Hebrew"
    note = say_note("rem-1", "medication", 'אקמול 500 מ"ג', "08:00", "he")
    assert 'הגיע הזמן לקחת אקמול 500 מ"ג' in note and 'reminder_id "rem-1"' in note and "Hebrew" in note
    assert "medication_taken" not in say_note("rem-2", "checkin", "", "10:00", "en")
    assert (
        missed_summary("medication", "Aricept 5 mg", "08:00", "en")
        == "Aricept 5 mg at 08:00 was not confirmed"
    )
    assert missed_summary("medication", 'אקמול 500 מ"ג', "08:00", "he") == 'אקמול 500 מ"ג בשעה 08:00 לא אושרה'
    assert card_words("he", 10)["snooze"] == "הזכר לי בעוד 10 דקות"
    assert card_words("en", 15)["snooze"] == "Remind me in 15 minutes"


# ---- the schedule ----------------------------------------------------------------------------------


async def test_today_and_tomorrow_are_scheduled_from_the_profile_across_the_dst_night(rig: Rig) -> None:
    await rig.service.sync(U)
    states = await rig.states(U)
    label = 'אקמול 500 מ"ג'
    assert states == {
        ("2026-03-26T06:00:00+00:00", label): "due",  # 08:00 IST (+2)
        ("2026-03-26T08:00:00+00:00", ""): "due",  # the 10:00 check-in
        ("2026-03-26T18:00:00+00:00", label): "due",
        ("2026-03-27T05:00:00+00:00", label): "due",  # 08:00 IDT (+3): clocks went forward that night
        ("2026-03-27T07:00:00+00:00", ""): "due",
        ("2026-03-27T17:00:00+00:00", label): "due",
    }


async def test_a_profile_save_changes_the_schedule_at_once(rig: Rig) -> None:
    await rig.service.sync(U)
    await rig.save(U, "safety", medications(("אקמול", '500 מ"ג', ["09:00"])))
    states = await rig.states(U)
    label = 'אקמול 500 מ"ג'
    assert states[("2026-03-26T06:00:00+00:00", label)] == "cancelled"
    assert states[("2026-03-26T07:00:00+00:00", label)] == "due"
    assert states[("2026-03-26T18:00:00+00:00", label)] == "cancelled"
    # a move of the time zone moves the reminders too
    await rig.save(U, "profile", person(timezone="Europe/London", checkins=["10:00"]))
    states = await rig.states(U)
    assert states[("2026-03-26T09:00:00+00:00", label)] == "due"  # 09:00 GMT
    assert states[("2026-03-26T07:00:00+00:00", label)] == "cancelled"


async def test_an_unknown_time_zone_schedules_in_utc_and_logs_no_health_data(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await rig.save(U, "profile", person(timezone="Mars/Olympus", checkins=[]))
    states = await rig.states(U)
    assert states[("2026-03-26T08:00:00+00:00", 'אקמול 500 מ"ג')] == "due"  # 08:00 UTC
    assert "unknown time zone" in caplog.text
    assert "אקמול" not in caplog.text
    view = await rig.service.day_view(U)
    assert not view.zone.valid and view.zone.name == "UTC"


# ---- delivery --------------------------------------------------------------------------------------


async def test_spoken_in_a_live_conversation_when_due_and_acknowledged_by_the_tool(rig: Rig) -> None:
    rig.conversation.live = True
    await rig.tick()
    assert rig.conversation.said == [], "nothing is due at 07:55"
    rig.clock.advance(minutes=5)
    await rig.tick()
    [(user, note, rid)] = rig.conversation.said
    assert user == U and 'הגיע הזמן לקחת אקמול 500 מ"ג. לקחת כבר?' in note and rid in note
    record = await rig.store.get_reminder(U, rid)
    assert record is not None and (record.state, record.delivered_via) == ("delivered", "conversation")
    await rig.tick()
    assert len(rig.conversation.said) == 1, "said once"

    answer = await rig.service.run_tool("medication_taken", {}, U)
    assert answer["ok"] and answer["reminderId"] == rid and answer["medication"] == 'אקמול 500 מ"ג'
    assert answer["message"].startswith('Recorded that the person took אקמול 500 מ"ג.')
    record = await rig.store.get_reminder(U, rid)
    assert record is not None and (record.state, record.acked_via) == ("acknowledged", "tool")
    again = await rig.service.run_tool("medication_taken", {"reminder_id": rid}, U)
    assert again["ok"] and again["reminderId"] == rid, "confirming twice is harmless"


async def test_without_a_conversation_it_waits_for_the_page_and_the_button(rig: Rig) -> None:
    rig.clock.advance(minutes=5)
    await rig.tick()
    assert await rig.service.for_page("someone-else") == []
    [shown] = await rig.service.for_page(U)
    assert (shown.state, shown.delivered_via, shown.label) == ("delivered", "page", 'אקמול 500 מ"ג')
    assert [r.id for r in await rig.service.for_page(U)] == [shown.id], "shown until answered"
    done = await rig.service.acknowledge(U, shown.id, via="page")
    assert (done.state, done.acked_via, done.acked_at) == ("acknowledged", "page", rig.clock.now)
    assert await rig.service.for_page(U) == []


async def test_snoozed_by_the_tool_and_said_again_when_the_snooze_ends(rig: Rig) -> None:
    rig.conversation.live = True
    rig.clock.advance(minutes=5)
    await rig.tick()
    answer = await rig.service.run_tool("snooze_reminder", {"minutes": 15}, U)
    assert answer["ok"] and answer["remindAt"] == "08:15", answer
    rig.clock.advance(minutes=14)
    await rig.tick()
    assert len(rig.conversation.said) == 1
    rig.clock.advance(minutes=1)
    await rig.tick()
    assert len(rig.conversation.said) == 2, "said again at 08:15"
    bad = await rig.service.run_tool("snooze_reminder", {"minutes": 0}, U)
    assert bad == {"ok": False, "error": "invalid_input", "message": "minutes must be between 1 and 240"}
    with pytest.raises(InvalidInput) as info:
        await rig.service.snooze(U, None, "ten")
    assert info.value.field == "minutes"


async def test_missed_after_the_timeout_and_the_family_is_alerted_once(rig: Rig) -> None:
    rig.clock.advance(minutes=5)  # 08:00, no conversation, no page
    await rig.tick()
    rig.clock.advance(minutes=29, seconds=59)
    await rig.tick()
    assert rig.family.alerts == []
    rig.clock.advance(seconds=1)
    rig.family.fail = 1  # the first try fails: it is tried again, not lost
    await rig.tick()
    assert rig.family.alerts == []
    await rig.tick()
    [dose] = [r for r in await rig.store.list_of_user(U, START, START + timedelta(hours=1))]
    summary = 'אקמול 500 מ"ג בשעה 08:00 לא אושרה'
    assert rig.family.alerts == [
        (U, {"severity": "medium", "summary": summary, "rule": "reminder", "reminderId": dose.id})
    ], "the alert names the reminder it is about"
    await rig.tick()
    assert len(rig.family.alerts) == 1
    # a late "I took it" is still recorded
    late = await rig.service.run_tool("medication_taken", {"medication": "אקמול"}, U)
    assert late["ok"], late


async def test_a_snooze_counts_the_timeout_from_its_end(rig: Rig) -> None:
    rig.clock.advance(minutes=5)
    [shown] = await rig.service.for_page(U)
    await rig.service.snooze(U, shown.id, 20)
    rig.clock.advance(minutes=45)  # 08:45: 45 min after due, 25 after the snooze ended
    await rig.tick()
    assert rig.family.alerts == []
    rig.clock.advance(minutes=5)
    await rig.tick()
    assert len(rig.family.alerts) == 1


async def test_a_checkin_asked_in_a_conversation_is_answered_and_never_escalated(rig: Rig) -> None:
    await rig.service.sync(U)
    rig.conversation.live = True
    rig.clock.now = utc(2026, 3, 26, 8, 0)  # 10:00 local; the 08:00 dose was never confirmed
    await rig.tick()
    notes = [note for _, note, _ in rig.conversation.said]
    assert any("check-in" in n for n in notes)
    states = await rig.states(U)
    assert states[("2026-03-26T08:00:00+00:00", "")] == "acknowledged"
    assert states[("2026-03-26T06:00:00+00:00", 'אקמול 500 מ"ג')] == "missed"


async def test_talk_leaves_the_reminder_to_the_greeting_of_the_conversation_it_opens(rig: Rig) -> None:
    rig.clock.advance(minutes=5)
    await rig.tick()
    [shown] = await rig.service.for_page(U)
    again = await rig.service.talk(U, shown.id)
    assert (again.state, again.delivered_via) == ("delivered", "page"), "the greeting will say it"
    rig.conversation.live = True  # the page opened the conversation
    rig.clock.advance(seconds=1)
    await rig.tick()
    assert rig.conversation.said == [], "not asked a second time besides the greeting"


async def test_a_busy_conversation_holds_the_reminder_from_the_page(rig: Rig) -> None:
    rig.conversation.live = True
    rig.conversation.gate = asyncio.Event()
    rig.clock.advance(minutes=5)
    await rig.service.tick(rig.clock())
    assert await rig.service.for_page(U) == [], "a conversation is about to say it"
    await rig.service.tick(rig.clock())  # no second say while the first waits
    rig.conversation.gate.set()
    await rig.service.drain()
    assert len(rig.conversation.said) == 1


async def test_the_tools_tell_the_truth_when_nothing_is_waiting(rig: Rig) -> None:
    answer = await rig.service.run_tool("medication_taken", {"medication": "Aspirin"}, U)
    assert answer["ok"] is False and answer["error"] == "no_reminder"
    assert "nothing was recorded" in answer["message"]
    assert (await rig.service.run_tool("snooze_reminder", {}, U))["error"] == "no_reminder"
    assert (await rig.service.run_tool("medication_taken", {"reminder_id": "rem-nope"}, U))["ok"] is False
    assert (await rig.service.run_tool("dance", {}, U))["error"] == "unknown_tool"
    with pytest.raises(NotFound):
        await rig.service.acknowledge(U, "rem-nope", via="page")


async def test_two_instances_and_a_restart_share_the_state(rig: Rig) -> None:
    """Two services on one database tick together: one alert. A new one after a "restart" goes on."""
    second = make_service(rig.store, rig.profiles, rig.clock, rig.conversation, rig.family)
    rig.clock.advance(minutes=5)
    await rig.tick()
    rig.clock.advance(minutes=31)
    await asyncio.gather(rig.service.tick(rig.clock()), second.tick(rig.clock()))
    assert len(rig.family.alerts) == 1
    await second.close()

    # a restart at 20:00 local: a new service finds the day in the store and goes on from it
    fresh = make_service(
        rig.store, rig.profiles, Clock(utc(2026, 3, 26, 18, 0)), rig.conversation, rig.family
    )
    await fresh.tick(utc(2026, 3, 26, 18, 0))
    assert [b["summary"] for _, b in rig.family.alerts[1:]] == ["שאלת השלום של השעה 10:00 לא נענתה"]
    [evening] = await fresh.for_page(U)
    assert evening.local_time == "20:00"
    await fresh.close()


async def test_day_view_has_today_and_thirty_days_of_adherence(rig: Rig) -> None:
    rig.clock.advance(minutes=5)
    [shown] = await rig.service.for_page(U)
    await rig.service.acknowledge(U, shown.id, via="page")
    view = await rig.service.day_view(U)
    assert str(view.day) == "2026-03-26" and view.zone.name == "Asia/Jerusalem"
    assert [r.local_time for r in view.reminders] == ["08:00", "10:00", "20:00"]
    [medicine] = [a for a in view.adherence if a.kind == "medication"]
    assert (medicine.scheduled, medicine.acknowledged, medicine.missed) == (1, 1, 0), "only what came due"
    assert str(view.since) == "2026-02-25"


def test_the_tool_definitions_match_what_the_handlers_read() -> None:
    by_name = {tool["name"]: tool for tool in REMINDER_TOOLS}
    assert set(by_name) == REMINDER_TOOL_NAMES == {"medication_taken", "snooze_reminder"}
    for tool in REMINDER_TOOLS:
        assert tool["type"] == "function" and set(tool) == {"type", "name", "description", "parameters"}
        assert tool["parameters"]["additionalProperties"] is False
        assert "required" not in tool["parameters"], "every argument is optional"
    assert set(by_name["medication_taken"]["parameters"]["properties"]) == {"reminder_id", "medication"}
    minutes = by_name["snooze_reminder"]["parameters"]["properties"]["minutes"]
    assert (minutes["minimum"], minutes["maximum"]) == (MIN_SNOOZE_MINUTES, MAX_SNOOZE_MINUTES)
