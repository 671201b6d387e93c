"""A reminder due in a live conversation, end to end over real sockets: the service relays to the
offline engine, the reminder service (on a clock the test moves) asks the conversation through the
same ``say`` the app wires, and the record follows what the model's response did.

Said: its words are in the conversation's transcript (the client's events), the prompt is not, and
the record says delivered in the conversation. Interrupted (the client cancels the answer as the
page does when the person speaks over it): not recorded as said; asked again after a pause, and said.
A conversation opened from the card (``?greet=1&reminder=<id>``) greets once, with the reminder in
the same answer, and records it said; cut off, it is not.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from companion.care.reminders import SAY_AGAIN, ReminderService
from companion.events import SayOutcome
from companion.localmodel.engine import Behaviour
from companion.services import Services
from tests.care.reminder_fixtures import Clock, Family, ReminderStoreForTests, local_hhmm, medications
from tests.live.conftest import EVENT_TIMEOUT_S, USER, Live, RealtimeClient, connect, run_live

SENTENCE = 'הגיע הזמן לקחת אקמול 500 מ"ג. לקחת כבר?'
TRANSCRIPT_DONE = "response.output_audio_transcript.done"
DELTA_PAUSE_S = 0.05  # the engine paces its answer so the client can cut it mid-way
PLAYED_S = 30.0  # said once the answer's audio has had time to play: seconds of speech, a loaded machine


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    engine = {"behaviour": Behaviour(output_delay_s=DELTA_PAUSE_S)}
    async for value in run_live(tmp_path, reminders=False, engine_kwargs=engine):
        yield value


@dataclass
class Dose:
    service: ReminderService
    store: ReminderStoreForTests
    clock: Clock
    id: str

    async def state(self) -> tuple[str, str | None]:
        record = await self.store.get_reminder(USER, self.id)
        assert record is not None
        return record.state, record.delivered_via

    async def close(self) -> None:
        await self.service.close()
        await self.store.close()


async def dose_due(services: Services) -> Dose:
    """A dose at the next whole minute in the person's zone, and a reminder service on the app's
    database and the app's real ``say`` path, its clock just past the dose."""
    clock = Clock(datetime.now(UTC))
    store = ReminderStoreForTests(services.settings.effective_database_url)

    async def say(user_id: str, note: str, reminder_id: str) -> SayOutcome:
        return await services.directory.say_when_quiet(user_id, note)

    service = ReminderService(
        store,
        services.profiles.context,
        say=say,
        alert=Family(),
        clock=clock,
        ack_timeout_s=1800,
        snooze_s=600,
    )
    zone = (await service.person(USER)).zone.zone.key
    due = clock.now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    safety = medications(("אקמול", '500 מ"ג', [local_hhmm(due, zone)]))
    await services.profiles.save_section(USER, "safety", safety, if_match=None, if_match_any=True)
    clock.now = due + timedelta(seconds=1)
    await service.sync(USER)
    due_now = await store.list_due(clock.now, user_id=USER)
    [ours] = [r for r in due_now if r.kind == "medication" and r.due_at == due]
    for other in due_now:  # the demo's earlier check-ins of today: not what this test is about
        if other.id != ours.id:
            await store.transition(USER, other.id, ("due",), "cancelled", at=clock.now)
    return Dose(service, store, clock, ours.id)


def transcripts(client: RealtimeClient) -> list[str]:
    """What the companion said in full, after its answer to the person's first words."""
    done = [e for e in client.events if e.get("type") == TRANSCRIPT_DONE]
    return [str(e["transcript"]) for e in done[1:]]


async def test_a_reminder_due_in_a_live_conversation_is_spoken_and_recorded_as_said(live: Live) -> None:
    client = await live.connect()
    await client.say("שלום")  # a conversation under way: the person spoke, the companion answered
    dose = await dose_due(live.services)
    try:
        await dose.service.tick(dose.clock())
        await dose.service.drain()
        assert await dose.state() == ("delivered", "conversation")
        done = await client.until("response.done")
        assert done["response"]["status"] == "completed"
        assert transcripts(client) == [SENTENCE], "its words are what the companion said"
        everything = json.dumps(client.events, ensure_ascii=False)
        assert "[say]" not in everything and "medication_taken" not in everything, "the note stays hidden"
    finally:
        await dose.close()


