"""The plain types of a live session: its states, what it records, how it is configured."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol

from companion.profiles.models import CareContext
from companion.prompt import Instructions
from companion.realtime.reconnect import ConnectReason

if TYPE_CHECKING:
    from companion.realtime.session import LiveSession


class Status(StrEnum):
    STARTING = "starting"
    ACTIVE = "active"
    RECONNECTING = "reconnecting"
    CLOSING = "closing"
    CLOSED = "closed"


TRANSITIONS: Final[dict[Status, frozenset[Status]]] = {
    Status.STARTING: frozenset({Status.ACTIVE, Status.CLOSING}),
    Status.ACTIVE: frozenset({Status.RECONNECTING, Status.CLOSING}),
    Status.RECONNECTING: frozenset({Status.ACTIVE, Status.CLOSING}),
    Status.CLOSING: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset(),
}
ENDED: Final = frozenset({Status.CLOSING, Status.CLOSED})


class RefreshResult(StrEnum):
    REFRESHED = "refreshed"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    result: RefreshResult
    at: datetime
    latency_ms: float
    version: str
    message: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "result": self.result.value,
            "at": self.at.isoformat(),
            "latencyMs": round(self.latency_ms, 3),
            "instructionsVersion": self.version,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """One model connection of the session: why it was opened and how long the switch took."""

    number: int
    reason: ConnectReason
    at: datetime
    resume_ms: float | None  # from losing (or starting to replace) the previous one; None for the first

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "reason": self.reason.value,
            "at": self.at.isoformat(),
            "resumeMs": None if self.resume_ms is None else round(self.resume_ms, 1),
        }


class ClientChannel(Protocol):
    """The elder's side: text frames in and out. ``receive`` returns None once the client has left."""

    async def receive(self) -> str | None: ...

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(slots=True)
class SessionConfig:
    refresh_timeout_s: float
    after_response: bool
    # audio formats, transcription, VAD, voice: sent at every start, shaped by the instructions' language
    base_session: Callable[[Instructions], dict[str, Any]]
    max_session_s: float = 55 * 60.0  # rotate before the model's cap (reconnect.default_max_session_s)
    reconnect_s: float = 30.0  # give up replacing a lost model connection after this long
    # After the client leaves, the model's answer in progress is read this long at most (a server tool
    # call on its way is carried out): an answer is made several times faster than it plays, so a call
    # after a sentence or two of it arrives well within this.
    read_out_s: float = 5.0


ContextLoader = Callable[[str], Awaitable[CareContext]]
Builder = Callable[[CareContext], Instructions]
ToolsFor = Callable[[CareContext], list[dict[str, Any]]]
RefreshObserver = Callable[["LiveSession", RefreshRecord], None]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a refresh applies: the context read from the store, and what was built from it. A session
    keeps the last one it applied without its context (``context`` None), to reconnect with when the
    store is away: an idle conversation holds no copy of the person's whole profile."""

    context: CareContext | None
    built: Instructions
    tools: list[dict[str, Any]]


Preparer = Callable[[], Awaitable[Prepared]]
UserPreparer = Callable[[str], Awaitable[Prepared]]  # reads a person's context and builds from it


@dataclass(frozen=True, slots=True)
class ClosedSession:
    """What is kept of a conversation that ended: its summary, for "closed" (409) answers and the
    sessions list. No sockets, queues, instructions or conversation text are kept."""

    id: str
    user_id: str
    device_id: str | None
    started_at: datetime
    summary: dict[str, Any]  # the session's as_json() at its end: ids, counts, versions, timings

    @property
    def status(self) -> Status:
        return Status.CLOSED

    def as_json(self) -> dict[str, Any]:
        return dict(self.summary)

    async def close(self, *_: object, **__: object) -> None:
        """Already closed: nothing to do (closing twice is not an error)."""
