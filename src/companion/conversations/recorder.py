"""One conversation's record, built from the live session's notes: sans-I/O, bounded.

The recorder holds the conversation's counts (a few dozen integers), the turns not yet written, and
nothing else: a turn leaves memory when its write is taken, so a three-hour conversation holds no
more than a quiet one. What it keeps follows the family's choice (``level``):

- ``none``: counts only (when, how long, turns and talk time each side, how it ended, model
  connections, how many songs, memories, alerts, reminders said and confirmed);
- ``summary``: and the timeline's words (which song, which reminder) and, at the end, the summary;
- ``transcript``: and every turn's words, the companion's as heard (cut where the person interrupted).

Writes are incremental (:meth:`Recorder.take_write`): the row as it is now, the turns since the last
write, and the cuts of turns already written. The caller writes whenever :meth:`Recorder.write_due`
says so: within :data:`FLUSH_S` of a change, so a crash loses at most those seconds. If the store is
away, untaken turns wait, up to :data:`MAX_PENDING_CHARS` (the oldest go first, and are counted).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from companion.conversations.notes import Connected, Did, Ended, Note, Role, TurnCut, TurnEnded, TurnStarted
from companion.store.base import (
    ConversationRecord,
    ConversationWrite,
    RecordsLevel,
    SummaryKind,
    TimelineEntry,
    TurnRecord,
)
from companion.store.schema import CONVERSATION_TEXT_MAX

FLUSH_S: Final = 2.0  # a crash loses at most this much of a conversation
MAX_PENDING_CHARS: Final = 64_000  # turns waiting for a store that is away; the oldest go beyond this
MAX_TIMELINE: Final = 100  # moments on the timeline; beyond, only the counts grow
CUTTABLE: Final = 4  # the companion's last turns that a late interruption may still cut
ELLIPSIS: Final = "…"

_ACT_COUNTS: Final = {
    "song": "songs",
    "memory": "memories",
    "alert": "alerts",
    "reminder_said": "reminders_said",
    "reminder_confirmed": "reminders_confirmed",
}


class Recorder:
    __slots__ = (
        "_cuts",
        "_dirty",
        "_keys",
        "_last_write",
        "_pending",
        "_pending_chars",
        "_record",
        "_seq",
        "_speaking",
        "_written_once",
        "lost_turns",
    )

    def __init__(
        self,
        conversation_id: str,
        user_id: str,
        started_at: datetime,
        *,
        device_id: str | None = None,
        level: RecordsLevel = "summary",
    ) -> None:
        self._record = ConversationRecord(conversation_id, user_id, device_id, level, started_at)
        self._pending: list[TurnRecord] = []
        self._pending_chars = 0
        self._cuts: dict[int, str] = {}
        self._keys: OrderedDict[str, int] = OrderedDict()  # the companion's last turns: key -> seq
        self._speaking: dict[Role, datetime] = {}
        self._seq = 0
        self._dirty = True  # the row itself is not written yet
        self._written_once = False
        self._last_write: datetime | None = None
        self.lost_turns = 0  # turns dropped while the store was away

    # ---- what it is ----------------------------------------------------------------------------------

    @property
    def record(self) -> ConversationRecord:
        return self._record

    @property
    def level(self) -> RecordsLevel:
        return self._record.records

    @property
    def ended(self) -> bool:
        return self._record.ended_at is not None

    def set_level(self, level: RecordsLevel) -> None:
        """The family changed its choice: from now on, keep what ``level`` allows (the store removes
        what was written before; what waits here is dropped at once)."""
        record = self._record
        if level == record.records:
            return
        if level != "transcript":
            self._pending.clear()
            self._pending_chars = 0
            self._cuts.clear()
            self._keys.clear()
        if level == "none":
            record = replace(record, summary=None, summary_kind=None, timeline=())
        self._record = replace(record, records=level)
        self._dirty = True

    # ---- notes ---------------------------------------------------------------------------------------

    def feed(self, note: Note) -> None:
        match note:
            case TurnStarted(role, at):
                self._speaking.setdefault(role, at)
            case TurnEnded(role, text, at, key, cut):
                self._turn(role, text, at, key, cut)
            case TurnCut(key, heard, _):
                self._cut(key, heard)
            case Connected(connection, at):
                self._connected(connection, at)
            case Did(act, at, label):
                self._did(act, at, label)
            case Ended(how, at):
                if self._record.ended_at is None:
                    self._record = replace(self._record, ended_at=at, ended_how=how)
                    self._dirty = True

    def _turn(self, role: Role, text: str, at: datetime, key: str, cut: bool) -> None:
        started = self._speaking.pop(role, at)
        talk_ms = max(0, int((at - started).total_seconds() * 1000))
        record = self._record
        if role == "person":
            record = replace(
                record, person_turns=record.person_turns + 1, person_talk_ms=record.person_talk_ms + talk_ms
            )
        else:
            record = replace(
                record,
                companion_turns=record.companion_turns + 1,
                companion_talk_ms=record.companion_talk_ms + talk_ms,
            )
        self._record = record
        self._dirty = True
        text = text.strip()
        if record.records != "transcript" or not text:
            return
        turn = TurnRecord(self._seq, role, started, _capped(text), cut)
        self._seq += 1
        self._pending.append(turn)
        self._pending_chars += len(turn.text)
        if role == "companion" and key:
            self._keys[key] = turn.seq
            while len(self._keys) > CUTTABLE:
                self._keys.popitem(last=False)
        while self._pending_chars > MAX_PENDING_CHARS and len(self._pending) > 1:
            oldest = self._pending.pop(0)
            self._pending_chars -= len(oldest.text)
            self.lost_turns += 1

    def _cut(self, key: str, heard: str) -> None:
        seq = self._keys.get(key)
        if seq is None:
            return
        heard = _capped(heard.strip())
        for i, turn in enumerate(self._pending):
            if turn.seq == seq:
                self._pending_chars += len(heard) - len(turn.text)
                self._pending[i] = replace(turn, text=heard, cut=True)
                break
        else:
            self._cuts[seq] = heard
        self._dirty = True

    def _connected(self, connection: str, at: datetime) -> None:
        record = self._record
        if connection == "rotation":
            record = replace(record, connections=record.connections + 1, rotations=record.rotations + 1)
        else:
            record = replace(record, connections=record.connections + 1, reconnects=record.reconnects + 1)
        self._record = record
        self._moment(at, connection, "")

    def _did(self, act: str, at: datetime, label: str) -> None:
        name = _ACT_COUNTS[act]
        self._record = replace(self._record, **{name: getattr(self._record, name) + 1})
        self._moment(at, act, label)

    def _moment(self, at: datetime, kind: str, label: str) -> None:
        self._dirty = True
        record = self._record
        if record.records == "none" or len(record.timeline) >= MAX_TIMELINE:
            return
        entry = TimelineEntry(at, kind, label[:200])
        self._record = replace(record, timeline=(*record.timeline, entry))

    def summarised(self, text: str, kind: SummaryKind) -> None:
        """The summary (the model's, or the plain digest); kept only where summaries are."""
        if self._record.records == "none":
            return
        self._record = replace(self._record, summary=text, summary_kind=kind)
        self._dirty = True

    # ---- writes --------------------------------------------------------------------------------------

    def write_due(self, now: datetime) -> bool:
        """Something changed and the last write is :data:`FLUSH_S` old (or none was made)."""
        if not self._dirty:
            return False
        return self._last_write is None or now - self._last_write >= timedelta(seconds=FLUSH_S)

    def take_write(self, now: datetime) -> ConversationWrite | None:
        """What to store now (None: nothing changed). If storing it fails, :meth:`give_back` it."""
        if not self._dirty:
            return None
        write = ConversationWrite(
            self._record,
            tuple(self._pending),
            tuple(self._cuts.items()),
            first=not self._written_once,
        )
        self._pending = []
        self._pending_chars = 0
        self._cuts = {}
        self._dirty = False
        self._written_once = True
        self._last_write = now
        return write

    def give_back(self, write: ConversationWrite) -> None:
        """A write that failed: its turns and cuts wait for the next one (newer ones stay after them)."""
        self._pending = [*write.turns, *self._pending]
        self._pending_chars = sum(len(t.text) for t in self._pending)
        self._cuts = {**dict(write.cuts), **self._cuts}
        self._written_once = self._written_once and not write.first
        self._dirty = True
        while self._pending_chars > MAX_PENDING_CHARS and len(self._pending) > 1:
            oldest = self._pending.pop(0)
            self._pending_chars -= len(oldest.text)
            self.lost_turns += 1


def _capped(text: str) -> str:
    if len(text) <= CONVERSATION_TEXT_MAX:
        return text
    return text[: CONVERSATION_TEXT_MAX - 1].rstrip() + ELLIPSIS


def heard_part(text: str, fraction: float) -> str:
    """The part of ``text`` a listener heard when playback stopped at ``fraction`` of its audio: cut at
    the last whole word before that point, with an ellipsis (nothing heard: just the ellipsis)."""
    if fraction >= 1.0:
        return text
    if fraction <= 0.0 or not text:
        return ELLIPSIS
    cut = text[: int(len(text) * fraction)]
    if " " in cut and not text[len(cut) : len(cut) + 1].isspace():
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip() + ELLIPSIS
