"""The offline engine on a real WebSocket: the thin I/O shell around :class:`EngineSession`.

It exists so the relay, the official ``openai`` SDK and the tests can all talk to a realtime model
without credentials or network, through exactly the door they use in production. Everything that
decides *what* to send lives in the sans-I/O engine; this module only moves frames and paces them.

Per connection there are three tasks besides the handler's own read loop, all tracked so none
leaks: a *writer* (the only one that sends; fed by a bounded queue, so a slow client slows the
engine instead of growing memory), a *pump* (pulls streamed response events and paces deltas),
and an *expiry* timer (``session_expired`` then close 1001, like the service at 60 minutes).
Short-lived tasks run the engine's jobs off the loop: transcribing a committed turn (pocketsphinx,
when installed) and speaking a reply (espeak-ng, when installed).

Tests end a live connection on demand with :meth:`LocalModelServer.drop` (abruptly, with or without
a close frame) and :meth:`LocalModelServer.expire` (what the expiry timer does, now).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Self

import httpx
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from companion.localmodel.chat import chat_reply
from companion.localmodel.engine import (
    DEFAULT_MAX_SESSION_S,
    SESSION_EXPIRED_CLOSE_CODE,
    Behaviour,
    EngineSession,
    JsonDict,
)
from companion.localmodel.hearing import Listener
from companion.localmodel.jobs import HearingJob, SpeechJob
from companion.localmodel.routes import Route, resolve
from companion.localmodel.voice import Speaker
from companion.realtime.endings import clip_close_reason
from companion.realtime.protocol import ProtocolError, dump_event, error_event, parse_event
from companion.tls import client_tls

log = logging.getLogger(__name__)

OUTGOING_QUEUE_MAX: Final = 256  # events buffered per connection before the engine waits for the client
MAX_FRAME_BYTES: Final = 32 * 1024 * 1024  # a 15 MiB audio append is ~20 MiB of base64 JSON
FINISHED_KEPT: Final = 32  # engines ``all_sessions`` keeps for inspection, the latest first to stay
_DELTA_SUFFIX: Final = ".delta"


class _Connection:
    """One accepted WebSocket and its engine; lives as long as the handler call."""

    def __init__(self, ws: ServerConnection, engine: EngineSession, server: LocalModelServer) -> None:
        self.ws = ws
        self.engine = engine
        self.server = server
        self.outgoing: asyncio.Queue[JsonDict] = asyncio.Queue(maxsize=OUTGOING_QUEUE_MAX)
        self.wake = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.ending = False  # expired, dropped or closed: nothing is left for expire() to do
        self.finished = asyncio.Event()  # set once the handler is done and the engine left ``sessions``

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def in_connection(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` as one of this connection's tasks (so it ends with the connection), and wait."""
        task = self._spawn(coro, name)
        await asyncio.wait({task})
        if not task.cancelled():
            task.result()

    async def run(self) -> None:
        self._spawn(self._writer(), "localmodel-writer")
        self._spawn(self._pump(), "localmodel-pump")
        self._spawn(self._expiry(), "localmodel-expiry")
        try:
            await self._put(self.engine.start())
            async for message in self.ws:
                if isinstance(message, bytes):
                    await self._put(self.engine.receive_bytes(message))
                    continue
                await self._maybe_delay(message)
                await self._put(self.engine.receive_text(message))
                if self.server.listener is not None and self.engine.audio.timeline_ms:
                    self.server.listener.warm()  # audio is coming: have the decoder ready for it
        except ConnectionClosed:
            pass
        finally:
            self.ending = True  # an expire() from now on has no connection left to end
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _maybe_delay(self, message: str) -> None:
        """Simulate a slow model: hold a session.update (and, in order, everything behind it)."""
        delay = self.server.behaviour.session_update_delay_s
        if delay <= 0:
            return
        try:
            kind = parse_event(message).type
        except ProtocolError:
            return
        if kind == "session.update":
            await asyncio.sleep(delay)

    async def _put(self, events: list[JsonDict]) -> None:
        for event in events:
            await self.outgoing.put(event)
        self.wake.set()
        self._start_jobs()
        context = self.engine.awaiting_reply
        if context is not None and self.server.chat_client is not None and not self._chat_pending():
            self._spawn(self._chat(), "localmodel-chat")

    def _chat_pending(self) -> bool:
        return any(task.get_name() == "localmodel-chat" for task in self.tasks)

    async def _chat(self) -> None:
        context = self.engine.awaiting_reply
        client, url = self.server.chat_client, self.server.chat_url
        if context is None or client is None or url is None:
            return
        reply = await chat_reply(client, url, self.server.chat_model, context)
        if self.engine.awaiting_reply is context:  # not cancelled meanwhile
            self.engine.provide_reply(reply)
            self.wake.set()
            self._start_jobs()

    def _start_jobs(self) -> None:
        hearing, speech = self.engine.take_jobs()
        for heard in hearing:
            self._spawn(self._hear(heard), "localmodel-hearing")
        for spoken in speech:
            self._spawn(self._speak(spoken), "localmodel-speech")

    async def _hear(self, job: HearingJob) -> None:
        listener = self.server.listener
        transcript: str | None = None
        try:
            transcript = await listener.transcribe(job.pcm) if listener is not None else None
        except Exception:  # a broken recogniser must not leave the reply waiting forever
            log.exception("transcription failed; the turn has no transcript")
        await self._put(self.engine.provide_transcript(job.item_id, transcript))

    async def _speak(self, job: SpeechJob) -> None:
        speaker = self.server.speaker
        pcm: bytes | None = None
        try:
            pcm = await speaker.speak(job.text, job.voice) if speaker is not None else None
        except Exception:  # a broken synthesiser must not leave the reply waiting forever
            log.exception("speech synthesis failed; the reply is a tone")
        self.engine.provide_speech(job.response_id, pcm)
        self.wake.set()

    async def _writer(self) -> None:
        while True:
            event = await self.outgoing.get()
            try:
                await self.ws.send(dump_event(event))
            except ConnectionClosed:
                return
            finally:
                self.outgoing.task_done()

    async def _pump(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while (event := self.engine.next_output()) is not None:
                await self.outgoing.put(event)
                if event["type"].endswith(_DELTA_SUFFIX):
                    await asyncio.sleep(self.server.behaviour.output_delay_s)

    async def _expiry(self) -> None:
        await asyncio.sleep(max(0.0, self.engine.deadline - self.server.clock()))
        await self.expire()

    async def expire(self) -> None:
        """The service's end of a session: the ``session_expired`` error, sent, then close 1001."""
        if self.ending:
            return
        self.ending = True
        await self._put(self.engine.expire())
        await self.outgoing.join()
        code, reason = self.engine.closed or (SESSION_EXPIRED_CLOSE_CODE, "")
        await self.ws.close(code, clip_close_reason(reason))

    async def drop(self, code: int | None, reason: str) -> None:
        """End at once, whatever is queued: no close frame at all (``code`` None) or this close."""
        self.ending = True
        if code is None:
            self.ws.transport.abort()
        else:
            await self.ws.close(code, clip_close_reason(reason))


class LocalModelServer:
    """A protocol-faithful, deterministic realtime server on loopback (not an AI).

    ``api_key``: when set, the handshake needs ``Authorization: Bearer <key>`` or ``api-key: <key>``
    (else HTTP 401). ``behaviour`` switches (also settable at runtime, e.g.
    ``server.reject_session_updates = True``) make it reject, ignore or delay ``session.update``.
    ``sessions`` are the live engines, ``all_sessions`` the latest ``FINISHED_KEPT`` engines this
    server ran, live or finished (``connections_total`` counts every connection); :meth:`drop`
    and :meth:`expire` end the connection of a live one.
    ``speech``: speak replies with espeak-ng when it is installed (else the tone); ``hearing``:
    transcribe committed turns with pocketsphinx when it is importable (else no transcript).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        max_session_s: float = DEFAULT_MAX_SESSION_S,
        behaviour: Behaviour | None = None,
        chat_url: str | None = None,
        chat_model: str = "local",
        clock: Callable[[], float] = time.time,
        speech: bool = True,
        hearing: bool = True,
    ) -> None:
        self.api_key = api_key
        self.max_session_s = max_session_s
        self.behaviour = behaviour or Behaviour()
        self.chat_url = chat_url
        self.chat_model = chat_model
        self.chat_client: httpx.AsyncClient | None = None
        self.clock = clock
        self.speaker = Speaker.detect() if speech else None
        self.listener = Listener.detect() if hearing else None
        self.sessions: list[EngineSession] = []
        self.all_sessions: list[EngineSession] = []
        self.connections_total = 0
        self.host = "127.0.0.1"
        self._server: Server | None = None
        self._session_numbers = itertools.count(1)
        self._connections: dict[EngineSession, _Connection] = {}

    # Runtime switches, forwarded to the shared Behaviour every engine reads.
    @property
    def reject_session_updates(self) -> bool:
        return self.behaviour.reject_session_updates

    @reject_session_updates.setter
    def reject_session_updates(self, value: bool) -> None:
        self.behaviour.reject_session_updates = value

    @property
    def ignore_session_updates(self) -> bool:
        return self.behaviour.ignore_session_updates

    @ignore_session_updates.setter
    def ignore_session_updates(self, value: bool) -> None:
        self.behaviour.ignore_session_updates = value

    @property
    def session_update_delay_s(self) -> float:
        return self.behaviour.session_update_delay_s

    @session_update_delay_s.setter
    def session_update_delay_s(self, value: float) -> None:
        self.behaviour.session_update_delay_s = value

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError('Cannot read "port" before "start()" was awaited.')
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI GA endpoint (add ``?model=...``)."""
        return f"{self.base_url}/v1/realtime"

    def azure_url(self, deployment: str) -> str:
        return f"{self.base_url}/openai/v1/realtime?model={deployment}"

    def azure_preview_url(self, deployment: str, api_version: str = "2025-04-01-preview") -> str:
        return f"{self.base_url}/openai/realtime?api-version={api_version}&deployment={deployment}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._server is not None:
            raise RuntimeError('Cannot call "start()" twice.')
        self.host = host
        if self.chat_url:
            self.chat_client = httpx.AsyncClient(verify=client_tls())
        self._server = await serve(
            self._handle, host, port, process_request=self._process_request, max_size=MAX_FRAME_BYTES
        )
        log.info("local realtime model listening on %s", self.url)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.chat_client is not None:
            await self.chat_client.aclose()
            self.chat_client = None
        if self.listener is not None:
            self.listener.close()

    async def drop(self, index: int = -1, *, code: int | None = None, reason: str = "") -> None:
        """End the connection of ``sessions[index]`` abruptly, as a failing service or network does.

        ``code`` None aborts the TCP connection without a close frame (the client sees 1006);
        otherwise it closes with ``code`` and ``reason`` at once, with no ``session_expired`` first.
        Returns once the connection is gone and its engine has left ``sessions``.
        """
        connection = self._connections[self.sessions[index]]
        await connection.drop(code, reason)
        await connection.finished.wait()

    async def expire(self, index: int = -1) -> None:
        """Expire ``sessions[index]`` now: ``session_expired``, then close 1001, as the timer does.

        Returns once the connection is gone and its engine has left ``sessions``.
        """
        connection = self._connections[self.sessions[index]]
        await connection.in_connection(connection.expire(), "localmodel-expire")
        await connection.finished.wait()

    async def __aenter__(self) -> Self:
        if self._server is None:
            await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _authorised(self, request: Request) -> bool:
        if self.api_key is None:
            return True
        bearer = request.headers.get("Authorization", "")
        given = bearer[7:] if bearer.startswith("Bearer ") else request.headers.get("api-key", "")
        return hmac.compare_digest(given.encode(), self.api_key.encode())

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        route = resolve(request.path, request.headers)
        if isinstance(route, HTTPStatus):
            return connection.respond(route, f"{route.phrase}\n")
        if not self._authorised(request):
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        route = resolve(ws.request.path, ws.request.headers)
        assert isinstance(route, Route)
        self.connections_total += 1
        if route.fatal is not None:  # the service upgrades first, then explains and closes
            await ws.send(dump_event(error_event(route.fatal.code, route.fatal.message)))
            await ws.close(route.fatal.close_code, route.fatal.close_reason)
            return
        engine = EngineSession(
            dialect=route.dialect,
            model=route.model,
            session_id=f"sess_{next(self._session_numbers)}",
            clock=self.clock,
            max_session_s=self.max_session_s,
            behaviour=self.behaviour,
            external_replies=self.chat_client is not None,
            speaks=self.speaker is not None,
            hears=self.listener is not None,
        )
        connection = _Connection(ws, engine, self)
        self.sessions.append(engine)
        self.all_sessions.append(engine)
        del self.all_sessions[:-FINISHED_KEPT]  # a long-running engine must not keep every conversation
        self._connections[engine] = connection
        try:
            await connection.run()
        finally:
            self.sessions.remove(engine)
            del self._connections[engine]
            connection.finished.set()


async def serve_forever(host: str, port: int, **options: Any) -> None:
    """Run a :class:`LocalModelServer` until cancelled (``companion local-model`` uses this)."""
    server = LocalModelServer(**options)
    await server.start(host, port)
    try:
        await asyncio.Future()
    finally:
        await server.close()
