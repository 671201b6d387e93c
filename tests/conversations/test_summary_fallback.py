"""What is stored when the model's summary does not come in time, through the real conversation log:
the plain digest, marked as such; or, after a long conversation, its last running summary, marked as
written during it. On virtual time (an injected timer), with no waiting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from companion.conversations import summary as summaries
from companion.conversations.cadence import RUNNING_EVERY_S
from companion.conversations.service import ConversationService
from companion.profiles.models import CareContext
from companion.realtime.endings import Ending
from companion.realtime.recording import RecordingTap
from companion.store.base import ConversationRecord, ConversationWrite
from tests.prompt.factories import context
from tests.realtime.virtual_time import VirtualTime

pytestmark = pytest.mark.unit
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
WAIT_S = 5.0  # for a task to take its next step (it never takes this long)


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
    def __init__(self) -> None:
        self.store = Conversations()
        self.service = ConversationService(self.store, load, clock=lambda: T0)  # type: ignore[arg-type]
        self.log = self.service.open_log("conv-1", "user-1", None)
        self.time = VirtualTime()
        self.tap = RecordingTap(self.log, clock=lambda: T0, timer=self.time.timer)
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(self, frame: dict[str, Any]) -> None:
        self.sent.put_nowait(frame)

    async def person_says(self, text: str) -> None:
        event = {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "u",
            "transcript": text,
        }
        self.tap.model_event(event, 1)
        await self.service.flush(T0)  # the care loop's round: the person's choice is read

    async def end_without_an_answer(self) -> ConversationRecord:
        summarising = asyncio.create_task(self.tap.summarise(self.send))
        await asyncio.wait_for(self.sent.get(), WAIT_S)
        self.time.advance(summaries.SUMMARY_WAIT_S)
        await asyncio.wait_for(summarising, WAIT_S)
        self.tap.ended(Ending.NORMAL)
        await self.service.drain()
        return self.store.rows["conv-1"]


async def test_no_answer_in_time_stores_the_digest_and_says_so() -> None:
    c = Conversation()
    await c.person_says("I planted tomatoes")
    row = await c.end_without_an_answer()
    assert row.summary_kind == "digest"
    assert row.summary == summaries.digest(row, "en")
    assert row.ended_how == "person" and row.person_turns == 1


async def test_after_a_long_conversation_its_last_running_summary_stays() -> None:
    c = Conversation()
    tasks: set[asyncio.Task[Any]] = set()

    def spawn(coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        tasks.add(task)
        return task

    c.tap.follow(c.send, lambda: True, c.time.clock, spawn)
    await c.person_says("I planted tomatoes")
    c.time.advance(RUNNING_EVERY_S)
    request = await asyncio.wait_for(c.sent.get(), WAIT_S)
    response = {"id": "resp_r", "metadata": request["response"]["metadata"], "status": "completed"}
    output = [{"type": "message", "content": [{"type": "output_text", "text": "He planted tomatoes."}]}]
    c.tap.model_event({"type": "response.done", "response": {**response, "output": output}}, 1)
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
    await c.service.flush(T0.replace(minute=1))
    assert c.store.rows["conv-1"].summary_kind == "running", "the family sees it while it goes on"
    row = await c.end_without_an_answer()
    assert (row.summary, row.summary_kind) == ("He planted tomatoes.", "running")
