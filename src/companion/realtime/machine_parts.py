"""The session machine's bookkeeping, as plain data: one model connection, a connection being opened,
a refresh, a tool answer, a request to say something. No I/O, no asyncio."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from companion.errors import UpstreamRejected
from companion.realtime.reconnect import ConnectReason
from companion.realtime.records import Prepared
from companion.realtime.tools import ToolCall

START_TIMEOUT_S: Final = 10.0  # one attempt: connect + session.created + first confirmed update
ROTATION_RETRY_S: Final = 30.0  # a rotation that could not open a new model session tries again after this
MAX_READER_FAILURES: Final = 3  # a reader that keeps failing on the same conversation is a bug: close
MAX_WAIT_FOR_RESPONSE_S: Final = 30.0  # "after_response" refreshes never wait longer than one long answer
MIN_CONFIRM_S: Final = 0.05  # less left before the callers' bound: the update gets the whole timeout


@dataclass(slots=True, eq=False)
class Pending:
    """A ``session.update`` sent, awaiting the model's confirmation of exactly its instructions."""

    event_id: str
    instructions: str
    prepared: Prepared
    deadline: float
    timeout_s: float  # for the message when it times out


@dataclass(frozen=True, slots=True)
class Settled:
    pending: Pending
    late: bool  # confirmed after its deadline: still adopted, answers nobody
    session: dict[str, Any] | None  # what the model confirmed (None: refused)
    error: UpstreamRejected | None


@dataclass(slots=True, eq=False)
class ModelLink:
    """One model connection of a session, with what is pending on it."""

    number: int  # the driver's name for it (every attempt has one)
    reason: ConnectReason
    opened_at: float
    ordinal: int = 0  # its place among the connections that opened (what the sessions API shows)
    rotate_at: float | None = None  # when a quiet moment is looked for to replace it
    max_age_s: float | None = None
    items: set[str] = field(default_factory=set)  # item ids this model session knows
    retired: bool = False  # replaced or closed on purpose: its end is not a loss
    expired: bool = False  # the model said its session is over
    pending: Pending | None = None
    late: Pending | None = None  # timed out; a confirmation of exactly it is still adopted

    def age_fraction(self, now: float) -> float:
        """How far into the model's cap this session is (0 new, 1 at the cap; 0 when unknown)."""
        if not self.max_age_s:
            return 0.0
        return (now - self.opened_at) / self.max_age_s

    def note_items(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            self.items.add(item["id"])
        elif event.get("type") == "conversation.item.deleted" and isinstance(event.get("item_id"), str):
            self.items.discard(event["item_id"])

    def settle(self, event: dict[str, Any]) -> Settled | None:
        """If ``event`` answers the pending (or late) update, settle it: the event is then ours alone.
        ``session.updated`` does not echo our event_id, so the echoed instructions must match exactly;
        a refusal is an ``error`` naming our event_id."""
        kind = event.get("type")
        if kind != "session.updated" and kind != "error":
            return None
        for pending, late in ((self.pending, False), (self.late, True)):
            if pending is None:
                continue
            session = event.get("session")
            error = event.get("error")
            if kind == "session.updated" and isinstance(session, dict):
                if session.get("instructions") != pending.instructions:
                    continue
                settled = Settled(pending, late, session, None)
            elif kind == "error" and isinstance(error, dict) and error.get("event_id") == pending.event_id:
                settled = Settled(pending, late, None, _rejection(error))
            else:
                continue
            if late:
                self.late = None
            else:
                self.pending = None
            return settled
        return None


def _rejection(error: dict[str, Any]) -> UpstreamRejected:
    code = error.get("code") or error.get("type") or "error"
    return UpstreamRejected(
        f"The realtime model rejected the update ({code}): {error.get('message') or 'no message'}"
    )


Stage = Literal["connecting", "created", "preparing", "confirming", "retrying"]


@dataclass(slots=True, eq=False)
class Opening:
    """A model connection being opened: at the start, or to replace the current one."""

    reason: ConnectReason
    retry: bool  # failed attempts are retried with backoff until ``give_up_at`` (not for a rotation)
    started: float  # when the previous connection was lost or its replacement began
    give_up_at: float
    replacing: ModelLink | None
    attempt: int = 0
    link: ModelLink | None = None
    stage: Stage = "connecting"
    attempt_deadline: float = 0.0
    retry_at: float = 0.0
    prepare_token: int = 0
    prepared: Prepared | None = None


RefreshStage = Literal["waiting", "preparing", "answer", "confirming"]


@dataclass(slots=True, eq=False)
class Refresh:
    """One refresh of the instructions and the callers who wait for it."""

    callers: list[int]
    started: float
    deadline: float  # its callers are answered by then, whatever it waits for (as a routed refresh)
    baseline: str | None  # the version when it was asked for: equal later means another applied it
    shared_caller: int | None  # whose shared preparation it may use (None: it reads for itself)
    stage: RefreshStage = "waiting"
    prepare_token: int = 0
    prepared: Prepared | None = None
    session: dict[str, Any] | None = None
    answer_deadline: float = 0.0
    link: ModelLink | None = None


@dataclass(slots=True, eq=False)
class Answer:
    """A tool call of the current response that the relay answers, on the connection that asked."""

    call: ToolCall
    link: int
    token: int = 0  # its run (0: answered at once)
    output: dict[str, Any] | None = None


@dataclass(slots=True, eq=False)
class Say:
    """Something to say at the next quiet moment, then followed to its response's end."""

    instruction: str
    give_up_at: float
    key: str | None = None  # once sent: the request's key in the say book
    link: int = 0
    respond_by: float = 0.0


@dataclass(slots=True, eq=False)
class ReadOut:
    """The client has left while an answer was being made or about to be: it is read to its end."""

    until: float
    turns: int
