"""What the session machine asks of its driver, and what it tells an observer: plain data, no I/O.

:class:`~companion.realtime.machine.SessionMachine` answers every input with a list of these. The
driver (:class:`~companion.realtime.session.LiveSession`) carries them out in order: frames to either
side, model connections to open or close, the person's context to read, tool runs to start, callers
to answer. The notes (:data:`Note`, the recorder's own types) change nothing: they say what happened in
the conversation, for its log (see ``realtime/recording.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from companion.conversations import notes
from companion.errors import CompanionError
from companion.events import SayOutcome
from companion.realtime.endings import Close
from companion.realtime.policy import ToClient, ToolOutcome
from companion.realtime.records import ConnectionRecord, RefreshRecord
from companion.realtime.tools import ToolCall

# ---- I/O the driver does --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendModel:
    """Send ``event`` on model connection ``link`` (``frame``: its text, when already at hand)."""

    link: int
    event: dict[str, Any]
    frame: str | None = None


@dataclass(frozen=True, slots=True)
class OpenModel:
    """Open model connection number ``link``; report ``model_opened`` or ``model_failed``, then feed
    its events to ``receive_model`` and its end to ``model_closed``."""

    link: int


@dataclass(frozen=True, slots=True)
class CloseModel:
    """Close model connection ``link`` (or stop opening it); its end is no longer reported."""

    link: int


@dataclass(frozen=True, slots=True)
class Prepare:
    """Read the person's care context and build from it; answer with ``prepared(token, ...)``.

    ``caller``: the refresh caller whose shared preparation (one read for all of a person's sessions)
    may be used; None: the session reads for itself."""

    token: int
    caller: int | None = None


@dataclass(frozen=True, slots=True)
class StartTool:
    """Run a server tool; answer with ``tool_done(token, output)`` (the run outlives the session)."""

    token: int
    call: ToolCall


@dataclass(frozen=True, slots=True)
class CloseClient:
    """Send the client what is queued (bounded), close it with ``close``, then report ``client_closed``."""

    close: Close


# ---- answers to callers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshAnswered:
    """The refresh these callers share has its result."""

    callers: tuple[int, ...]
    record: RefreshRecord


@dataclass(frozen=True, slots=True)
class RefreshFailed:
    """The refresh these callers share failed, or their wait reached its bound."""

    callers: tuple[int, ...]
    error: CompanionError


@dataclass(frozen=True, slots=True)
class SayAnswered:
    """What became of a request to say ``instruction`` (see :mod:`~companion.realtime.saying`)."""

    instruction: str
    outcome: SayOutcome


@dataclass(frozen=True, slots=True)
class GreetingSaid:
    """The greeting of a conversation opened for a reminder was said (or not): its owner is told."""

    outcome: SayOutcome


# ---- counts, for the metrics ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tokens:
    count: int


@dataclass(frozen=True, slots=True)
class Connected:
    """A model connection is in use; ``record`` says why and how long the switch took."""

    record: ConnectionRecord


@dataclass(frozen=True, slots=True)
class HeldAudioDropped:
    count: int


@dataclass(frozen=True, slots=True)
class Refreshed:
    """A refresh ended (or a late confirmation was adopted): the session's refresh observer is told."""

    record: RefreshRecord


# ---- notes for the conversation's recorder ---------------------------------------------------------

# The machine's notes are the recorder's own (``conversations/notes.py``): turns with their text, a cut,
# a model connection, what the companion did, the summary, the end. The driver hands them to the
# session's log; they change nothing in the session.
Note = notes.Note

Action = (
    SendModel
    | ToClient
    | OpenModel
    | CloseModel
    | Prepare
    | StartTool
    | CloseClient
    | RefreshAnswered
    | RefreshFailed
    | SayAnswered
    | GreetingSaid
    | Tokens
    | Connected
    | HeldAudioDropped
    | Refreshed
    | ToolOutcome
    | Note
)
