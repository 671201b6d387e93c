"""Conversations, kept as the family chose: the live ones' records written as they go, the summary at
the end, what the next conversation recalls, and the family's reading, deleting and narrowing.

The I/O around the pure parts: :class:`~companion.conversations.recorder.Recorder` decides what to
write and when, :mod:`~companion.conversations.summary` what to ask the model and what stands in for
its answer, :mod:`~companion.conversations.recall` what the next conversation is told. This module
reads the person's choice, writes (every second, through the care loop's supervised step, and at once
when a conversation ends), and answers the API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from companion.clock import Clock, utcnow
from companion.conversations import summary as summaries
from companion.conversations.notes import Abandoned, Ended, Note, Summarised
from companion.conversations.recall import recall_window
from companion.conversations.recorder import Recorder
from companion.errors import CompanionError, NotFound
from companion.events import ProfileChanged, RefreshCounts
from companion.profiles.models import (
    DEFAULT_RETENTION_DAYS,
    CareContext,
    ConversationRecords,
    PastConversation,
    PastTurn,
)
from companion.store.base import ConversationRecord, ConversationWrite, RecordsLevel, TurnRecord

log = logging.getLogger(__name__)

RECALL_CONVERSATIONS: Final = 3  # the summaries the next conversation's instructions carry
RECALL_TURNS: Final = 10  # the last turns of one that ended minutes ago
FINISH_TIMEOUT_S: Final = 5.0  # at shutdown, the last writes of the conversations that just ended
DEFAULT_LANGUAGE: Final = "he"


class ConversationStore(Protocol):
    async def save_conversation(self, write: ConversationWrite) -> bool: ...

    async def get_conversation(
        self, user_id: str, conversation_id: str
    ) -> tuple[ConversationRecord, list[TurnRecord]] | None: ...

    async def list_conversations(
        self,
        user_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        words: str | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 20,
    ) -> list[ConversationRecord]: ...

    async def conversations_between(
        self, user_id: str, start: datetime, end: datetime
    ) -> list[ConversationRecord]: ...

    async def recent_conversations(self, user_id: str, limit: int) -> list[ConversationRecord]: ...

    async def last_turns(self, conversation_id: str, limit: int) -> list[TurnRecord]: ...

    async def delete_conversation(self, user_id: str, conversation_id: str, *, actor: str) -> bool: ...

    async def narrow_conversations(self, user_id: str, level: RecordsLevel) -> int: ...

    async def prune_conversations(self, user_id: str, before: datetime) -> int: ...

    async def people_with_conversations(self) -> list[str]: ...


ContextLoader = Callable[[str], Awaitable[CareContext]]


@dataclass(frozen=True, slots=True)
class Choice:
    """What the family chose for a person, and the language their summaries are written in."""

    records: RecordsLevel
    retention_days: int
    language: str
    timezone: str


def choice_of(context: CareContext) -> Choice:
    profile = context.profile
    if profile is None:
        return Choice(ConversationRecords.SUMMARY.value, DEFAULT_RETENTION_DAYS, DEFAULT_LANGUAGE, "UTC")
    info = profile.personal_info
    return Choice(
        profile.conversation_records.value,
        profile.conversation_retention_days,
        info.language,
        info.timezone,
    )


class LiveLog:
    """One live conversation's log: the notes go to its recorder, which the service writes."""

    __slots__ = ("_service", "choice", "recorder", "summary_done", "writing")

    def __init__(self, service: ConversationService, recorder: Recorder) -> None:
        self._service = service
        self.writing = asyncio.Lock()  # one write at a time: the row is inserted before it is updated
        self.recorder = recorder
        self.choice: Choice | None = None  # read from the profile before the first write
        self.summary_done = False

    def note(self, note: Note) -> None:
        """A note of the live conversation (see ``notes.py``), in order; never blocks."""
        if isinstance(note, Summarised):
            if not note.running:
                self.summarised(note.text)
            elif note.text is not None:
                self.running_summary(note.text)
        elif isinstance(note, Abandoned):
            self.discard()
        else:
            self.recorder.feed(note)
            if isinstance(note, Ended):
                self._service.finish(self)

    def discard(self) -> None:
        self._service.forget(self)

    async def ready(self) -> None:
        """The family's choice, read now if no write has read it yet (a short conversation)."""
        await self._service.choose(self)

    def summary_language(self) -> str | None:
        if self.choice is None or not summaries.wants_model_summary(self.recorder.record):
            return None
        return self.choice.language

    def summarised(self, text: str | None) -> None:
        """The summary at the end, or None: it did not come, and the last running summary stays (it
        covers all but the last minutes), or, where there is none, the plain digest stands in."""
        self.summary_done = True
        if text is not None:
            self.recorder.summarised(text, "model")
        elif self.recorder.record.summary_kind != "running":
            self._digest()

    def running_summary(self, text: str) -> None:
        """A long conversation's summary so far (the one at the end replaces it)."""
        self.recorder.summarised(text, "running")

    def _digest(self) -> None:
        language = self.choice.language if self.choice is not None else DEFAULT_LANGUAGE
        self.recorder.summarised(summaries.digest(self.recorder.record, language), "digest")

    def finishing(self) -> None:
        """At the end: where a summary is kept and none came, the plain digest."""
        record = self.recorder.record
        if record.records != "none" and record.summary is None:
            self._digest()


