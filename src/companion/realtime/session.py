"""One live conversation: the elder's client on one side, a replaceable model connection on the other.

The session carries out what the pure parts decide: :class:`~companion.realtime.policy.RelayPolicy`
(what each event becomes), :class:`~companion.realtime.mirror.ConversationMirror` (what was said, for a
new model session) and :mod:`~companion.realtime.reconnect` (when to rotate, how long to retry). Its
state machine::

    starting ──> active <──> reconnecting
        │           │             │
        └───────────┴─────────────┴──> closing ──> closed

Instructions belong to the server: built from the care profile, sent with ``session.update`` and
confirmed (the next ``session.updated`` carrying exactly the text sent, or an ``error`` naming our
``event_id``, or a timeout) before the client's first byte is relayed, on every refresh, and on every
new model connection. Every task is supervised: an unexpected exception is logged with the session id
and ends in a reconnection (the model's reader) or a close with 1011 (anything else), never a session
that looks alive and relays nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from companion.errors import (
    CompanionError,
    SessionNotActive,
    UpstreamError,
    UpstreamLost,
    UpstreamRejected,
    UpstreamTimeout,
)
from companion.profiles.models import CareContext
from companion.prompt import Instructions
from companion.realtime import protocol
from companion.realtime.endings import ClientErrorCode, Ending
from companion.realtime.greeting import greeting_message
from companion.realtime.links import ClientLink, Settled, UpstreamLink
from companion.realtime.metrics import Metrics
from companion.realtime.mirror import ConversationMirror
from companion.realtime.policy import (
    AnswerTool,
    Decision,
    ModelExpired,
    RelayPolicy,
    RunTool,
    SendAnswers,
    ToClient,
    ToModel,
    ToolOutcome,
    merge,
)
from companion.realtime.reconnect import (
    ConnectReason,
    HeldEvents,
    retry_delay_s,
    rotate_after_s,
    worth_retrying,
)
from companion.realtime.tools import ToolCall, ToolRuntime
from companion.realtime.upstream import Connector

log = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 10.0  # one attempt: connect + session.created + first confirmed update
MAX_WAIT_FOR_RESPONSE_S: Final = 30.0  # "after_response" refreshes never wait longer than one long answer
FLUSH_TIMEOUT_S: Final = 2.0  # at the end, the client gets what is queued (an explaining error) this long
ROTATION_RETRY_S: Final = 30.0  # a rotation that could not open a new model session tries again after this
QUIET_POLL_S: Final = 0.1  # how often a due rotation looks for a quiet moment
MAX_READER_FAILURES: Final = 3  # a reader that keeps failing on the same conversation is a bug: close


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


@dataclass(slots=True)
class _Answer:
    """A tool call the relay answers, on the model connection that asked."""

    call: ToolCall
    output: asyncio.Future[dict[str, Any]]
    link: UpstreamLink


class LiveSession:
    def __init__(
        self,
        *,
        user_id: str,
        client: ClientChannel,
        connector: Connector,
        prepare: UserPreparer,
        tools: ToolRuntime,
        config: SessionConfig,
        metrics: Metrics | None = None,
        on_refresh: RefreshObserver | None = None,
        greet: bool = False,
        device_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = "sess-" + uuid.uuid4().hex[:16]
        self.device_id = device_id  # the paired tablet it was opened from, so revoking it can end it
        self.greet = greet  # speak first once started (the elder's page asks for it)
        self.user_id = user_id
        self.status = Status.STARTING
        self.started_at = datetime.now(UTC)
        self.closed_at: datetime | None = None
        self.turn_count = 0
        self.token_usage = 0
        self.instructions: Instructions | None = None
        self.previous_instructions: Instructions | None = None
        self.instructions_updated_at: datetime | None = None
        self.last_refresh: RefreshRecord | None = None
        self.context: CareContext | None = None
        self.connections: list[ConnectionRecord] = []
        self.link: UpstreamLink | None = None
        self.policy = RelayPolicy()
        self.mirror = ConversationMirror()
        self.held = HeldEvents()
        self._client = ClientLink(client, self._client_too_slow)
        self._connector = connector
        self._prepare_user = prepare
        self._tools = tools
        self._config = config
        self._metrics = metrics
        self._on_refresh = on_refresh
        self._clock = clock
        self._prepared: Prepared | None = None
        self._tools_sent: list[dict[str, Any]] | None = None
        self._refresh_lock = asyncio.Lock()  # one session.update at a time, and none during a switch
        self._pending_refresh: asyncio.Task[RefreshRecord] | None = None
        self._pending_prepare: Preparer | None = None
        self._answers: list[_Answer] = []  # calls of the current response the relay answers
        self._answering = 0  # answer tasks in flight (a rotation waits for them)
        self._reader_failures = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._active = asyncio.Event()
        self._closed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

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
            "upstream": {
                "connections": len(self.connections),
                "history": [c.as_json() for c in self.connections],
                "heldAudioDropped": self.held.audio_dropped,
                "clientAudioDropped": self._client.audio_dropped,
            },
        }

    # ---- lifecycle ---------------------------------------------------------------------------------

    def _set_status(self, status: Status) -> None:
        if status is self.status:
            return
        if status not in TRANSITIONS[self.status]:
            raise RuntimeError(f'Cannot move session from "{self.status}" to "{status}".')
        self.status = status
        if status is Status.ACTIVE:
            self._active.set()
        else:
            self._active.clear()

    async def run(self) -> None:
        """Start, relay until the client leaves or the session is closed. Never raises for an ending."""
        if self.status in ENDED:
            return  # closed before it started (its device was revoked): open no model connection
        writer = self.spawn(self._client.write(), "client-writer")
        try:
            if not await self._start():
                return
            reader = self.spawn(self._read_client(), "client-reader")
            closed = self.spawn(self._closed.wait(), "closed")
            await asyncio.wait({reader, writer, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self.close()
            await self._cancel_tasks()

    async def _start(self) -> bool:
        async with self._refresh_lock:
            try:
                link, effective = await self._connect(ConnectReason.START, retry=True)
            except (CompanionError, TimeoutError) as exc:
                message = (
                    exc.message if isinstance(exc, CompanionError) else "the realtime model did not start"
                )
                log.warning("session %s for user %s could not start: %s", self.id, self.user_id, message)
                await self._end(Ending.UPSTREAM_UNAVAILABLE, message)
                return False
            if self.status is not Status.STARTING:  # closed while starting: it must not turn active
                await link.close()
                return False
            self._install(link, started=None)
        self._client.offer(self.policy.client_session_event("session.created", effective))
        self._set_status(Status.ACTIVE)
        if self.greet and self.context is not None:
            await self._greet(self.context)
        return True

    async def _greet(self, context: CareContext) -> None:
        """Ask the model to speak first, with the person's local time to greet by."""
        item = greeting_message(context, datetime.now(UTC))
        with contextlib.suppress(UpstreamLost):
            await self.send_upstream(
                protocol.conversation_item_create(item, event_id=protocol.new_event_id())
            )
            await self.send_upstream(protocol.response_create(protocol.new_event_id()))

    async def close(self, ending: Ending = Ending.NORMAL, reason: str | None = None) -> None:
        """Close both sides (the model first: no paid session is left open)."""
        if self.status in ENDED:
            return
        self._set_status(Status.CLOSING)
        self.closed_at = datetime.now(UTC)
        if self.link is not None:
            await self.link.close()
            self.link.fail_pending(SessionNotActive(f"Session {self.id} closed"))
        await self._client.finish(FLUSH_TIMEOUT_S)
        await self._client.close(*ending.close(reason).clipped())
        self._set_status(Status.CLOSED)
        self._closed.set()

    async def _end(self, ending: Ending, message: str) -> None:
        """Tell the client why (when the ending has a code for it), then close."""
        if ending.error_code is not None:
            self._client.offer(protocol.error_event(ending.error_code, message, type="server_error"))
        await self.close(ending)

    async def _cancel_tasks(self) -> None:
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def spawn(
        self, coro: Coroutine[Any, Any, Any], name: str = "task", *, awaited: bool = False
    ) -> asyncio.Task[Any]:
        """Start a task the session owns: cancelled at the end, and any unexpected failure handled.

        ``awaited``: a caller awaits the task and takes its errors (a refresh answers its caller).
        """
        task = asyncio.create_task(coro, name=f"{self.id}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard if awaited else self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        log.error("session %s: task %s failed", self.id, task.get_name(), exc_info=exc)
        if self.status not in ENDED:
            message = "The relay failed; please reconnect"
            self._tasks.add(asyncio.create_task(self._end(Ending.INTERNAL, message), name=f"{self.id}:end"))

    def _client_too_slow(self) -> None:
        log.warning("session %s: client too slow to keep up, closing", self.id)
        if self.status not in ENDED:
            self.spawn(self.close(Ending.CLIENT_TOO_SLOW), "close-slow")

    # ---- model connections -------------------------------------------------------------------------

    async def _connect(self, reason: ConnectReason, *, retry: bool) -> tuple[UpstreamLink, dict[str, Any]]:
        """Open a model connection with the current instructions, tools and client settings applied.

        The caller holds the refresh lock. With ``retry``, failures are retried with backoff and
        jitter until ``reconnect_s`` has passed.
        """
        deadline = self._clock() + self._config.reconnect_s
        attempt = 0
        while True:
            try:
                return await asyncio.wait_for(self._open(reason), START_TIMEOUT_S)
            except (CompanionError, TimeoutError) as exc:
                delay = retry_delay_s(attempt + 1, random.random())  # jitter, not secrecy
                if not retry or not worth_retrying(exc) or self._clock() + delay > deadline:
                    raise
                if self.status in ENDED:
                    raise SessionNotActive(f"Session {self.id} closed") from exc
                log.info("session %s: model connection attempt %d failed, retrying", self.id, attempt + 1)
                await asyncio.sleep(delay)
                attempt += 1

    async def _open(self, reason: ConnectReason) -> tuple[UpstreamLink, dict[str, Any]]:
        conn = await self._connector.connect()
        link = UpstreamLink(conn, number=len(self.connections) + 1, reason=reason, clock=self._clock)
        try:
            created = await link.first_event()
            if created.get("type") != "session.created":
                raise UpstreamError(f"Expected session.created from the model, got {created.get('type')}")
            self._plan_rotation(link, created)
            self.spawn(self._read_model(link), f"model-reader-{link.number}")
            prepared = await self._prepare_or_last()
            built = prepared.built
            session = merge(self._config.base_session(built), self.policy.client_session)
            session.update(type="realtime", instructions=built.text, tools=prepared.tools)
            effective = await self._update_and_confirm(link, session, prepared)
        except BaseException:
            await link.close()
            raise
        self._adopt(prepared)
        return link, effective

    def _plan_rotation(self, link: UpstreamLink, created: dict[str, Any]) -> None:
        session = created.get("session")
        expires_at = session.get("expires_at") if isinstance(session, dict) else None
        expires_in = float(expires_at) - time.time() if isinstance(expires_at, int | float) else None
        link.rotate_after_s = rotate_after_s(self._config.max_session_s, expires_in_s=expires_in)
        link.max_age_s = expires_in or self._config.max_session_s

    def _install(self, link: UpstreamLink, *, started: float | None) -> None:
        """Make ``link`` the session's model connection (the caller replays history and flushes)."""
        old, self.link = self.link, link
        if old is not None:
            old.retired = True
            self.spawn(old.close(), f"model-close-{old.number}")
        resume_ms = None if started is None else (self._clock() - started) * 1000
        self.connections.append(ConnectionRecord(link.number, link.reason, datetime.now(UTC), resume_ms))
        if self._metrics is not None:
            self._metrics.upstream_connections.labels(reason=link.reason.value).inc()
            if resume_ms is not None:
                self._metrics.resume_seconds.labels(reason=link.reason.value).observe(resume_ms / 1000)
        self.spawn(self._rotate_when_due(link), f"rotation-{link.number}")

    async def _switch(self, reason: ConnectReason, replacing: UpstreamLink, started: float) -> None:
        """Replace ``replacing`` with a new model connection; the client's events wait meanwhile."""
        async with self._refresh_lock:
            if self.link is not replacing or self.status in ENDED:
                return  # replaced already (a loss during a rotation), or closing
            self._set_status(Status.RECONNECTING)
            rotation = reason is ConnectReason.ROTATION
            try:
                link, _ = await self._connect(reason, retry=not rotation)
            except (CompanionError, TimeoutError) as exc:
                if self.status in ENDED:
                    return
                if rotation and not replacing.retired:
                    log.info("session %s: rotation failed, staying on the current model session", self.id)
                    await self._resume(replacing)
                    self.spawn(self._retry_rotation(replacing), "rotation-retry")
                    return
                message = exc.message if isinstance(exc, CompanionError) else "no answer from the model"
                log.warning("session %s: could not replace the model connection: %s", self.id, message)
                self._tasks.add(asyncio.create_task(self._end(Ending.UPSTREAM_LOST, message)))
                return
            if self.status in ENDED:
                await link.close()
                return
            self._install(link, started=started)
            self.mirror.new_link()
            for item in self.mirror.replay():
                await link.send(protocol.conversation_item_create(item, event_id=protocol.new_event_id()))
            await self._resume(link)
        log.info(
            "session %s: model connection %d (%s) in %.0f ms",
            self.id,
            link.number,
            reason.value,
            (self._clock() - started) * 1000,
        )

    async def _resume(self, link: UpstreamLink) -> None:
        """Send what the client said during the switch, then relay again."""
        for held in self.held.release(self._clock()):
            await link.send(dict(held.event), frame=held.frame)
        if self._metrics is not None:
            self._metrics.held_audio_dropped.set(self.held.audio_dropped)
        self._set_status(Status.ACTIVE)

    async def _retry_rotation(self, link: UpstreamLink) -> None:
        await asyncio.sleep(ROTATION_RETRY_S)
        await self._rotate_when_quiet(link)

    async def _rotate_when_due(self, link: UpstreamLink) -> None:
        if link.rotate_after_s is None:
            return
        await asyncio.sleep(max(0.0, link.opened_at + link.rotate_after_s - self._clock()))
        await self._rotate_when_quiet(link)

    async def _rotate_when_quiet(self, link: UpstreamLink) -> None:
        """At the next quiet moment, move to a new model session before this one hits its cap."""
        while self.link is link and not link.retired and self.status not in ENDED:
            if self.status is Status.ACTIVE and self._answering == 0 and self.mirror.quiet(self._clock()):
                await self._switch(ConnectReason.ROTATION, link, self._clock())
                return
            await asyncio.sleep(QUIET_POLL_S)

    def _lost(self, link: UpstreamLink, reason: ConnectReason) -> None:
        """The current model connection is gone: hold the client, end its answer, reconnect."""
        if link is not self.link or link.retired or self.status in ENDED:
            return
        link.retired = True
        log.info(
            "session %s: model connection %d ended (%s, close %s)",
            self.id,
            link.number,
            reason.value,
            link.conn.close_info[0],
        )
        cut = self.mirror.cut_response()
        if cut is not None:
            self._client.offer(cut)
        self._idle.set()
        if self.status is Status.ACTIVE:
            self._set_status(Status.RECONNECTING)
        self.spawn(self._switch(reason, link, self._clock()), "reconnect")

    async def _read_model(self, link: UpstreamLink) -> None:
        """The one reader of a model connection. Never blocks on the client; its end is handled."""
        reason = ConnectReason.DROPPED
        try:
            while not link.retired:
                for event in await link.conn.recv():
                    self._on_model_event(link, event)
        except UpstreamError:
            code = link.conn.close_info[0]
            reason = ConnectReason.EXPIRED if link.expired or code == 1001 else ConnectReason.DROPPED
        except Exception:
            log.exception("session %s: reading model connection %d failed", self.id, link.number)
            reason = ConnectReason.ERROR
            self._reader_failures += 1
        finally:
            link.fail_pending(UpstreamLost("The realtime model connection ended"))
        if link.expired:
            reason = ConnectReason.EXPIRED
        if self._reader_failures > MAX_READER_FAILURES and self.status not in ENDED:
            await self._end(Ending.INTERNAL, "The relay failed repeatedly; please reconnect")
            return
        self._lost(link, reason)

    # ---- events ------------------------------------------------------------------------------------

    def _on_model_event(self, link: UpstreamLink, event: dict[str, Any]) -> None:
        """Control first (our update's confirmation), then the conversation, then the client."""
        settled = link.settle(event)
        if settled is not None:
            self._on_settled(settled)
            return
        link.note_items(event)
        if link is not self.link:
            if event.get("type") == "error":
                log.warning(
                    "session %s: model connection %d (not yet in use) sent an error", self.id, link.number
                )
            return
        self.mirror.observe(event, self._clock())
        kind = event.get("type")
        if kind == "response.created":
            self._idle.clear()
        elif kind == "response.done":
            self._count_response(event)
        music = self.context.music if self.context else None
        for decision in self.policy.from_model(event, music=music, age_fraction=link.age_fraction()):
            self._carry_out(link, decision)

    def _carry_out(self, link: UpstreamLink, decision: Decision) -> None:
        match decision:
            case ToClient(event):
                self._client.offer(event)
            case RunTool(call):
                output = self.spawn(self._run_tool(call), f"tool-{call.name}", awaited=True)
                self._answers.append(_Answer(call, output, link))
            case AnswerTool(call, output):
                done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                done.set_result(output)
                self._answers.append(_Answer(call, done, link))
            case SendAnswers():
                answers, self._answers = self._answers, []
                self._answering += 1
                self.spawn(self._send_answers(answers), "answers")
            case ModelExpired(reason):
                link.expired = True
                log.info("session %s: the model ended its session (%s)", self.id, reason)
                self._lost(link, ConnectReason.EXPIRED)
            case ToolOutcome(tool, outcome, detail):
                if self._metrics is not None:
                    self._metrics.tool_calls.labels(tool=tool, outcome=outcome).inc()
                if outcome == "refused":
                    log.info("session %s: %s refused (%s)", self.id, tool, detail)
            case ToModel():
                raise RuntimeError("The model's events never go back to the model")

    def _count_response(self, event: dict[str, Any]) -> None:
        response = event.get("response") or {}
        usage = response.get("usage") or {}
        total = usage.get("total_tokens")
        if isinstance(total, int):
            self.token_usage += total
            if self._metrics is not None:
                self._metrics.tokens.inc(total)
        self.turn_count += 1
        self._idle.set()

    def _on_settled(self, settled: Settled) -> None:
        if not settled.late or not settled.confirmation.future.done():
            return
        if settled.confirmation.future.exception() is not None:
            return
        prepared = settled.confirmation.payload
        assert isinstance(prepared, Prepared)
        self._adopt(prepared)
        log.info("session %s: the model confirmed version %s late", self.id, prepared.built.version)
        self._record(RefreshResult.REFRESHED, self._clock(), prepared.built.version, "confirmed late")

    async def _run_tool(self, call: ToolCall) -> dict[str, Any]:
        try:
            return await self._tools.run(call, user_id=self.user_id, session_id=self.id)
        except Exception:
            log.exception("session %s: tool %s failed", self.id, call.name)
            return {
                "ok": False,
                "error": "tool_failed",
                "message": "The tool failed; say you could not do it.",
            }

    async def _send_answers(self, answers: list[_Answer]) -> None:
        """Give the model every output of the last response, then let it speak again."""
        try:
            outputs = [(a, await a.output) for a in answers]
            await self._idle.wait()
            if any(a.link is not self.link for a in answers):
                log.info("session %s: tool answers dropped, the model connection changed", self.id)
                return
            for answer, output in outputs:
                await self.send_upstream(
                    protocol.function_call_output(answer.call.call_id, protocol.dump_event(output))
                )
            await self.send_upstream(protocol.response_create())
        except (UpstreamLost, SessionNotActive):
            log.info("session %s: tool answers not sent, the model connection ended", self.id)
        finally:
            self._answering -= 1

    async def _read_client(self) -> None:
        while True:
            text = await self._client.receive()
            if text is None:
                return
            items = self.link.items if self.link is not None else ()
            for decision in self.policy.from_client(text, items_on_link=items):
                if isinstance(decision, ToModel):
                    await self._to_model(decision)
                elif isinstance(decision, ToClient):
                    self._client.offer(decision.event)

    async def _to_model(self, decision: ToModel) -> None:
        link = self.link
        if self.status is Status.ACTIVE and link is not None:
            try:
                await link.send(decision.event, frame=decision.frame)
                return
            except UpstreamLost:
                self._lost(link, ConnectReason.DROPPED)
        if self.status in ENDED:
            return
        if not self.held.hold(decision.event, decision.frame, self._clock()):
            self._client.offer(
                protocol.error_event(
                    ClientErrorCode.BUSY_RECONNECTING,
                    "The conversation is reconnecting; this event was not kept",
                    event_id=decision.event.get("event_id"),
                )
            )

    def to_client(self, event: dict[str, Any]) -> None:
        self._client.offer(event)

    async def send_upstream(self, event: dict[str, Any]) -> None:
        link = self.link
        if link is None or self.status in ENDED:
            raise SessionNotActive(f"Session {self.id} has no active WebSocket connection")
        await link.send(event)

    async def wait_idle(self) -> None:
        await self._idle.wait()

    @property
    def response_active(self) -> bool:
        return not self._idle.is_set()

    # ---- refresh -----------------------------------------------------------------------------------

    async def refresh(self, prepare: Preparer | None = None) -> RefreshRecord:
        """Rebuild from the store and apply, confirmed. Calls that arrive while one waits share it.

        A session still starting, or replacing its model connection, is refreshed right after (the
        switch holds the lock), so a save made meanwhile is applied to the new model session, in order.

        ``prepare`` lets the sessions of one person refreshed together share one read of the store
        and one build (the manager passes it). A waiting refresh that a later caller joins drops it
        and reads for itself: that caller may announce a change newer than the shared read.
        """
        if self.status in ENDED:
            raise SessionNotActive(f"Session {self.id} has no active WebSocket connection")
        pending = self._pending_refresh
        if pending is None or pending.done():
            self._pending_prepare = prepare
            baseline = self.instructions.version if self.instructions else None
            pending = self.spawn(self._refresh_when_free(baseline), "refresh", awaited=True)
            self._pending_refresh = pending
        else:
            self._pending_prepare = None
        return await asyncio.shield(pending)

    async def _refresh_when_free(self, baseline: str | None) -> RefreshRecord:
        started = self._clock()
        first = True
        while True:
            async with self._refresh_lock:
                prepare: Preparer | None = None
                if first:  # from here on, a new caller must start another refresh: this one may read early
                    self._pending_refresh = None
                    prepare, self._pending_prepare = self._pending_prepare, None
                if self.instructions is None or self.status in ENDED:
                    raise SessionNotActive(f"Session {self.id} has no active WebSocket connection")
                try:
                    return await self._refresh_now(prepare or self._prepare, started, baseline)
                except UpstreamLost:
                    pass  # the connection ended under it: the new one gets the latest, and so does this
            first = False
            await self._wait_active()

    async def _wait_active(self) -> None:
        closed = asyncio.ensure_future(self._closed.wait())
        active = asyncio.ensure_future(self._active.wait())
        try:
            await asyncio.wait({closed, active}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            active.cancel()
        if self.status in ENDED:
            raise SessionNotActive(f"Session {self.id} closed while reconnecting to the model")

    async def _prepare(self) -> Prepared:
        return await self._prepare_user(self.user_id)

    async def _prepare_or_last(self) -> Prepared:
        """Fresh from the store; a new model connection falls back to what it last applied."""
        try:
            return await self._prepare()
        except CompanionError:
            if self._prepared is None:
                raise
            log.warning("session %s: profile unavailable, reusing the last instructions", self.id)
            return self._prepared

    async def _refresh_now(self, prepare: Preparer, started: float, baseline: str | None) -> RefreshRecord:
        prepared = await prepare()
        self.context = prepared.context
        built = prepared.built
        if self.instructions is not None and built.version == self.instructions.version:
            # Applied already: by this refresh before a loss, or by the new model session it waited for.
            applied = baseline is not None and baseline != built.version
            result = RefreshResult.REFRESHED if applied else RefreshResult.UNCHANGED
            return self._record(result, started, built.version)
        link = self.link
        if link is None or link.retired:
            raise UpstreamLost("The realtime model connection is being replaced")
        session: dict[str, Any] = {"type": "realtime", "instructions": built.text}
        if prepared.tools != self._tools_sent:
            session["tools"] = prepared.tools
        if self._config.after_response and self.response_active:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), MAX_WAIT_FOR_RESPONSE_S)
        try:
            await self._update_and_confirm(link, session, prepared)
        except UpstreamLost:
            raise
        except UpstreamRejected as exc:
            self._record(RefreshResult.REJECTED, started, built.version, exc.message)
            raise
        except UpstreamTimeout as exc:
            self._record(RefreshResult.TIMEOUT, started, built.version, exc.message)
            raise
        except CompanionError as exc:
            self._record(RefreshResult.FAILED, started, built.version, exc.message)
            raise
        self._adopt(prepared)
        return self._record(RefreshResult.REFRESHED, started, built.version)

    async def _update_and_confirm(
        self, link: UpstreamLink, session: dict[str, Any], prepared: Prepared
    ) -> dict[str, Any]:
        """Send one ``session.update`` and wait for the model to accept or refuse exactly it."""
        event_id = protocol.new_event_id("evt_refresh")
        confirmation = link.expect(event_id, prepared.built.text, prepared)
        await link.send(protocol.session_update(event_id, session))
        try:
            return await asyncio.wait_for(asyncio.shield(confirmation.future), self._config.refresh_timeout_s)
        except TimeoutError:
            link.give_up(confirmation)
            raise UpstreamTimeout(
                f"The realtime model did not confirm the new instructions within "
                f"{self._config.refresh_timeout_s:g} s"
            ) from None

    def _adopt(self, prepared: Prepared) -> None:
        """The model runs with ``prepared`` now."""
        self._prepared = prepared
        self.context = prepared.context
        self._tools_sent = prepared.tools
        if self.instructions is None or self.instructions.version != prepared.built.version:
            self.previous_instructions = self.instructions
            self.instructions = prepared.built
            self.instructions_updated_at = datetime.now(UTC)

    def _record(
        self, result: RefreshResult, started: float, version: str, message: str = ""
    ) -> RefreshRecord:
        record = RefreshRecord(result, datetime.now(UTC), (self._clock() - started) * 1000, version, message)
        self.last_refresh = record
        if self._on_refresh is not None:
            self._on_refresh(self, record)
        return record
