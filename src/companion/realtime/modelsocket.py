"""The model's WebSocket: websockets' public sans-I/O ``ClientProtocol`` under an asyncio protocol of ours.

Why not ``websockets.asyncio.client``: its ``send()`` wraps every message in an async context manager
and a drain, which for a 20 ms audio frame costs about as much as framing and writing it. Measured
(same runs, interleaved, load 8-12 on 2 cores): the relay bench's relay / forwarder CPU per streaming
session at N = 20, four rounds: 1.29-1.37x through ``send()``, 1.13-1.23x with this module; client CPU
per message through the session's model send: 12.8-19.3 us against 6.6-12.1 us. Skipping the context
manager through the asyncio connection's private methods held websockets to one major version; the
sans-I/O protocol is the public layer for driving the wire yourself: bytes in, events out, bytes to send.

Only what the relay uses: text messages both ways, pings (keepalive, and on request), the closing
handshake, flow control both ways. Errors are websockets' own exceptions (``ConnectionClosed``,
``InvalidHandshake``), which ``upstream.py`` translates.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import ssl
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import USER_AGENT, Response
from websockets.protocol import State
from websockets.uri import parse_uri

CLOSE_TIMEOUT_S = 10.0  # websockets' own default: a peer that has not closed by then is cut off
READ_HIGH = 16  # messages waiting for recv() before we stop reading the socket (websockets' max_queue)
READ_LOW = 4  # ... and resume once recv() has taken them down to this many


class ModelSocket(asyncio.Protocol):
    """One client WebSocket; open it with ``open_model_socket``."""

    def __init__(
        self,
        protocol: ClientProtocol,
        headers: dict[str, str],
        ping_interval: float | None,
        ping_timeout: float | None,
    ) -> None:
        self.protocol = protocol
        self._headers: dict[str, str] | None = headers  # for the handshake only, then dropped
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._messages: collections.deque[str | bytes] = collections.deque()
        self._fragments: list[bytes] = []
        self._fragmented_text = False
        self._reader: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._pings: dict[bytes, asyncio.Future[None]] = {}
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._timer: asyncio.TimerHandle | None = None  # the next keepalive ping, or its deadline
        self._close_timer: asyncio.TimerHandle | None = None

    # ---- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is one without the base class
        request = self.protocol.connect()
        request.headers.update(self._headers or {})
        request.headers.setdefault("User-Agent", USER_AGENT)
        self._headers = None
        self.protocol.send_request(request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        self._process()

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent; the state is CLOSED from here on
        for timer in (self._timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._close_timer = None
        if not self.opened.done():
            self.opened.set_exception(
                self.protocol.handshake_exc or InvalidMessage("the connection closed during the handshake")
            )
        for pong in self._pings.values():
            pong.cancel()
        self._pings.clear()
        self._lost.set_result(None)
        self._wake_reader()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # ---- sending ----------------------------------------------------------------------------------

    def write_now(self, text: str) -> bool:
        """Send one text message without waiting, when the connection is open and its write buffer
        below the high-water mark; False otherwise, having sent nothing (``send`` then waits)."""
        if self._writing_paused or self.protocol.state is not State.OPEN:
            return False
        self.protocol.send_text(text.encode())
        self._flush()
        return True

    async def send(self, text: str) -> None:
        """Send one text message; waits while the write buffer is above its high-water mark."""
        if self.protocol.state is not State.OPEN:
            await self._closed()
        self.protocol.send_text(text.encode())
        self._flush()
        while self._writing_paused and not self._lost.done():
            if self._drained is None or self._drained.done():
                self._drained = self._loop.create_future()
            await asyncio.shield(self._drained)

    def ping(self) -> asyncio.Future[None]:
        """Send a ping; the future is done when its pong comes (cancelled if the connection ends)."""
        if self.protocol.state is not State.OPEN:
            raise self.protocol.close_exc if self._lost.done() else ConnectionClosed(None, None)
        data = os.urandom(4)
        pong = self._pings[data] = self._loop.create_future()
        self.protocol.send_ping(data)
        self._flush()
        return pong

    async def close(self) -> None:
        """The closing handshake; the connection is closed when this returns."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(CloseCode.NORMAL_CLOSURE)
            self._flush()
        with contextlib.suppress(ConnectionClosed):
            await self._closed()

    # ---- receiving --------------------------------------------------------------------------------

    async def recv(self) -> str | bytes:
        """The next message; ConnectionClosed once the connection is closed and all were taken."""
        while not self._messages:
            if self._lost.done():
                raise self.protocol.close_exc
            self._reader = self._loop.create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        message = self._messages.popleft()
        if self._reading_paused and len(self._messages) <= READ_LOW and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        return message

    @property
    def close_code(self) -> int | None:
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        return self.protocol.close_reason

    # ---- inside -----------------------------------------------------------------------------------

    def _process(self) -> None:
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self._opened()
            elif isinstance(event, Frame):
                self._frame(event)
        self._flush()  # pongs and close frames the protocol answered with
        if self.protocol.close_expected() and self._close_timer is None and self._transport is not None:
            self._close_timer = self._loop.call_later(CLOSE_TIMEOUT_S, self._transport.abort)

    def _opened(self) -> None:
        if self.opened.done():
            return
        if self.protocol.handshake_exc is not None:
            self.opened.set_exception(self.protocol.handshake_exc)
            if self._transport is not None:
                self._transport.close()
            return
        self.opened.set_result(None)
        self._schedule_ping()

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._deliver(str(frame.data, "utf-8") if opcode is Opcode.TEXT else bytes(frame.data))
                return
            self._fragmented_text = opcode is Opcode.TEXT
            self._fragments = [bytes(frame.data)]
        elif opcode is Opcode.CONT:
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), []
                self._deliver(data.decode() if self._fragmented_text else data)
        elif opcode is Opcode.PONG:
            self._pong(bytes(frame.data))

    def _deliver(self, message: str | bytes) -> None:
        self._messages.append(message)
        if len(self._messages) > READ_HIGH and not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()
        self._wake_reader()

    def _wake_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    def _pong(self, data: bytes) -> None:
        """A pong answers its ping and every ping sent before it (RFC 6455 allows skipping some)."""
        if data not in self._pings:
            return
        for key in list(self._pings):
            pong = self._pings.pop(key)
            if not pong.done():
                pong.set_result(None)
            if key == data:
                break

    def _schedule_ping(self) -> None:
        if self._ping_interval is not None and not self._lost.done():
            self._timer = self._loop.call_later(self._ping_interval, self._keepalive)

    def _keepalive(self) -> None:
        self._timer = None
        if self.protocol.state is not State.OPEN:
            return
        pong = self.ping()
        if self._ping_timeout is None:
            pong.add_done_callback(lambda _: self._schedule_ping())
            return
        deadline = self._loop.call_later(self._ping_timeout, self._ping_timed_out)
        self._timer = deadline

        def answered(_: Any) -> None:
            deadline.cancel()
            if self._timer is deadline:
                self._schedule_ping()

        pong.add_done_callback(answered)

    def _ping_timed_out(self) -> None:
        self._timer = None
        if self.protocol.state is State.OPEN:
            self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            self._flush()
        if self._transport is not None:
            self._transport.abort()

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()

    async def _closed(self) -> None:
        """Wait (bounded) for the connection to close, then raise why it did."""
        if not self._lost.done():
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await asyncio.shield(self._lost)
            except TimeoutError:
                if self._transport is not None:
                    self._transport.abort()
                await asyncio.shield(self._lost)
        raise self.protocol.close_exc


async def open_model_socket(
    url: str,
    headers: dict[str, str],
    *,
    open_timeout: float,
    ping_interval: float | None,
    ping_timeout: float | None,
    max_size: int | None,
) -> ModelSocket:
    """Connect and complete the opening handshake (no extensions: no compression).

    Raises OSError, TimeoutError, websockets' InvalidURI or InvalidHandshake."""
    uri = parse_uri(url)
    context = ssl.create_default_context() if uri.secure else None
    loop = asyncio.get_running_loop()
    sock: ModelSocket | None = None
    try:
        async with asyncio.timeout(open_timeout):
            _, sock = await loop.create_connection(
                lambda: ModelSocket(
                    ClientProtocol(uri, max_size=max_size), headers, ping_interval, ping_timeout
                ),
                uri.host,
                uri.port,
                ssl=context,
                server_hostname=uri.host if context is not None else None,
            )
            await sock.opened
    except BaseException:
        if sock is not None:
            sock.opened.cancel()  # nobody waits for it any more: its outcome is not an error to log
            if sock._transport is not None:
                sock._transport.abort()
        raise
    return sock