async def test_an_interrupted_reminder_is_not_recorded_as_said_and_is_asked_again(live: Live) -> None:
    client = await live.connect()
    await client.say("שלום")  # a conversation under way: the person spoke, the companion answered
    dose = await dose_due(live.services)
    try:
        await dose.service.tick(dose.clock())
        await client.until("response.output_audio.delta")  # the companion has started to say it
        await client.send({"type": "response.cancel"})  # the person speaks over it: the page cancels
        cut = await client.until("response.done")
        assert cut["response"]["status"] == "cancelled"
        [item] = cut["response"]["output"]
        assert item["status"] == "incomplete" and item["content"][0]["transcript"] != SENTENCE
        await dose.service.drain()
        assert await dose.state() == ("due", None), "asked and cut off: not said"

        dose.clock.advance(seconds=SAY_AGAIN.total_seconds())
        await dose.service.tick(dose.clock())
        await dose.service.drain()
        again = await client.until("response.done")
        assert again["response"]["status"] == "completed"
        assert transcripts(client) == [SENTENCE], "said in full once, the second time"
        assert await dose.state() == ("delivered", "conversation")
    finally:
        await dose.close()


async def open_for(live: Live, dose: Dose) -> RealtimeClient:
    """A conversation opened from the reminder's card, as the page opens it: greet=1&reminder=<id>."""
    live.services.sessions.greeting_notes = dose.service
    ws = await connect(
        f"{live.ws_url}?greet=1&reminder={dose.id}",
        additional_headers=live.auth(live.creds.device_token),
    )
    client = RealtimeClient(ws)
    live._clients.append(client)
    await client.until("session.created")
    return client


async def test_talk_to_me_greets_once_with_the_reminder_and_records_it_said(live: Live) -> None:
    dose = await dose_due(live.services)
    try:
        client = await open_for(live, dose)
        done = await client.until("response.done")
        assert done["response"]["status"] == "completed"
        [greeting] = [str(e["transcript"]) for e in client.events if e.get("type") == TRANSCRIPT_DONE]
        assert greeting.startswith("שלום משה!") or "טוב משה!" in greeting, greeting
        assert greeting.endswith(SENTENCE) and greeting.count(SENTENCE) == 1
        await eventually_async(lambda: dose.state(), ("delivered", "conversation"), PLAYED_S)
        await dose.service.tick(dose.clock())
        await dose.service.drain()
        assert await dose.service.for_page(USER) == [], "said: no card afterwards"
        created = [e for e in client.events if e.get("type") == "response.created"]
        assert len(created) == 1, "one greeting, one response: nothing asked besides it"
    finally:
        await dose.close()


async def test_a_greeting_cut_off_leaves_the_reminder_not_said_and_it_is_asked_again(live: Live) -> None:
    dose = await dose_due(live.services)
    try:
        client = await open_for(live, dose)
        await client.until("response.output_audio.delta")
        await client.send({"type": "response.cancel"})
        cut = await client.until("response.done")
        assert cut["response"]["status"] == "cancelled"
        await eventually_async(lambda: dose.state(), ("due", None))
        dose.clock.advance(seconds=SAY_AGAIN.total_seconds())  # asked again, after a pause
        await dose.service.tick(dose.clock())
        await dose.service.drain()
        assert await dose.state() == ("delivered", "conversation")
        assert (await client.until("response.done"))["response"]["status"] == "completed"
        said = [str(e["transcript"]) for e in client.events if e.get("type") == TRANSCRIPT_DONE]
        assert said == [SENTENCE], "the second time without a greeting"
    finally:
        await dose.close()


async def eventually_async(
    read: Callable[[], Awaitable[object]], wanted: object, timeout_s: float = EVENT_TIMEOUT_S
) -> None:
    """Wait until ``read()`` gives ``wanted`` (the session records the outcome right after it ends)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (got := await read()) != wanted:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {got!r}, not {wanted!r}")
        await asyncio.sleep(0.02)
