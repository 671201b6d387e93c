"""One live conversation: the elder's client on one side, the realtime model on the other.

The session owns both connections and is the only reader of each. Three pumps run while it lives:
client -> model, model -> client (through a bounded queue, so a slow client slows the model reader
instead of growing memory), and the writer that drains that queue. Instructions belong to the server:
they are built from the care profile, sent with ``session.update`` and confirmed before the client's
first byte is relayed; every refresh is confirmed the same way (the next ``session.updated`` carrying
exactly the text sent, or an ``error`` naming our ``event_id``, or a timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from companion.errors import (
    CompanionError,
    SessionNotActive,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)
from companion.profiles.models import CareContext
from companion.prompt import Instructions
from companion.realtime import protocol
from companion.realtime.greeting import greeting_message
from companion.realtime.relaying import RelayFilter
from companion.realtime.upstream import Connector, UpstreamConnection

log = logging.getLogger(__name__)

CLIENT_QUEUE_SIZE = 256  # ~5 s of 20 ms audio deltas: absorbs jitter, bounds memory per slow client
START_TIMEOUT_S = 10.0  # connect + session.created + first confirmed update
MAX_WAIT_FOR_RESPONSE_S = 30.0  # "after_response" refreshes never wait longer than one long answer
CLOSE_UPSTREAM_GONE = 1011  # server error: the model side is gone
CLOSE_NORMAL = 1000


class Status(StrEnum):
    CONNECTING = "connecting"
    ACTIVE = "active"
    CLOSED = "closed"


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


class ClientChannel(Protocol):
    """The elder's side: text frames in and out. ``receive`` returns None once the client has left."""

    async def receive(self) -> str | None: ...

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(slots=True)
class SessionConfig:
    refresh_timeout_s: float
    after_response: bool
    # audio formats, transcription, VAD, voice: sent once at start, shaped by the instructions' language
    base_session: Callable[[Instructions], dict[str, Any]]


