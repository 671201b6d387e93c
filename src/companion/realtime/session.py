"""One live conversation: the elder's client on one side, a replaceable model connection on the other.

:class:`LiveSession` is the driver of a :class:`~companion.realtime.machine.SessionMachine`, which makes
every decision (see its module and ``docs/session.md``). The driver owns what the machine must not: the
client's socket and its bounded outbox, the model connections, the tasks (each supervised: an
unexpected failure is logged with the session id and ends the conversation with 1011, never a session
that looks alive and relays nothing) and one timer, set to the machine's next deadline. It feeds the
machine what happens, with the time, and carries out the actions it answers with, in order.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Final

from companion.conversations.notes import ConversationLog
from companion.errors import CompanionError, SessionNotActive, UpstreamTimeout
from companion.events import SayOutcome
from companion.profiles.models import Music
from companion.prompt import Instructions
from companion.realtime.actions import (
    Action,
    CloseClient,
    CloseModel,
    Connected,
    GreetingSaid,
    HeldAudioDropped,
    OpenModel,
    Prepare,
    RefreshAnswered,
    Refreshed,
    RefreshFailed,
    SayAnswered,
    SendModel,
    StartTool,
    Tokens,
)
from companion.realtime.endings import Close, Ending
from companion.realtime.links import ClientLink, Flag, ModelPipe
from companion.realtime.machine import FAILED_MESSAGE, SessionMachine
from companion.realtime.metrics import Metrics
from companion.realtime.mirror import ConversationMirror
from companion.realtime.policy import RelayPolicy, ToClient, ToolOutcome
from companion.realtime.reconnect import HeldEvents
from companion.realtime.records import (
    ENDED,
    Builder,
    ClientChannel,
    ConnectionRecord,
    ContextLoader,
    Prepared,
    Preparer,
    RefreshObserver,
    RefreshRecord,
    RefreshResult,
    SessionConfig,
    Status,
    ToolsFor,
    UserPreparer,
)
from companion.realtime.saying import GreetingNotes
from companion.realtime.tools import ToolCall, ToolRuntime
from companion.realtime.toolwork import ToolWork
from companion.realtime.upstream import Connector

__all__ = [  # the session's plain types live in records.py; importers may take them from here
    "ENDED",
    "SAY_WITHIN_S",
    "Builder",
    "ClientChannel",
    "ConnectionRecord",
    "ContextLoader",
    "ConversationLog",
    "LiveSession",
    "Prepared",
    "Preparer",
    "RefreshObserver",
    "RefreshRecord",
    "RefreshResult",
    "SessionConfig",
    "Status",
    "ToolsFor",
    "UserPreparer",
]

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S: Final = 2.0  # at the end, the client gets what is queued (an explaining error) this long
SAY_WITHIN_S: Final = 120.0  # a reminder waits this long for a quiet moment, then the page is tried
# A caller waits for its refresh at most the refresh timeout (the machine answers it then); this much
# more is only a backstop, should the machine's answer never come (a bug): the caller is never held.
CALLER_BACKSTOP_S: Final = 1.0

_CALLERS: Final = itertools.count(1)  # refresh callers, numbered for the machine's answers


class LiveSession:
    # Slots, not a dict: an idle conversation is kept small (see the memory figure in docs/performance.md).
    __slots__ = (
        "__weakref__",  # what is kept of a closed conversation is checked to let it go
        "_callers",
        "_client",
        "_clock",
        "_closed",
        "_closing",
        "_config",
        "_connector",
        "_ended",
        "_live",
        "_machine",
        "_metrics",
        "_notes",
        "_on_refresh",
        "_opening",
        "_pipes",
        "_prepare_user",
        "_preparers",
        "_recording",
        "_says",
        "_tasks",
        "_timer",
        "_timer_at",
        "_tool_work",
        "_tools",
        "credential_expires_in_s",
        "device_id",
        "greet",
        "greet_reminder",
        "id",
        "started_at",
        "user_id",
    )

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
        greet_reminder: str | None = None,
        notes: GreetingNotes | None = None,
        device_id: str | None = None,
        credential_expires_in_s: float | None = None,
        tool_work: ToolWork | None = None,
        recording: ConversationLog | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``credential_expires_in_s``: how long the credential that opened the conversation (a token,
        a paired tablet's sign-in) is still valid; the conversation ends when it expires, as a request
        with it would be refused. ``tool_work``: where its server tool runs go, so that they outlive it
        (the manager's, shared). ``recording``: the conversation's log, told each note the machine makes
        (:mod:`~companion.realtime.recording`) and asked for the summary's language when the person
        leaves; None: the conversation is not recorded."""
        self.id = "sess-" + uuid.uuid4().hex[:16]
        self.device_id = device_id  # the paired tablet it was opened from, so revoking it can end it
        self.greet = greet  # speak first once started (the elder's page asks for it)
        self.greet_reminder = greet_reminder  # a reminder the greeting also says (the card's "talk")
        self.user_id = user_id
        self.started_at = datetime.now(UTC)
        self.credential_expires_in_s = credential_expires_in_s
        self._machine = SessionMachine(
            session_id=self.id,
            config=config,
            greet=greet,
            credential_expires_in_s=credential_expires_in_s,
        )
        if recording is not None:
            self._machine.record(recording.summary_language)
        self._notes = notes
        self._recording = recording
        self._client = ClientLink(client, self._client_too_slow)
        self._connector = connector
        self._prepare_user = prepare
        self._tools = tools
        self._tool_work = tool_work or ToolWork()
        self._config = config
        self._metrics = metrics
        self._on_refresh = on_refresh
        self._clock = clock
        self._pipes: dict[int, ModelPipe] = {}  # open model connections, by number
        self._opening: dict[int, asyncio.Task[Any]] = {}  # connections being opened, by number
        self._closing: list[asyncio.Task[Any]] = []  # model connections being closed
        self._callers: dict[int, asyncio.Future[RefreshRecord]] = {}  # refresh callers waiting
        self._preparers: dict[int, Preparer] = {}  # a refresh caller's shared preparation
        self._says: dict[str, asyncio.Future[SayOutcome]] = {}  # instructions being said -> outcome
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._live = Flag()  # the start is over: active, or ending
        self._closed = Flag()
        self._ended: asyncio.Future[None] | None = None  # run() waits on it; its end resolves it

    # ---- what the REST API and the dashboard show ------------------------------------------------

    @property
    def status(self) -> Status:
        return self._machine.status

    @property
    def closed_at(self) -> datetime | None:
        return self._machine.closed_at

    @property
    def turn_count(self) -> int:
        return self._machine.turn_count

    @property
    def token_usage(self) -> int:
        return self._machine.token_usage

    @property
    def instructions(self) -> Instructions | None:
        return self._machine.instructions

    @property
    def previous_instructions(self) -> Instructions | None:
        return self._machine.previous_instructions

    @property
    def instructions_updated_at(self) -> datetime | None:
        return self._machine.instructions_updated_at

    @property
    def last_refresh(self) -> RefreshRecord | None:
        return self._machine.last_refresh

    @property
    def music(self) -> Music | None:
        return self._machine.music

    @property
    def connections(self) -> list[ConnectionRecord]:
        return self._machine.connections

    @property
    def prepared(self) -> Prepared | None:
        """What the model runs with, kept without the person's context (the fallback of a reconnection)."""
        return self._machine.prepared_last

    @property
    def policy(self) -> RelayPolicy:
        return self._machine.policy

    @policy.setter
    def policy(self, policy: RelayPolicy) -> None:
        self._machine.policy = policy

    @property
    def mirror(self) -> ConversationMirror:
        return self._machine.mirror

    @property
    def held(self) -> HeldEvents:
        return self._machine.held

    @property
    def response_active(self) -> bool:
        return self._machine.mirror.response_active

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "userId": self.user_id,
            "deviceId": self.device_id,
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
            "responseActive": self.response_active,
            "upstream": {
                "connections": len(self.connections),
                "history": [c.as_json() for c in self.connections],
                "heldAudioDropped": self.held.audio_dropped,
                "clientAudioDropped": self._client.audio_dropped,
            },
        }

    # ---- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start, relay until the client leaves or the session is closed. Never raises for an ending."""
        if self.status in ENDED:
            return  # closed before it started (its device was revoked): open no model connection
        writer = self.spawn(self._client.write(), "client-writer")
        try:
            note = await self._greeting_note()
            if self.status in ENDED:
                return
            self._feed(self._machine.start(self._clock(), time.time(), greeting_note=note))
            await self._live.wait()
            if self.status in ENDED:
                return
            reader = self.spawn(self._read_client(), "client-reader")
            # one future that either pump's end or close() resolves (asyncio.wait would keep a waiter,
            # a callback on each pump and two sets alive for the whole conversation)
            self._ended = asyncio.get_running_loop().create_future()
            reader.add_done_callback(self._run_over)
            writer.add_done_callback(self._run_over)
            if self.status not in ENDED:
                await self._ended
            # a read-out, the summary, or the end
            language = None
            if self._recording is not None:
                await self._recording.ready()  # a conversation shorter than a write's round
                language = self._recording.summary_language()
            self._feed(self._machine.client_left(self._clock(), summary_language=language))
            await self._closed.wait()
        finally:
            if self.status not in ENDED:
                self._feed(self._machine.close(self._clock()))
            await self._closed.wait()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            await self._cancel_tasks()

    async def close(self, ending: Ending = Ending.NORMAL, reason: str | None = None) -> None:
        """Close both sides (the model first: no paid session is left open). A second caller waits for
        the first close to finish (its explaining error still reaching the client) rather than cut it."""
        self._feed(self._machine.close(self._clock(), ending, reason))
        await self._closed.wait()

    def _run_over(self, _: object = None) -> None:
        """The client left, its writer stopped, or the session closed: ``run`` ends."""
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)

    async def _cancel_tasks(self) -> None:
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "task") -> asyncio.Task[Any]:
        """Start a task the session owns: cancelled at the end, and any unexpected failure handled."""
        task = asyncio.create_task(coro, name=f"{self.id}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        log.error("session %s: task %s failed", self.id, task.get_name(), exc_info=task.exception())
        if self.status not in ENDED:
            self._feed(self._machine.close(self._clock(), Ending.INTERNAL, message=FAILED_MESSAGE))

    def _client_too_slow(self) -> None:
        log.warning("session %s: client too slow to keep up, closing", self.id)
        if self.status not in ENDED:
            self._feed(self._machine.close(self._clock(), Ending.CLIENT_TOO_SLOW))

    def record(self, recording: ConversationLog) -> None:
        """Record the conversation in ``recording`` from now on (see ``docs/session.md``; one at a
        time): it is told each note the machine makes, in order."""
        self._recording = recording
        self._machine.record(recording.summary_language)

    # ---- asking the session ----------------------------------------------------------------------

    async def refresh(self, prepare: Preparer | None = None) -> RefreshRecord:
        """Rebuild from the store and apply, confirmed; answered within the refresh timeout whatever
        the session is doing (see :mod:`~companion.realtime.machine_model`). ``prepare`` lets the
        sessions of one person refreshed together share one read of the store and one build."""
        if self.status in ENDED:
            raise SessionNotActive(f"Session {self.id} has no active WebSocket connection")
        caller = next(_CALLERS)
        waiter: asyncio.Future[RefreshRecord] = asyncio.get_running_loop().create_future()
        self._callers[caller] = waiter
        if prepare is not None:
            self._preparers[caller] = prepare
        try:
            self._feed(self._machine.refresh_requested(caller, self._clock(), shared=prepare is not None))
            bound = self._config.refresh_timeout_s + CALLER_BACKSTOP_S
            try:
                return await asyncio.wait_for(asyncio.shield(waiter), bound)
            except TimeoutError:
                raise UpstreamTimeout(
                    f"The realtime model did not confirm the new instructions within "
                    f"{self._config.refresh_timeout_s:g} s; they will be applied as soon as it can"
                ) from None
        finally:
            self._callers.pop(caller, None)
            self._preparers.pop(caller, None)

    async def say_when_quiet(self, instruction: str, *, within_s: float = SAY_WITHIN_S) -> SayOutcome:
        """At the next quiet moment, have the model say ``instruction`` (a system message the client
        never sees); the outcome is its response's (see :mod:`~companion.realtime.saying`). The same
        instruction asked again while it is being said is said once: both callers get its outcome."""
        if self.status in ENDED:
            return "no_conversation"
        waiter = self._says.get(instruction)
        if waiter is None:
            waiter = self._says[instruction] = asyncio.get_running_loop().create_future()
            self._feed(self._machine.say_requested(instruction, within_s, self._clock()))
        return await asyncio.shield(waiter)

    # ---- feeding the machine, carrying out its actions -------------------------------------------

    def _feed(self, actions: list[Action]) -> None:
        for action in actions:
            if type(action) is ToClient:
                self._client.offer(action.event)
            elif type(action) is SendModel:
                pipe = self._pipes.get(action.link)
                if pipe is not None:
                    pipe.send(action.event, action.frame)
            else:
                self._do(action)
        self._schedule()

    def _do(self, action: Action) -> None:
        match action:
            case OpenModel(number):
                self._opening[number] = self.spawn(self._open_model(number), f"model-{number}")
            case CloseModel(number):
                self._close_model(number)
            case Prepare(token, caller):
                preparer = self._preparers.get(caller) if caller is not None else None
                self.spawn(self._prepare(token, preparer), "prepare")
            case StartTool(token, call):
                # not the session's task: an alert being written when the tablet hangs up is still stored
                run = self._tool_work.start(self._run_tool(call), f"{self.id}:tool-{call.name}")
                run.add_done_callback(lambda task: self._tool_finished(token, task))
            case CloseClient(close):
                self.spawn(self._finish(close), "close")
            case RefreshAnswered(callers, record):
                for caller in callers:
                    waiter = self._callers.get(caller)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(record)
            case RefreshFailed(callers, error):
                for caller in callers:
                    waiter = self._callers.get(caller)
                    if waiter is not None and not waiter.done():
                        waiter.set_exception(error)
            case SayAnswered(instruction, outcome):
                said = self._says.pop(instruction, None)
                if said is not None and not said.done():
                    said.set_result(outcome)
            case GreetingSaid(outcome):
                self.spawn(self._greeting_said(outcome), "greeting-reminder")
            case Refreshed(record):
                if self._on_refresh is not None:
                    self._on_refresh(self, record)
            case Tokens() | Connected() | HeldAudioDropped() | ToolOutcome():
                self._count(action)
            case SendModel() | ToClient():
                self._feed([action])
            case _:  # a note for the conversation's log
                if self._recording is not None:
                    self._recording.note(action)

    def _count(self, action: Action) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        match action:
            case Tokens(count):
                metrics.tokens.inc(count)
            case Connected(record):
                reason = record.reason.value
                metrics.upstream_connections.labels(reason=reason).inc()
                if record.resume_ms is not None:
                    metrics.resume_seconds.labels(reason=reason).observe(record.resume_ms / 1000)
            case HeldAudioDropped(count):
                metrics.held_audio_dropped.inc(count)
            case ToolOutcome(tool, outcome, _):
                metrics.tool_calls.labels(tool=tool, outcome=outcome).inc()

    def _schedule(self) -> None:
        """The one timer: set to the machine's next deadline, moved only when that changes."""
        if not self._live.is_set() and self.status is not Status.STARTING:
            self._live.set()
        at = self._machine.next_deadline(self._clock())
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = None
        if at is not None:
            self._timer = asyncio.get_running_loop().call_later(max(0.0, at - self._clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, None
        self._feed(self._machine.tick(self._clock()))

    # ---- the client ------------------------------------------------------------------------------

    async def _read_client(self) -> None:
        # the channel's own receive, not the link's wrapper: one coroutine less per frame
        receive, machine, clock, pipes = self._client.channel.receive, self._machine, self._clock, self._pipes
        while True:
            text = await receive()
            if text is None:
                return
            actions = machine.receive_client(text, clock())
            if len(actions) == 1 and type(send := actions[0]) is SendModel:  # most frames: audio, at once
                pipe = pipes.get(send.link)
                if pipe is not None:
                    pipe.send(send.event, send.frame)
                    if pipe.backlogged:  # the model sets the pace: nothing piles up here
                        await pipe.drained()
                continue
            self._feed(actions)
            for pipe in list(pipes.values()):
                if pipe.backlogged:
                    await pipe.drained()

    async def _finish(self, close: Close) -> None:
        """The end: the model connections closed, then what is queued for the client (an explaining
        error) sent within a bound, then the client closed."""
        closing, self._closing = self._closing, []
        await asyncio.gather(*closing, return_exceptions=True)
        await self._client.finish(FLUSH_TIMEOUT_S)
        await self._client.close(*close.clipped())
        self._feed(self._machine.client_closed(self._clock()))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._closed.set()
        self._run_over()

    # ---- the model -------------------------------------------------------------------------------

    async def _open_model(self, number: int) -> None:
        """Open connection ``number``, then be its one reader until it ends."""
        try:
            conn = await self._connector.connect()
        except (CompanionError, TimeoutError) as exc:
            self._opening.pop(number, None)
            self._feed(self._machine.model_failed(number, exc, self._clock()))
            return
        if self._opening.pop(number, None) is None:  # let go meanwhile
            await ModelPipe(conn, number, spawn=self.spawn, on_lost=self._send_lost).close()
            return
        pipe = self._pipes[number] = ModelPipe(conn, number, spawn=self.spawn, on_lost=self._send_lost)
        self._feed(self._machine.model_opened(number, self._clock()))
        await self._read_model(pipe)

    async def _read_model(self, pipe: ModelPipe) -> None:
        """The one reader of a model connection. Never blocks on the client; its end is reported."""
        code: int | None = None
        broken = False
        try:
            while not pipe.closed:
                # Through a call, not a loop variable here: the last event (a session.updated holds
                # the whole ~25 KB session) must not stay alive while the next is awaited.
                self._on_model_events(pipe.number, await pipe.conn.recv())
        except CompanionError:
            code = pipe.conn.close_info[0]
        except Exception:
            log.exception("session %s: reading model connection %d failed", self.id, pipe.number)
            broken = True
        if pipe.closed or self._pipes.get(pipe.number) is not pipe:
            return  # closed on purpose
        self._feed(self._machine.model_closed(pipe.number, self._clock(), code=code, broken=broken))
        self._close_model(pipe.number)  # whatever the machine made of it, the connection is done

    def _on_model_events(self, number: int, events: list[dict[str, Any]]) -> None:
        machine, clock, client, pipes = self._machine, self._clock, self._client, self._pipes
        for event in events:
            for action in machine.receive_model(number, event, clock()):
                if type(action) is ToClient:
                    client.offer(action.event)
                elif type(action) is SendModel:
                    pipe = pipes.get(action.link)
                    if pipe is not None:
                        pipe.send(action.event, action.frame)
                else:
                    self._do(action)
        self._schedule()

    def _send_lost(self, number: int, event: dict[str, Any], frame: str | None) -> None:
        if number in self._pipes and self.status not in ENDED:
            self._feed(self._machine.send_failed(number, event, frame, self._clock()))
        self._close_model(number)

    def _close_model(self, number: int) -> None:
        opening = self._opening.pop(number, None)
        if opening is not None:
            opening.cancel()
        pipe = self._pipes.pop(number, None)
        if pipe is not None:
            pipe.closed = True
            self._closing.append(self.spawn(pipe.close(), f"model-close-{number}"))

    async def _prepare(self, token: int, shared: Preparer | None) -> None:
        result: Prepared | CompanionError
        try:
            result = await (shared() if shared is not None else self._prepare_user(self.user_id))
        except CompanionError as exc:
            result = exc
        self._feed(self._machine.prepared(token, result, self._clock()))

    # ---- tools and the greeting's reminder -------------------------------------------------------

    async def _run_tool(self, call: ToolCall) -> dict[str, Any]:
        try:
            result = await self._tools.answer(call, user_id=self.user_id, session_id=self.id)
            for event in result.client_events:  # what the app must show besides (a photo): at once
                self._client.offer(event)
            return result.output
        except Exception:
            log.exception("session %s: tool %s failed", self.id, call.name)
            return {
                "ok": False,
                "error": "tool_failed",
                "message": "The tool failed; say you could not do it.",
            }

    def _tool_finished(self, token: int, task: asyncio.Task[dict[str, Any]]) -> None:
        if task.cancelled() or task.exception() is not None or self.status in ENDED:
            return
        self._feed(self._machine.tool_done(token, task.result(), self._clock()))

    async def _greeting_note(self) -> str | None:
        if not self.greet or self.greet_reminder is None or self._notes is None:
            return None
        try:
            return await self._notes.greeting_note(self.user_id, self.greet_reminder)
        except Exception as exc:  # the greeting goes on without it; the reminder keeps its own path
            log.warning("session %s: no reminder for the greeting (%s)", self.id, type(exc).__name__)
            return None

    async def _greeting_said(self, outcome: SayOutcome) -> None:
        assert self._notes is not None and self.greet_reminder is not None
        try:
            await self._notes.greeting_said(self.user_id, self.greet_reminder, outcome)
        except Exception as exc:  # recorded on the next tick or poll instead; never ends the conversation
            log.warning("session %s: the greeting's reminder not recorded (%s)", self.id, type(exc).__name__)
