"""What is stored when the model's summary does not come in time, through the real conversation log fed
by the session machine's notes: the plain digest, marked as such; or, after a long conversation, its last
running summary, marked as written during it. On virtual time (the machine's bound is a deadline)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from companion.conversations import notes as N
from companion.conversations import summary as summaries
from companion.conversations.cadence import RUNNING_EVERY_S
from companion.conversations.service import ConversationService, LiveLog
from companion.profiles.models import CareContext
from companion.realtime.mirror import QUIET_SETTLE_S
from companion.store.base import ConversationRecord, ConversationWrite
from tests.prompt.factories import context
from tests.realtime.machine_run import Run, response
from tests.realtime.test_machine_recording import heard, summary_events

pytestmark = pytest.mark.unit
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
NOTES = (N.TurnStarted, N.TurnEnded, N.TurnCut, N.Connected, N.Did, N.Ended, N.Summarised, N.Abandoned)


class Conversations:
    """The store's conversation writes, kept in memory: the row as last written."""

    def __init__(self) -> None:
        self.rows: dict[str, ConversationRecord] = {}

    async def save_conversation(self, write: ConversationWrite) -> bool:
        self.rows[write.record.id] = write.record
        return True


async def load(user_id: str) -> CareContext:
    return context(language="en")


class Conversation:
    """A session machine whose notes go to a real :class:`LiveLog`, as the driver hands them over."""

    def __init__(self) -> None:
        self.store = Conversations()
        self.service = ConversationService(self.store, load, clock=lambda: T0)  # type: ignore[arg-type]
        self.log: LiveLog = self.service.open_log("conv-1", "user-1", None)
        self.run = Run(max_session_s=6 * 3600.0)
        self.run.m.record(self.log.summary_language)
        self._given = 0
        self.number = self.run.start()

    def deliver(self) -> None:
        actions = self.run.actions
        for action in actions[self._given :]:
            if isinstance(action, NOTES):
                self.log.note(action)
        self._given = len(actions)

    async def person_says(self, text: str) -> None:
        heard(self.number, self.run, "u", text)
        self.run.model(self.number, *response("r"))
        self.run.after(QUIET_SETTLE_S + 1)
        self.deliver()
        await self.service.flush(T0)  # the care loop's round: the person's choice is read

    def out_of_band(self) -> list[dict[str, Any]]:
        return [
            e for e in self.run.sent(self.number, "response.create") if "metadata" in e.get("response", {})
        ]

    async def end_without_an_answer(self) -> ConversationRecord:
        await self.log.ready()
        self.run.feed(self.run.m.client_left(self.run.now, summary_language=self.log.summary_language()))
        left = self.run.now
        self.run.until_deadline()
        assert self.run.now == pytest.approx(left + summaries.SUMMARY_WAIT_S), "the machine's bound"
        self.deliver()
        await self.service.drain()
        return self.store.rows["conv-1"]


async def test_no_answer_in_time_stores_the_digest_and_says_so() -> None:
    c = Conversation()
    await c.person_says("I planted tomatoes")
    row = await c.end_without_an_answer()
    assert len(c.out_of_band()) == 1, "the summary was asked for"
    assert row.summary_kind == "digest"
    assert row.summary == summaries.digest(row, "en")
    assert row.ended_how == "person" and row.person_turns == 1


async def test_after_a_long_conversation_its_last_running_summary_stays() -> None:
    c = Conversation()
    await c.person_says("I planted tomatoes")
    c.run.until_deadline()
    [request] = c.out_of_band()
    c.run.model(
        c.number,
        *summary_events(request["response"]["metadata"][summaries.SUMMARY_TAG], "He planted tomatoes."),
    )
    c.deliver()
    await c.service.flush(T0 + timedelta(seconds=RUNNING_EVERY_S))
    assert c.store.rows["conv-1"].summary_kind == "running", "the family sees it while it goes on"
    row = await c.end_without_an_answer()
    assert "«He planted tomatoes.»" in c.out_of_band()[-1]["response"]["instructions"]
    assert (row.summary, row.summary_kind) == ("He planted tomatoes.", "running")


async def test_a_conversation_shorter_than_a_write_round_still_gets_the_models_summary() -> None:
    c = Conversation()
    heard(c.number, c.run, "u", "I planted tomatoes")
    c.run.model(c.number, *response("r"))
    c.run.after(QUIET_SETTLE_S + 1)
    c.deliver()  # no care loop round yet: the person's choice is not read
    assert c.log.choice is None and c.log.summary_language() is None
    await c.log.ready()
    assert c.log.summary_language() == "en", "read at the end, as the session does before it asks"
    c.run.feed(c.run.m.client_left(c.run.now, summary_language=c.log.summary_language()))
    [request] = c.out_of_band()
    c.run.model(
        c.number,
        *summary_events(request["response"]["metadata"][summaries.SUMMARY_TAG], "He planted tomatoes."),
    )
    c.deliver()
    await c.service.drain()
    row = c.store.rows["conv-1"]
    assert (row.summary, row.summary_kind) == ("He planted tomatoes.", "model")