ContextLoader = Callable[[str], Awaitable[CareContext]]
Builder = Callable[[CareContext], Instructions]
ToolsFor = Callable[[CareContext], list[dict[str, Any]]]
RefreshObserver = Callable[["LiveSession", RefreshRecord], None]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a refresh applies: the context read from the store, and what was built from it."""

    context: CareContext
    built: Instructions
    tools: list[dict[str, Any]]


Preparer = Callable[[], Awaitable[Prepared]]
UserPreparer = Callable[[str], Awaitable[Prepared]]  # reads a person's context and builds from it


class _Confirmation:
    """What a sent ``session.update`` is waiting for."""

    def __init__(self, event_id: str, instructions: str) -> None:
        self.event_id = event_id
        self.instructions = instructions
        self.future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()


class LiveSession:
    def __init__(
        self,
        *,
        user_id: str,
        client: ClientChannel,
        connector: Connector,
        prepare: UserPreparer,
        relay: RelayFilter,
        config: SessionConfig,
        on_refresh: RefreshObserver | None = None,
        greet: bool = False,
        device_id: str | None = None,
    ) -> None:
        self.id = "sess-" + uuid.uuid4().hex[:16]
        self.device_id = device_id  # the paired tablet it was opened from, so revoking it can end it
        self.greet = greet  # speak first once started (the elder's page asks for it)
        self.user_id = user_id
        self.status = Status.CONNECTING
        self.started_at = datetime.now(UTC)
        self.closed_at: datetime | None = None
        self.turn_count = 0
        self.token_usage = 0
        self.instructions: Instructions | None = None
        self.previous_instructions: Instructions | None = None
        self.instructions_updated_at: datetime | None = None
        self.last_refresh: RefreshRecord | None = None
        self.context: CareContext | None = None
        self._client = client
        self._connector = connector
        self._prepare_user = prepare
        self._relay = relay
        self._config = config
        self._on_refresh = on_refresh
        self._upstream: UpstreamConnection | None = None
        self._tools_sent: list[dict[str, Any]] | None = None
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=CLIENT_QUEUE_SIZE)
        self._send_lock = asyncio.Lock()
        self._refresh_lock = asyncio.Lock()
        self._pending_refresh: asyncio.Task[RefreshRecord] | None = None
        self._pending_prepare: Preparer | None = None
        self._confirmation: _Confirmation | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = asyncio.Event()
        self._close_with = (CLOSE_NORMAL, "session closed")
        relay.attach(self)

    # ---- what the REST API shows -------------------------------------------------------------------

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "userId": self.user_id,
            "status": self.status.value,
            "startedAt": self.started_at.isoformat(),
            "closedAt": self.closed_at.isoformat() if self.closed_at else None,
            "turnCount": self.turn_count,
            "tokenUsage": self.token_usage,
            "instructionsVersion": self.instructions.version if self.instructions else None,
            "instructionsUpdatedAt": self.instructions_updated_at.isoformat()
            if self.instructions_updated_at
            else None,
            "lastRefresh": self.last_refresh.as_json() if self.last_refresh else None,
            "responseActive": not self._idle.is_set(),
        }

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start, relay until either side leaves, then close both. Never raises for a normal ending."""
        if self.status is Status.CLOSED:
            return  # closed before it started (its device was revoked): open no model connection
        await self._start_and_pump()

    async def _start_and_pump(self) -> None:
        try:
            try:
                await asyncio.wait_for(self._start(), START_TIMEOUT_S)
            except (CompanionError, TimeoutError) as exc:
                message = (
                    exc.message if isinstance(exc, CompanionError) else "the realtime model did not start"
                )
                log.warning("session %s for user %s could not start: %s", self.id, self.user_id, message)
                await self._client.send(
                    protocol.dump_event(protocol.error_event("upstream_unavailable", message))
                )
                await self._client.close(CLOSE_UPSTREAM_GONE, "realtime model unavailable")
                return
            if self.status is Status.CLOSED:  # closed while starting: it must not turn ACTIVE again
                if self._upstream is not None:  # the model connection may have opened after close()
                    with contextlib.suppress(Exception):
                        await self._upstream.close()
                return
            self.status = Status.ACTIVE
            await self._pump()
        finally:
            await self._shutdown()

    async def _start(self) -> None:
        self._upstream = await self._connector.connect()
        created = await self._next_upstream_event()
        if created.get("type") != "session.created":
            raise UpstreamError(f"Expected session.created from the model, got {created.get('type')}")
        self.spawn(self._read_upstream())
        async with self._refresh_lock:
            prepared = await self._prepare()
            built = prepared.built
            session = {
                **self._config.base_session(built),
                "type": "realtime",
                "instructions": built.text,
                "tools": prepared.tools,
            }
            effective = await self._update_and_confirm(session, built.text)
            self.context = prepared.context
            self._tools_sent = prepared.tools
            self._set_instructions(built)
        await self._client.send(
            protocol.dump_event(self._relay.client_session_event("session.created", effective))
        )
        if self.greet:
            await self._greet(prepared.context)

    async def _greet(self, context: CareContext) -> None:
        """Ask the model to speak first, with the person's local time to greet by."""
        item = greeting_message(context, datetime.now(UTC))
        await self.send_upstream(protocol.conversation_item_create(item, event_id=protocol.new_event_id()))
        await self.send_upstream(protocol.response_create(protocol.new_event_id()))

    async def _next_upstream_event(self) -> dict[str, Any]:
        assert self._upstream is not None
        while True:
            events = await self._upstream.recv()
            if events:
                # session.created never comes in pieces, so the rest (if any) is nothing we need here
                return events[0]

    async def _pump(self) -> None:
        reader = self.spawn(self._read_client())
        writer = self.spawn(self._write_client())
        await asyncio.wait(
            {reader, writer, self.spawn(self._closed.wait())}, return_when=asyncio.FIRST_COMPLETED
        )

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "session closed") -> None:
        """Close both sides (the model first: no paid session is left open)."""
        if self.status is Status.CLOSED:
            return
        self.status = Status.CLOSED
        self.closed_at = datetime.now(UTC)
        if self._upstream is not None:
            with contextlib.suppress(Exception):
                await self._upstream.close()
        with contextlib.suppress(Exception):
            await self._client.close(code, reason)
        self._closed.set()

    async def _shutdown(self) -> None:
        await self.close(*self._close_with)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        await asyncio.gather(*(t for t in self._tasks if t is not current), return_exceptions=True)
        if self._confirmation and not self._confirmation.future.done():
            self._confirmation.future.set_exception(SessionNotActive(f"Session {self.id} closed"))

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- pumps -------------------------------------------------------------------------------------

    async def _read_client(self) -> None:
        while True:
            text = await self._client.receive()
            if text is None:
                return
            for event, frame in await self._relay.from_client(text):
                await self.send_upstream(event, frame=frame)

    async def _write_client(self) -> None:
        while True:
            text = await self._outbox.get()
            if text is None:
                return
            await self._client.send(text)

    async def _read_upstream(self) -> None:
        assert self._upstream is not None
        try:
            while True:
                await self._on_upstream_events(await self._upstream.recv())
        except UpstreamError:
            code, reason = self._upstream.close_info
            if self.status is not Status.CLOSED:
                log.info("upstream of session %s closed (%s %s)", self.id, code, reason)
                message = f"The realtime model ended the conversation ({code or 'no code'} {reason})".strip()
                await self.to_client(
                    protocol.error_event("upstream_disconnected", message, type="server_error")
                )
                # The writer sends what is queued, then stops; the session then closes with this code.
                self._close_with = (CLOSE_UPSTREAM_GONE, "realtime model disconnected")
                await self._outbox.put(None)
            pending = self._confirmation
            if pending is not None and not pending.future.done():
                pending.future.set_exception(UpstreamError("The realtime model closed the connection"))

    async def _on_upstream_events(self, events: list[dict[str, Any]]) -> None:
        """In a frame of its own, so that a quiet session does not hold on to the last event while it
        waits for the next: after the start that is a ``session.updated`` with the whole session
        config, instructions and tools included (~24 KB of an idle session's ~160 KB)."""
        for event in events:
            await self._on_upstream_event(event)

    async def _on_upstream_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        pending = self._confirmation
        if pending is not None and _confirms(event, pending):
            if not pending.future.done():
                pending.future.set_result(event.get("session", {}))
            return
        if pending is not None and _refuses(event, pending):
            if not pending.future.done():
                pending.future.set_exception(UpstreamRejected(_error_message(event)))
            return
        if kind == "response.created":
            self._idle.clear()
        elif kind == "response.done":
            self._on_response_done(event)
        for out in self._relay.from_upstream(event):
            await self.to_client(out)

    def _on_response_done(self, event: dict[str, Any]) -> None:
        response = event.get("response") or {}
        usage = response.get("usage") or {}
        total = usage.get("total_tokens")
        if isinstance(total, int):
            self.token_usage += total
            self._relay.count_tokens(total)
        self.turn_count += 1
        self._idle.set()

    async def to_client(self, event: dict[str, Any]) -> None:
        if self.status is Status.CLOSED:
            return
        await self._outbox.put(protocol.dump_event(event))

    async def send_upstream(self, event: dict[str, Any], *, frame: str | None = None) -> None:
        """``frame``: the client's text of exactly this event, sent as it is where the dialect allows."""
        if self._upstream is None or self.status is Status.CLOSED:
            raise SessionNotActive(f"Session {self.id} has no active WebSocket connection")
        async with self._send_lock:
            await self._upstream.send(event, frame=frame)

    async def wait_idle(self) -> None:
        await self._idle.wait()

    @property
    def response_active(self) -> bool:
        return not self._idle.is_set()

    # ---- refresh -----------------------------------------------------------------------------------

    async def refresh(self, prepare: Preparer | None = None) -> RefreshRecord:
        """Rebuild from the store and apply, confirmed. Calls that arrive while one waits share it.

        A session still starting is refreshed right after its start (which holds the lock): a save
        made between the start's read of the profile and its confirmation is not lost.

        ``prepare`` lets the sessions of one person refreshed together share one read of the store
        and one build (the manager passes it). A waiting refresh that a later caller joins drops it
        and reads for itself: that caller may announce a change newer than the shared read.
        """
        if self.status is Status.CLOSED:
            raise SessionNotActive(f"Session {self.id} has no active WebSocket connection")
        pending = self._pending_refresh
        if pending is None or pending.done():
            self._pending_prepare = prepare
            pending = self.spawn(self._refresh_when_free())
            self._pending_refresh = pending
        else:
            self._pending_prepare = None
        return await asyncio.shield(pending)

    async def _refresh_when_free(self) -> RefreshRecord:
        async with self._refresh_lock:
            # From here on, a new caller must start another refresh: this one may have loaded too early.
            self._pending_refresh = None
            prepare, self._pending_prepare = self._pending_prepare, None
            if self.instructions is None or self.status is Status.CLOSED:
                raise SessionNotActive(f"Session {self.id} has no active WebSocket connection")
            return await self._refresh_now(prepare or self._prepare)

    async def _prepare(self) -> Prepared:
        return await self._prepare_user(self.user_id)

    async def _refresh_now(self, prepare: Preparer) -> RefreshRecord:
        started = time.perf_counter()
        prepared = await prepare()
        self.context = prepared.context
        built = prepared.built
        if self.instructions is not None and built.version == self.instructions.version:
            return self._record(RefreshResult.UNCHANGED, started, built.version)
        session: dict[str, Any] = {"type": "realtime", "instructions": built.text}
        tools = prepared.tools
        if tools != self._tools_sent:
            session["tools"] = tools
        if self._config.after_response and self.response_active:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), MAX_WAIT_FOR_RESPONSE_S)
        try:
            await self._update_and_confirm(session, built.text)
        except UpstreamRejected as exc:
            self._record(RefreshResult.REJECTED, started, built.version, exc.message)
            raise
        except UpstreamTimeout as exc:
            self._record(RefreshResult.TIMEOUT, started, built.version, exc.message)
            raise
        except CompanionError as exc:
            self._record(RefreshResult.FAILED, started, built.version, exc.message)
            raise
        if "tools" in session:
            self._tools_sent = tools
        self._set_instructions(built)
        return self._record(RefreshResult.REFRESHED, started, built.version)

    async def _update_and_confirm(self, session: dict[str, Any], instructions: str) -> dict[str, Any]:
        """Send one ``session.update`` and wait for the model to accept or refuse exactly it."""
        event_id = protocol.new_event_id("evt_refresh")
        confirmation = _Confirmation(event_id, instructions)
        self._confirmation = confirmation
        try:
            await self.send_upstream(protocol.session_update(event_id, session))
            try:
                return await asyncio.wait_for(confirmation.future, self._config.refresh_timeout_s)
            except TimeoutError:
                raise UpstreamTimeout(
                    f"The realtime model did not confirm the new instructions within "
                    f"{self._config.refresh_timeout_s:g} s"
                ) from None
        finally:
            self._confirmation = None

    def _set_instructions(self, built: Instructions) -> None:
        self.previous_instructions = self.instructions
        self.instructions = built
        self.instructions_updated_at = datetime.now(UTC)

    def _record(
        self, result: RefreshResult, started: float, version: str, message: str = ""
    ) -> RefreshRecord:
        record = RefreshRecord(
            result, datetime.now(UTC), (time.perf_counter() - started) * 1000, version, message
        )
        self.last_refresh = record
        if self._on_refresh is not None:
            self._on_refresh(self, record)
        return record


def _confirms(event: dict[str, Any], pending: _Confirmation) -> bool:
    """``session.updated`` does not echo our event_id, so the echoed instructions must match exactly."""
    session = event.get("session")
    return (
        event.get("type") == "session.updated"
        and isinstance(session, dict)
        and session.get("instructions") == pending.instructions
    )


def _refuses(event: dict[str, Any], pending: _Confirmation) -> bool:
    error = event.get("error")
    return (
        event.get("type") == "error" and isinstance(error, dict) and error.get("event_id") == pending.event_id
    )


def _error_message(event: dict[str, Any]) -> str:
    error = event.get("error") or {}
    code = error.get("code") or error.get("type") or "error"
    return f"The realtime model rejected the update ({code}): {error.get('message') or 'no message'}"
