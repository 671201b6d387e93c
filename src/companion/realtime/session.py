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
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from companion.errors import CompanionError, SessionNotActive, UpstreamLost
from companion.events import SayOutcome
from companion.profiles.models import CareContext, Music
from companion.prompt import Instructions
from companion.realtime import protocol
from companion.realtime.endings import ClientErrorCode, Ending
from companion.realtime.links import ClientLink, Flag, UpstreamLink
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
)
from companion.realtime.reconnect import ConnectReason, HeldEvents
from companion.realtime.recording import RecordingTap
from companion.realtime.records import (
    ENDED,
    TRANSITIONS,
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
from companion.realtime.refreshing import RefreshBound
from companion.realtime.saying import GreetingNotes, SayRequests
from companion.realtime.speaking import SAY_WITHIN_S, Speaking
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

FAILED_MESSAGE: Final = "The relay failed; please reconnect"
FLUSH_TIMEOUT_S: Final = 2.0  # at the end, the client gets what is queued (an explaining error) this long
READ_OUT_POLL_S: Final = 0.05  # how often it looks for the answer that the person's last turn started


@dataclass(slots=True)
class _Answer:
    """A tool call the relay answers, on the model connection that asked."""

    call: ToolCall
    output: asyncio.Future[dict[str, Any]]
    link: UpstreamLink


class LiveSession(Speaking):
    # Slots, not a dict: past 30 attributes an instance's dict stops sharing its keys (~1.2 KB more).
    __slots__ = (
        "_active",
        "_answering",
        "_answers",
        "_asks",
        "_client",
        "_clock",
        "_closed",
        "_config",
        "_connector",
        "_credential_expiry",
        "_ended",
        "_failed",
        "_greeting",
        "_idle",
        "_metrics",
        "_notes",
        "_on_refresh",
        "_opened",
        "_pending_prepare",
        "_pending_refresh",
        "_prepare_user",
        "_prepared",
        "_reader_failures",
        "_refresh_bound",
        "_refresh_lock",
        "_saying_now",
        "_tasks",
        "_tool_work",
        "_tools",
        "_tools_sent",
        "closed_at",
        "connections",
        "credential_expires_in_s",
        "device_id",
        "greet",
        "greet_reminder",
        "held",
        "id",
        "instructions",
        "instructions_updated_at",
        "last_refresh",
        "link",
        "mirror",
        "music",
        "on_say_check",
        "policy",
        "previous_instructions",
        "recording",
        "started_at",
        "status",
        "token_usage",
        "turn_count",
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``credential_expires_in_s``: how long the credential that opened the conversation (a token)
        is still valid; the conversation ends when it expires, as a request with it would be refused.
        ``tool_work``: where its server tool runs go, so that they outlive it (the manager's, shared)."""
        self.id = "sess-" + uuid.uuid4().hex[:16]
        self.device_id = device_id  # the paired tablet it was opened from, so revoking it can end it
        self.greet = greet  # speak first once started (the elder's page asks for it)
        self.greet_reminder = greet_reminder  # a reminder the greeting also says (the card's "talk")
        self._notes = notes
        self._asks = SayRequests()  # things asked of the model to say, awaiting their response.done
        self._saying_now: dict[str, asyncio.Future[SayOutcome]] = {}
        self.on_say_check: Callable[[bool], None] | None = None
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
        self.music: Music | None = None  # the person's music preferences, for the music guard
        self._greeting: CareContext | None = None  # the first context, until the greeting is said
        self.connections: list[ConnectionRecord] = []
        self.link: UpstreamLink | None = None
        self.policy = RelayPolicy()
        self.mirror = ConversationMirror()
        self.held = HeldEvents()
        self._client = ClientLink(client, self._client_too_slow)
        self._connector = connector
        self._prepare_user = prepare
        self._tools = tools
        self._tool_work = tool_work or ToolWork()
        self._config = config
        self._metrics = metrics
        self._on_refresh = on_refresh
        self._clock = clock
        self._prepared: Prepared | None = None
        self._tools_sent: list[dict[str, Any]] | None = None
        self._refresh_lock = asyncio.Lock()  # one session.update at a time, and none during a switch
        self._pending_refresh: asyncio.Task[RefreshRecord] | None = None
        self._refresh_bound: RefreshBound | None = None
        self._pending_prepare: Preparer | None = None
        self._answers: list[_Answer] = []  # calls of the current response the relay answers
        self._answering = 0  # answer tasks in flight (a rotation waits for them)
        self._reader_failures = 0
        self._opened = 0
        self._failed = False  # a supervised task failed: the session ends with internal_error
        self._idle = Flag(True)
        self._active = Flag()
        self._closed = Flag()
        self._ended: asyncio.Future[None] | None = None  # run() waits on it; its end resolves it
        self._tasks: set[asyncio.Task[Any]] = set()
        self._credential_expiry: asyncio.TimerHandle | None = None
        self.credential_expires_in_s = credential_expires_in_s
        # The conversation's record (realtime/recording.py): fed each model event, told of the end,
        # and asked to fetch the summary after the person leaves. Set by the manager; None: unrecorded.
        self.recording: RecordingTap | None = None

    # ---- what the REST API shows -------------------------------------------------------------------

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
        if self.credential_expires_in_s is not None:  # a timer, not a task sleeping for months
            delay = max(0.0, self.credential_expires_in_s)
            self._credential_expiry = asyncio.get_running_loop().call_later(delay, self._credential_expired)
        try:
            if not await self._start():
                return
            if self.recording is not None:  # a long conversation's summaries so far, at quiet moments
                self.recording.follow(
                    self.send_upstream,
                    lambda: (
                        self.status is Status.ACTIVE
                        and self._answering == 0
                        and self.mirror.quiet(self._clock())
                    ),
                    self._clock,
                    self.spawn,
                )
            reader = self.spawn(self._read_client(), "client-reader")
            if self.status not in ENDED:  # closed meanwhile: nothing would resolve _ended
                # one future that either pump's end or close() resolves (asyncio.wait would keep a
                # waiter, a callback on each pump and two sets alive for the whole conversation)
                self._ended = asyncio.get_running_loop().create_future()
                reader.add_done_callback(self._run_over)
                writer.add_done_callback(self._run_over)
                await self._ended
                if self.status is Status.ACTIVE and not self._failed:
                    await self._read_out()
                    if self.recording is not None and self.status is Status.ACTIVE:
                        await self.recording.summarise(self.send_upstream)
        finally:
            if self._credential_expiry is not None:
                self._credential_expiry.cancel()
            if self._failed:
                await self._end(Ending.INTERNAL, FAILED_MESSAGE)
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
            self._install(link)
            self._record_connection(link, None)
        self._client.offer(self.policy.client_session_event("session.created", effective))
        self._set_status(Status.ACTIVE)
        greeting, self._greeting = self._greeting, None
        if self.greet and greeting is not None:
            await self._greet(greeting)
        return True

    async def _read_out(self) -> None:
        """The client has left (hung up, or the tablet dropped): the model's answer in progress, or
        one about to start, is still read to its end for a bounded moment, so that a server tool call
        already on its way is carried out (the person said they fell, then the tablet went). Nothing
        new is asked of the model; what it says reaches no one."""
        answers = self.turn_count
        try:
            async with asyncio.timeout(self._config.read_out_s):
                while (
                    self.status is Status.ACTIVE
                    and self.turn_count == answers
                    and self.mirror.answer_may_come(self._clock())
                ):
                    if self.mirror.response_active:
                        await self._idle.wait()
                    else:
                        await asyncio.sleep(READ_OUT_POLL_S)
        except TimeoutError:
            log.info(
                "session %s: the model's answer did not end within %g s of the client leaving",
                self.id,
                self._config.read_out_s,
            )

    async def close(self, ending: Ending = Ending.NORMAL, reason: str | None = None) -> None:
        """Close both sides (the model first: no paid session is left open). A second caller waits for
        the first close to finish (its explaining error still reaching the client) rather than cut it."""
        if self.status in ENDED:
            await self._closed.wait()
            return
        self._set_status(Status.CLOSING)
        self.closed_at = datetime.now(UTC)
        if self.recording is not None:
            self.recording.ended(ending, started=self.instructions is not None)
        self._idle.set()  # no answer goes on: whatever waits for one to end (a read-out) stops waiting
        if self.link is not None:
            await self.link.close()
            self.link.fail_pending(SessionNotActive(f"Session {self.id} closed"))
        await self._client.finish(FLUSH_TIMEOUT_S)
        await self._client.close(*ending.close(reason).clipped())
        self._set_status(Status.CLOSED)
        self._closed.set()
        self._run_over()

    def _run_over(self, _: object = None) -> None:
        """The client left, its writer stopped, or the session closed: ``run`` ends."""
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)

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
            self._failed = True
            self.spawn(self._end(Ending.INTERNAL, FAILED_MESSAGE), "end")

    def _credential_expired(self) -> None:
        self._credential_expiry = None
        if self.status not in ENDED:
            log.info("session %s: its credential expired, closing", self.id)
            self.spawn(self.close(Ending.CREDENTIAL_EXPIRED), "close-expired")

    def _client_too_slow(self) -> None:
        log.warning("session %s: client too slow to keep up, closing", self.id)
        if self.status not in ENDED:
            self.spawn(self.close(Ending.CLIENT_TOO_SLOW), "close-slow")

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
        if self.recording is not None and self.recording.model_event(event, link.number, link.reason):
            return  # the summary's own out-of-band response: no one else's business
        self.mirror.observe(event, self._clock())
        self._asks.observe(event, self._clock())
        kind = event.get("type")
        if kind == "response.created":
            self._idle.clear()
        elif kind == "response.done":
            self._count_response(event)
        for decision in self.policy.from_model(event, music=self.music, age_fraction=link.age_fraction()):
            self._carry_out(link, decision)

    def _carry_out(self, link: UpstreamLink, decision: Decision) -> None:
        match decision:
            case ToClient(event):
                self._client.offer(event)
            case RunTool(call):
                # not the session's task: an alert being written when the tablet hangs up is still stored
                output = self._tool_work.start(self._run_tool(call), f"{self.id}:tool-{call.name}")
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
            outputs = [(a, await asyncio.shield(a.output)) for a in answers]  # this task's end stops no run
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
        # the channel's own receive, not the link's wrapper: one coroutine less per frame
        receive, client_audio = self._client.channel.receive, self.policy.client_audio
        while True:
            text = await receive()
            if text is None:
                return
            audio = client_audio(text)  # most frames: no JSON tree, no list of decisions
            if audio is not None:
                await self._to_model(audio)
                continue
            items = self.link.items if self.link is not None else ()
            for decision in self.policy.from_client(text, items_on_link=items):
                if isinstance(decision, ToModel):
                    self._asks.observe_client(decision.event)  # a truncate: a reminder was cut off
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

    async def send_upstream(self, event: dict[str, Any]) -> None:
        link = self.link
        if link is None or self.status in ENDED:
            raise SessionNotActive(f"Session {self.id} has no active WebSocket connection")
        await link.send(event)

    @property
    def response_active(self) -> bool:
        return not self._idle.is_set()
