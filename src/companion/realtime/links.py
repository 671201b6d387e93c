"""The two ends of a live session: the client's link and one replaceable model connection.

:class:`ClientLink` owns the client's outgoing frames. Its outbox is bounded by size, not by waiting:
the model's reader hands it events without ever blocking, so a slow client cannot hold back the
model's control events (a ``session.updated`` confirming a save arrives on time, behind any amount of
audio). Past :data:`DROP_AUDIO_CHARS` queued, audio for the client is dropped and counted (a client
that far behind cannot play it in time anyway); past :data:`MAX_QUEUED_CHARS` the client is too slow
to hold a conversation and the session ends it.

:class:`UpstreamLink` is one model connection: its send lock, the ``session.update`` awaiting the
model's confirmation (and one that timed out, still accepted if the model confirms it late), and the
item ids this model session knows. A session replaces its link on rotation and reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from companion.errors import UpstreamError, UpstreamLost, UpstreamRejected
from companion.realtime import protocol
from companion.realtime.reconnect import ConnectReason

if TYPE_CHECKING:
    from companion.realtime.records import ClientChannel
    from companion.realtime.upstream import UpstreamConnection

DROP_AUDIO_CHARS: Final = 4 * 1024 * 1024  # ~60 s of 24 kHz audio as base64 JSON waiting for the client
MAX_QUEUED_CHARS: Final = 8 * 1024 * 1024  # twice that: the client has stopped reading
CLIENT_AUDIO: Final = "response.output_audio.delta"


class Flag(asyncio.Event):
    """An ``asyncio.Event`` that makes its list of waiters on the first wait instead of with the event:
    each ``asyncio.Event`` starts with an empty deque of ~0.6 KB, and an idle session has five events
    that nobody is waiting on. Every method is its own (no state of the base class is used)."""

    __slots__ = ("_on", "_waiting")

    def __init__(self, value: bool = False) -> None:
        self._on = value
        self._waiting: list[asyncio.Future[None]] | None = None

    def __repr__(self) -> str:
        return f"<Flag {'set' if self._on else 'unset'}>"

    def is_set(self) -> bool:
        return self._on

    def set(self) -> None:
        if self._on:
            return
        self._on = True
        waiting, self._waiting = self._waiting, None
        for future in waiting or ():
            if not future.done():
                future.set_result(None)

    def clear(self) -> None:
        self._on = False

    async def wait(self) -> Literal[True]:
        if self._on:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiting is None:
            self._waiting = []
        waiting = self._waiting
        waiting.append(future)
        try:
            await future
        finally:
            with contextlib.suppress(ValueError):
                waiting.remove(future)
            if not waiting and self._waiting is waiting:
                self._waiting = None
        return True


class ClientLink:
    """The client's channel with a non-blocking, size-bounded outbox and one writer."""

    def __init__(self, channel: ClientChannel, on_too_slow: Callable[[], None]) -> None:
        self.channel = channel
        self._on_too_slow = on_too_slow
        self._queue: list[str] = []  # replaced, not emptied, by the writer: an idle link keeps no capacity
        self._chars = 0
        self._ready = Flag()
        self._finishing = False
        self._writing = False
        self._written = Flag()
        self.audio_dropped = 0
        self.too_slow = False

    def offer(self, event: dict[str, Any]) -> None:
        """Queue one event for the client. Never waits."""
        if self._finishing or self.too_slow:
            return
        text = protocol.dump_event(event)
        if self._chars + len(text) > DROP_AUDIO_CHARS and event.get("type") == CLIENT_AUDIO:
            self.audio_dropped += 1
            return
        if self._chars + len(text) > MAX_QUEUED_CHARS:
            self.too_slow = True
            self._on_too_slow()
            return
        self._queue.append(text)
        self._chars += len(text)
        self._ready.set()

    async def write(self) -> None:
        """The writer: sends in order until :meth:`finish` and the queue is empty, or the client is gone."""
        self._writing = True
        try:
            while await self._send_queued() and not self._finishing:
                self._ready.clear()
                await self._ready.wait()
        finally:
            self._written.set()

    async def _send_queued(self) -> bool:
        """Send what is queued, in order, including what is queued meanwhile; False once the client is
        gone. A call of its own so that the last frame sent is not kept alive while the writer waits
        for the next."""
        while self._queue:
            batch, self._queue = self._queue, []
            for text in batch:
                self._chars -= len(text)
                try:
                    await self.channel.send(text)
                except Exception:  # the client is gone; the session ends when its reader sees it
                    return False
        return True

    async def finish(self, timeout_s: float) -> None:
        """Let the writer send what is queued (an error explaining the end), for at most ``timeout_s``."""
        self._finishing = True
        self._ready.set()
        if self._writing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._written.wait(), timeout_s)

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.channel.close(code, reason)


