"""The two ends of a live session: the client's link and one replaceable model connection.

:class:`ClientLink` owns the client's outgoing frames. Its outbox is bounded by size, not by waiting:
the model's reader hands it events without ever blocking, so a slow client cannot hold back the
model's control events (a ``session.updated`` confirming a save arrives on time, behind any amount of
audio). Past :data:`DROP_AUDIO_CHARS` queued, audio for the client is dropped and counted (a client
that far behind cannot play it in time anyway); past :data:`MAX_QUEUED_CHARS` the client is too slow
to hold a conversation and the session ends it.

:class:`ModelPipe` is one model connection as the driver holds it: sends go out in order, at once when
the connection can take them (the usual case: no lock, no task switch), else queued behind one flusher.
What a connection means to the conversation (its confirmations, its items) is the session machine's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, Literal

from companion.errors import UpstreamError
from companion.realtime import protocol

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


Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[Any]"]
LostSend = Callable[[int, dict[str, Any], "str | None"], None]


class ModelPipe:
    """One model connection's sending side: in order, without waiting when it can (see the module)."""

    __slots__ = ("_backlog", "_flusher", "_on_lost", "_spawn", "closed", "conn", "number")

    def __init__(self, conn: UpstreamConnection, number: int, *, spawn: Spawn, on_lost: LostSend) -> None:
        self.conn = conn
        self.number = number
        self.closed = False  # closed on purpose (or found gone): sends are dropped, its end is not news
        self._spawn = spawn
        self._on_lost = on_lost  # a send found the connection gone: the event, for the next connection
        self._backlog: deque[tuple[dict[str, Any], str | None]] = deque()
        self._flusher: asyncio.Task[Any] | None = None

    def send(self, event: dict[str, Any], frame: str | None = None) -> None:
        """Send now if nothing waits and the connection can take it, else queue it behind the rest."""
        if self.closed:
            return
        if not self._backlog:
            try:
                if self.conn.send_now(event, frame=frame):
                    return
            except UpstreamError:
                self._lost(event, frame)
                return
        self._backlog.append((event, frame))
        if self._flusher is None:
            self._flusher = self._spawn(self._flush(), f"model-send-{self.number}")

    @property
    def backlogged(self) -> bool:
        return bool(self._backlog)

    async def drained(self) -> None:
        """Until what is queued has gone out (the client's reader waits: the model sets the pace)."""
        flusher = self._flusher
        if flusher is not None:
            await asyncio.shield(flusher)

    async def _flush(self) -> None:
        try:
            while self._backlog and not self.closed:
                event, frame = self._backlog[0]
                try:
                    await self.conn.send(event, frame=frame)
                except UpstreamError:
                    self._lost(event, frame)
                    return
                self._backlog.popleft()
        finally:
            self._flusher = None

    def _lost(self, event: dict[str, Any], frame: str | None) -> None:
        self.closed = True
        self._backlog.clear()
        self._on_lost(self.number, event, frame)

    async def close(self) -> None:
        self.closed = True
        self._backlog.clear()
        with contextlib.suppress(Exception):
            await self.conn.close()