class ConversationService:
    def __init__(
        self, store: ConversationStore, load_context: ContextLoader, *, clock: Clock = utcnow
    ) -> None:
        self._store = store
        self._load_context = load_context
        self._clock = clock
        self._live: dict[str, LiveLog] = {}  # conversation id -> its log, until its last write
        self._finishing: set[asyncio.Task[None]] = set()
        self._last_prune: str | None = None  # the UTC date of the last daily retention run

    # ---- live conversations ------------------------------------------------------------------------

    def open_log(self, conversation_id: str, user_id: str, device_id: str | None) -> LiveLog:
        """A new conversation's log. Until the person's choice is read (before the first write), it
        holds everything; the first write keeps only what the choice allows."""
        recorder = Recorder(conversation_id, user_id, self._clock(), device_id=device_id, level="transcript")
        live = LiveLog(self, recorder)
        self._live[conversation_id] = live
        return live

    def live_count(self) -> int:
        return len(self._live)

    async def flush(self, now: datetime | None = None) -> int:
        """Write every live conversation whose record is due (the care loop calls it each second)."""
        now = now or self._clock()
        written = 0
        for live in list(self._live.values()):
            if live.recorder.write_due(now) and await self._write(live, now):
                written += 1
        return written

    def forget(self, live: LiveLog) -> None:
        self._live.pop(live.recorder.record.id, None)

    def finish(self, live: LiveLog) -> None:
        """A conversation ended: its last write now, not at the next round."""
        task = asyncio.get_running_loop().create_task(self._finish(live), name="conversation-finish")
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _finish(self, live: LiveLog) -> None:
        try:
            await self.choose(live)
            live.finishing()
            await self._write(live, self._clock())
        finally:
            self._live.pop(live.recorder.record.id, None)

    async def drain(self) -> None:
        """At shutdown: the conversations that just ended are written (bounded)."""
        if self._finishing:
            await asyncio.wait(list(self._finishing), timeout=FINISH_TIMEOUT_S)

    async def choose(self, live: LiveLog) -> bool:
        """Read the person's choice into ``live`` once; False when it cannot be read now."""
        if live.choice is not None:
            return True
        try:
            live.choice = choice_of(await self._load_context(live.recorder.record.user_id))
        except CompanionError as exc:
            log.warning("conversation record: the person's choice could not be read: %s", exc.code)
            return False
        live.recorder.set_level(live.choice.records)
        return True

    async def _write(self, live: LiveLog, now: datetime) -> bool:
        async with live.writing:
            return await self._write_one(live, now)

    async def _write_one(self, live: LiveLog, now: datetime) -> bool:
        if not await self.choose(live):
            return False
        write = live.recorder.take_write(now)
        if write is None:
            return False
        try:
            kept = await self._store.save_conversation(write)
        except CompanionError as exc:
            log.warning("conversation record not written (%s); kept for the next try", exc.code)
            live.recorder.give_back(write)
            return False
        if not kept:  # deleted by the family (or the person erased) while it went on: stop writing
            self._live.pop(write.record.id, None)
        return kept

    # ---- the family's choice -----------------------------------------------------------------------

    async def on_profile_changed(self, event: ProfileChanged) -> RefreshCounts:
        """A narrower choice removes at once what it no longer allows, stored or still to be written."""
        if "profile" in event.sections:
            choice = choice_of(await self._load_context(event.user_id))
            await self._store.narrow_conversations(event.user_id, choice.records)
            for live in self._live.values():
                if live.recorder.record.user_id == event.user_id:
                    live.choice = choice
                    live.recorder.set_level(choice.records)
        return RefreshCounts()

    async def prune(self, now: datetime) -> int:
        """Once a day: every person's conversations older than their retention go."""
        today = now.date().isoformat()
        if self._last_prune == today:
            return 0
        pruned = 0
        for user_id in await self._store.people_with_conversations():
            choice = choice_of(await self._load_context(user_id))
            pruned += await self._store.prune_conversations(
                user_id, now - timedelta(days=choice.retention_days)
            )
        self._last_prune = today
        if pruned:
            log.info("retention: %d conversations past their people's retention deleted", pruned)
        return pruned

    # ---- what the next conversation recalls --------------------------------------------------------

    async def recall(self, context: CareContext) -> CareContext:
        """``context`` with the last conversations' summaries, and the last turns of one that ended
        minutes ago where transcripts are kept (the relay's instructions carry them, as data)."""
        choice = choice_of(context)
        if choice.records == "none":
            return context
        recent = await self._store.recent_conversations(context.user_id, RECALL_CONVERSATIONS)
        history = tuple(
            PastConversation(started_at=c.started_at, ended_at=c.ended_at, summary=c.summary)
            for c in recent
            if c.summary and c.ended_at is not None
        )
        turns: tuple[PastTurn, ...] = ()
        newest = recent[0] if recent else None
        if (
            choice.records == "transcript"
            and newest is not None
            and newest.ended_at is not None
            and recall_window(newest.ended_at, self._clock())
        ):
            last = await self._store.last_turns(newest.id, RECALL_TURNS)
            turns = tuple(PastTurn(role=t.role, text=t.text, cut=t.cut) for t in last)
        if not history and not turns:
            return context
        return context.model_copy(update={"history": history, "recent_turns": turns})

    # ---- the family's reading ----------------------------------------------------------------------

    async def get(self, user_id: str, conversation_id: str) -> tuple[ConversationRecord, list[TurnRecord]]:
        found = await self._store.get_conversation(user_id, conversation_id)
        if found is None:
            raise NotFound(f"Conversation {conversation_id} not found", field="conversation_id")
        return found

    async def delete(self, user_id: str, conversation_id: str, *, actor: str) -> None:
        if not await self._store.delete_conversation(user_id, conversation_id, actor=actor):
            raise NotFound(f"Conversation {conversation_id} not found", field="conversation_id")
        self._live.pop(conversation_id, None)  # still going: nothing more of it is written

    async def page(
        self,
        user_id: str,
        *,
        start: datetime | None,
        end: datetime | None,
        words: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[ConversationRecord]:
        return await self._store.list_conversations(
            user_id, start=start, end=end, words=words, after=after, limit=limit
        )

    async def between(self, user_id: str, start: datetime, end: datetime) -> list[ConversationRecord]:
        return await self._store.conversations_between(user_id, start, end)