@dataclass(slots=True)
class Confirmation:
    """A sent ``session.update``; ``payload`` is what the session adopts once the model confirms it."""

    event_id: str
    instructions: str
    payload: Any
    future: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(frozen=True, slots=True)
class Settled:
    confirmation: Confirmation
    late: bool  # confirmed after its waiter had given up: the session still adopts it


class UpstreamLink:
    """One model connection of a live session, with what is pending on it."""

    def __init__(
        self,
        conn: UpstreamConnection,
        *,
        number: int,
        reason: ConnectReason,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conn = conn
        self.number = number
        self.reason = reason
        self.opened_at = clock()
        self._clock = clock
        self.rotate_after_s: float | None = None
        self.max_age_s: float | None = None
        self.items: set[str] = set()  # item ids this model session knows
        self.retired = False  # replaced or closed on purpose: its end is not a loss
        self.expired = False  # the model said its session is over
        self.rotation: asyncio.TimerHandle | None = None  # when it is due to be replaced
        self._send_lock = asyncio.Lock()
        self._waiting_sends = 0  # sends that wait for the lock or hold it: a new one must queue behind
        self._pending: Confirmation | None = None
        self._late: Confirmation | None = None

    # ---- sending -------------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any], *, frame: str | None = None) -> None:
        """In order: at once when no other send is under way and the connection can take it now (the
        usual case, no lock and no task switch), else after the sends before it."""
        if self.retired:
            raise UpstreamLost("The realtime model connection was replaced")
        try:
            if not self._waiting_sends and self.conn.send_now(event, frame=frame):
                return
            self._waiting_sends += 1
            try:
                async with self._send_lock:
                    await self.conn.send(event, frame=frame)
            finally:
                self._waiting_sends -= 1
        except UpstreamError as exc:
            raise UpstreamLost(exc.message) from exc

    async def first_event(self) -> dict[str, Any]:
        """The first server event (``session.created``; it never comes in pieces)."""
        while True:
            events = await self.conn.recv()
            if events:
                return events[0]

    def stop_rotation(self) -> None:
        if self.rotation is not None:
            self.rotation.cancel()
            self.rotation = None

    async def close(self) -> None:
        self.retired = True
        self.stop_rotation()
        with contextlib.suppress(Exception):
            await self.conn.close()

    def age_fraction(self) -> float:
        """How far into the model's cap this session is (0 new, 1 at the cap; 0 when the cap is unknown)."""
        if not self.max_age_s:
            return 0.0
        return (self._clock() - self.opened_at) / self.max_age_s

    def note_items(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            self.items.add(item["id"])
        elif event.get("type") == "conversation.item.deleted" and isinstance(event.get("item_id"), str):
            self.items.discard(event["item_id"])

    # ---- confirmations -----------------------------------------------------------------------------

    def expect(self, event_id: str, instructions: str, payload: Any) -> Confirmation:
        confirmation = Confirmation(event_id, instructions, payload)
        self._pending = confirmation
        return confirmation

    def give_up(self, confirmation: Confirmation) -> None:
        """Its waiter timed out: a later confirmation of exactly it is still adopted, not relayed."""
        if self._pending is confirmation:
            self._pending = None
        self._late = confirmation

    def settle(self, event: dict[str, Any]) -> Settled | None:
        """If ``event`` answers a pending (or late) update, settle it; the event is then ours alone."""
        for confirmation, late in ((self._pending, False), (self._late, True)):
            if confirmation is None:
                continue
            if _confirms(event, confirmation):
                if not confirmation.future.done():
                    confirmation.future.set_result(event.get("session") or {})
            elif _refuses(event, confirmation):
                if not confirmation.future.done():
                    confirmation.future.set_exception(_rejection(event))
            else:
                continue
            if late:
                self._late = None
            else:
                self._pending = None
            return Settled(confirmation, late)
        return None

    def fail_pending(self, error: Exception) -> None:
        pending, self._pending, self._late = self._pending, None, None
        if pending is not None and not pending.future.done():
            pending.future.set_exception(error)


def _confirms(event: dict[str, Any], pending: Confirmation) -> bool:
    """``session.updated`` does not echo our event_id, so the echoed instructions must match exactly."""
    session = event.get("session")
    return (
        event.get("type") == "session.updated"
        and isinstance(session, dict)
        and session.get("instructions") == pending.instructions
    )


def _refuses(event: dict[str, Any], pending: Confirmation) -> bool:
    error = event.get("error")
    return (
        event.get("type") == "error" and isinstance(error, dict) and error.get("event_id") == pending.event_id
    )


def _rejection(event: dict[str, Any]) -> Exception:
    error = event.get("error") or {}
    code = error.get("code") or error.get("type") or "error"
    return UpstreamRejected(
        f"The realtime model rejected the update ({code}): {error.get('message') or 'no message'}"
    )
