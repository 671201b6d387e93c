"""What a live conversation tells its recorder: plain, typed notes, in the order things happened.

The live session's machine makes them (``realtime/recording.py`` is its part that reads them off the
model's events; ``docs/session.md``, "Recording a conversation"); the session hands them, in order, to
the conversation's log (``service.py``), whose recorder (``recorder.py``) turns them into bounded
incremental writes. Neither side knows the other's internals: the notes are the whole contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Role = Literal["person", "companion"]
EndedHow = Literal["person", "network", "cap", "revoked", "error"]
# What the companion did, for the family's timeline and counts
ActKind = Literal["song", "memory", "alert", "reminder_said", "reminder_confirmed"]
ConnectionKind = Literal["rotation", "reconnect"]


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """Someone started speaking (the person: voice activity heard; the companion: its answer began)."""

    role: Role
    at: datetime
    kind: Literal["turn_started"] = "turn_started"


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """A turn is over: the person's words as transcribed (or typed), the companion's as spoken; ``cut``
    when the companion was stopped before it finished. ``key`` names the turn for a later cut."""

    role: Role
    text: str
    at: datetime
    key: str = ""
    cut: bool = False
    kind: Literal["turn_ended"] = "turn_ended"


@dataclass(frozen=True, slots=True)
class TurnCut:
    """The person interrupted the companion: of turn ``key``, only ``heard`` was heard."""

    key: str
    heard: str
    at: datetime
    kind: Literal["turn_cut"] = "turn_cut"


@dataclass(frozen=True, slots=True)
class Connected:
    """A new model connection replaced the previous one: a planned rotation or a reconnection."""

    connection: ConnectionKind
    at: datetime
    kind: Literal["connected"] = "connected"


@dataclass(frozen=True, slots=True)
class Did:
    """The companion did something the family sees on the timeline; ``label`` (a song, the reminder)
    is kept only where summaries are."""

    act: ActKind
    at: datetime
    label: str = ""
    kind: Literal["did"] = "did"


@dataclass(frozen=True, slots=True)
class Ended:
    """The conversation is over, and why."""

    how: EndedHow
    at: datetime
    kind: Literal["ended"] = "ended"


@dataclass(frozen=True, slots=True)
class Summarised:
    """The model's summary of the conversation, asked for after the person left; None: it did not come
    in time, or the model answered with an error or nothing (the last running summary, or else the
    plain digest, stands in). ``running``: a long conversation's summary so far, asked while it goes on
    (never None: one that did not come is not noted)."""

    text: str | None
    at: datetime
    running: bool = False
    kind: Literal["summarised"] = "summarised"


@dataclass(frozen=True, slots=True)
class Abandoned:
    """The conversation closed before it started (no model session was ever in use): nothing of it is
    kept."""

    at: datetime
    kind: Literal["abandoned"] = "abandoned"


Note = TurnStarted | TurnEnded | TurnCut | Connected | Did | Ended | Summarised | Abandoned


class ConversationLog(Protocol):
    """Where one live conversation's notes go (the conversation service's ``LiveLog``). ``note`` is
    called in order and must not block; ``summary_language`` is asked once, when the person has left
    and ``ready`` has been awaited: the language the model's summary is written in, or None when none
    is wanted (records ``none``, or the person said nothing). ``ready`` reads the family's choice where
    it is not known yet (a conversation can end before its first write)."""

    def note(self, note: Note) -> None: ...

    async def ready(self) -> None: ...

    def summary_language(self) -> str | None: ...
