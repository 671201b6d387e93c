"""What a live conversation tells its recorder: plain, typed notes, in the order things happened.

The live session emits them (today through ``realtime/recording.py``, which reads them off the events
it already sees); the recorder (``recorder.py``) turns them into bounded incremental writes. Neither
side knows the other's internals: the notes are the whole contract.
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


Note = TurnStarted | TurnEnded | TurnCut | Connected | Did | Ended


class NoteSink(Protocol):
    """Where a live session's notes go (the conversation service's log of one conversation)."""

    def note(self, note: Note) -> None: ...
