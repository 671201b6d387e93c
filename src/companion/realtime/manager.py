"""All live sessions of this instance: open, find, refresh, close.

The manager subscribes to ``ProfileChanged`` and refreshes every live session of that user in
parallel, so a caregiver's save answers with what each conversation did with it. Recently closed
sessions are remembered for a while so that a refresh of one answers "closed" (409), not "unknown" (404).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from companion.errors import CompanionError, NotFound, SessionNotActive
from companion.events import ProfileChanged, RefreshCounts, SayOutcome
from companion.realtime.endings import Ending
from companion.realtime.metrics import Metrics
from companion.realtime.recording import OpenLog
from companion.realtime.records import ClosedSession
from companion.realtime.saying import GreetingNotes
from companion.realtime.session import (
    ENDED,
    Builder,
    ClientChannel,
    ContextLoader,
    LiveSession,
    Prepared,
    Preparer,
    RefreshRecord,
    RefreshResult,
    SessionConfig,
    Status,
    ToolsFor,
)
from companion.realtime.tools import ToolRuntime
from companion.realtime.toolwork import ToolWork
from companion.realtime.upstream import Connector

log = logging.getLogger(__name__)

RECENTLY_CLOSED = 1000  # how many closed sessions are remembered for 409 answers and the dashboard


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """How many live conversations one person, and one device, may have at once (None: no limit)."""

    per_person: int | None = None
    per_device: int | None = None


@dataclass(frozen=True, slots=True)
class SessionMatch:
    """Which live sessions to end: a person's, a paired tablet's, or those held by a device key (a
    tablet's id, or ``auth.principal.token_device_key(id)`` for a device token)."""

    user_id: str | None = None
    device_id: str | None = None
    device_key: str | None = None

    def names(self, user_id: str, device_id: str | None, device_key: str | None) -> bool:
        return (
            (self.user_id is not None and user_id == self.user_id)
            or (self.device_id is not None and device_id == self.device_id)
            or (self.device_key is not None and device_key == self.device_key)
        )

    def as_json(self) -> dict[str, str | None]:
        return {"userId": self.user_id, "deviceId": self.device_id, "deviceKey": self.device_key}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SessionMatch:
        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(text("userId"), text("deviceId"), text("deviceKey"))


@dataclass(frozen=True, slots=True)
class Load:
    """How many live sessions each person and each device key holds (an instance's, or the others')."""

    people: dict[str, int] = field(default_factory=dict)
    devices: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why :meth:`SessionManager.admit` opened no session: a sentence the client is shown."""

    message: str


class SessionManager:
    def __init__(
        self,
        *,
        connector: Callable[[], Connector],
        load_context: ContextLoader,
        build: Builder,
        tools_for: ToolsFor,
        tool_runtime: ToolRuntime,
        config: SessionConfig,
        metrics: Metrics,
        limits: SessionLimits | None = None,
        greeting_notes: GreetingNotes | None = None,
        open_log: OpenLog | None = None,
    ) -> None:
        self._connector = connector
        self._load_context = load_context
        self._build = build
        self._tools_for = tools_for
        self._tool_runtime = tool_runtime
        self._config = config
        self.metrics = metrics
        self._live: dict[str, LiveSession] = {}
        self._of_user: dict[str, dict[str, LiveSession]] = {}  # person -> their live sessions, oldest first
        self._closed: OrderedDict[str, ClosedSession] = OrderedDict()  # summaries only: no sockets
        self.limits = limits or SessionLimits()
        self._device_keys: dict[str, str] = {}  # live session id -> the device (or device token) holding it
        # Set when a session opens or ends: the cluster node waits on it to publish its registry entry.
        self.changed = asyncio.Event()
        # Live sessions other instances hold, per person and per device key, as of their last heartbeat:
        # the limits count them too, so that a person's limit holds across the cluster.
        self._elsewhere = Load()
        # What a greeting says when the page opens a conversation for a reminder (the reminders; None:
        # such a conversation greets as any other).
        self.greeting_notes = greeting_notes
        self.tool_work = ToolWork()  # server tool runs, which outlive the conversations that asked
        # Each conversation's log (conversations/service.py): told the machine's notes (turns,
        # rotations, what the companion did, the summary, the end; see docs/session.md). None: no
        # conversation is recorded.
        self._open_log = open_log

    # ---- lifecycle ---------------------------------------------------------------------------------

    def open(
        self,
        user_id: str,
        client: ClientChannel,
        *,
        greet: bool = False,
        device_id: str | None = None,
        greet_reminder: str | None = None,
        credential_expires_in_s: float | None = None,
    ) -> LiveSession:
        session = LiveSession(
            user_id=user_id,
            client=client,
            connector=self._connector(),
            prepare=self._prepare,
            tools=self._tool_runtime,
            metrics=self.metrics,
            config=self._config,
            on_refresh=self._observe_refresh,
            greet=greet,
            greet_reminder=greet_reminder if greet else None,
            notes=self.greeting_notes,
            device_id=device_id,
            credential_expires_in_s=credential_expires_in_s,
            tool_work=self.tool_work,
        )
        if self._open_log is not None:
            session.record(self._open_log(session.id, user_id, device_id))
        self._live[session.id] = session
        self._of_user.setdefault(user_id, {})[session.id] = session
        self.metrics.live_sessions.set(len(self._live))
        self._changed()
        return session

    def _changed(self) -> None:
        self.changed.set()

    def count_elsewhere(self, load: Load) -> None:
        """What the other instances hold, as of their last heartbeats (the cluster node reports it)."""
        self._elsewhere = load

    def admit(
        self,
        user_id: str,
        client: ClientChannel,
        *,
        device_key: str | None,
        greet: bool = False,
        device_id: str | None = None,
        greet_reminder: str | None = None,
        credential_expires_in_s: float | None = None,
    ) -> LiveSession | Refusal:
        """Open a session unless the person or the device is at its limit. Counting and registering are
        one synchronous step (no ``await`` between them), so simultaneous connections cannot overshoot.
        ``device_key`` names what the device limit counts: a paired tablet's id or a device token's id.
        ``credential_expires_in_s``: the conversation ends when the credential that opened it expires."""
        refusal = self._over_limit(user_id, device_key)
        if refusal is not None:
            self.metrics.sessions_total.labels(outcome="refused_limit").inc()
            return refusal
        session = self.open(
            user_id,
            client,
            greet=greet,
            device_id=device_id,
            greet_reminder=greet_reminder,
            credential_expires_in_s=credential_expires_in_s,
        )
        if device_key is not None:
            self._device_keys[session.id] = device_key
        return session

    def _over_limit(self, user_id: str, device_key: str | None) -> Refusal | None:
        per_person, per_device = self.limits.per_person, self.limits.per_device
        here_and_elsewhere = len(self.of_user(user_id)) + self._elsewhere.people.get(user_id, 0)
        if per_person is not None and here_and_elsewhere >= per_person:
            return Refusal(
                f"This person already has {per_person} live conversations, the most allowed at once: "
                "end one and try again"
            )
        if device_key is not None and per_device is not None:
            held = sum(1 for key in self._device_keys.values() if key == device_key)
            held += self._elsewhere.devices.get(device_key, 0)
            if held >= per_device:
                return Refusal(
                    f"This device already has {per_device} live conversations, the most allowed at once: "
                    "end one and try again"
                )
        return None

    async def run(self, session: LiveSession) -> None:
        log.info("session %s opened for user %s", session.id, session.user_id)
        try:
            await session.run()
        finally:
            self._retire(session)

    def discard(self, session: LiveSession) -> None:
        """Forget a session that was opened but will never run (closed before it started)."""
        self._retire(session)

    def _retire(self, session: LiveSession) -> None:
        if self._live.pop(session.id, None) is None:
            return  # already retired
        theirs = self._of_user[session.user_id]
        del theirs[session.id]
        if not theirs:
            del self._of_user[session.user_id]
        self._device_keys.pop(session.id, None)
        self._closed[session.id] = ClosedSession(
            session.id, session.user_id, session.device_id, session.started_at, session.as_json()
        )
        while len(self._closed) > RECENTLY_CLOSED:
            self._closed.popitem(last=False)
        self.metrics.live_sessions.set(len(self._live))
        self._changed()
        outcome = "completed" if session.instructions is not None else "failed_to_start"
        self.metrics.sessions_total.labels(outcome=outcome).inc()
        log.info(
            "session %s closed for user %s: %d turns, %d tokens",
            session.id,
            session.user_id,
            session.turn_count,
            session.token_usage,
        )

    async def close_matching(self, ending: Ending, match: SessionMatch) -> int:
        """End at once every live session ``match`` names (a person erased, a tablet or a device
        token revoked); how many ended."""
        sessions = [
            s for s in self._live.values() if match.names(s.user_id, s.device_id, self._device_keys.get(s.id))
        ]
        await asyncio.gather(*(s.close(ending) for s in sessions))
        return len(sessions)

    async def close_all(self) -> None:
        """End every conversation, then let the tool runs they started (an alert, a memory) finish,
        within a bound."""
        await asyncio.gather(*(s.close(Ending.SHUTDOWN) for s in list(self._live.values())))
        late = await self.tool_work.drain()
        if late:
            log.warning("%d tool runs were still unfinished at shutdown", late)

    # ---- queries -----------------------------------------------------------------------------------

    def get(self, session_id: str) -> LiveSession | ClosedSession:
        session = self._live.get(session_id) or self._closed.get(session_id)
        if session is None:
            raise NotFound(f"Session {session_id} not found")
        return session

    def live(self) -> list[LiveSession]:
        return list(self._live.values())

    def forget_person(self, user_id: str) -> None:
        """An erased person's ended conversations leave the recently-closed list (their ids, times and
        counts are about them)."""
        for session_id in [s.id for s in self._closed.values() if s.user_id == user_id]:
            del self._closed[session_id]

    def all(self, *, include_closed: bool = False) -> list[LiveSession | ClosedSession]:
        """Live sessions, and with ``include_closed`` the summaries of recently closed ones."""
        sessions: list[LiveSession | ClosedSession] = list(self._live.values())
        if include_closed:
            sessions += list(self._closed.values())
        return sorted(sessions, key=lambda s: s.started_at)

    def load(self) -> Load:
        """This instance's live sessions per person and per device key (what other instances count)."""
        people: dict[str, int] = {}
        for session in self._live.values():
            people[session.user_id] = people.get(session.user_id, 0) + 1
        devices: dict[str, int] = {}
        for key in self._device_keys.values():
            devices[key] = devices.get(key, 0) + 1
        return Load(people, devices)

    def recently_closed(self, limit: int) -> list[ClosedSession]:
        """The newest ``limit`` closed sessions' summaries, newest last."""
        return list(self._closed.values())[-limit:] if limit > 0 else []

    def of_user(self, user_id: str) -> list[LiveSession]:
        return list(self._of_user.get(user_id, {}).values())

    def of_device(self, device_id: str) -> list[LiveSession]:
        """The live sessions a paired tablet has open (the family's device list counts them)."""
        return [s for s in self._live.values() if s.device_id == device_id]

    async def say_when_quiet(self, user_id: str, instruction: str) -> SayOutcome:
        """Have the person's live conversation (the newest, if several) speak at its next quiet moment,
        and follow its answer: ``said`` only when it was spoken (see :mod:`companion.realtime.saying`)."""
        sessions = [s for s in self.of_user(user_id) if s.status in (Status.ACTIVE, Status.RECONNECTING)]
        if not sessions:
            return "no_conversation"
        newest = max(sessions, key=lambda s: s.started_at)
        return await newest.say_when_quiet(instruction)

    # ---- refresh -----------------------------------------------------------------------------------

    async def refresh(self, session_id: str) -> RefreshRecord:
        session = self.get(session_id)
        if isinstance(session, ClosedSession) or session.status not in (Status.ACTIVE, Status.RECONNECTING):
            raise SessionNotActive(f"Session {session_id} has no active WebSocket connection")
        return await session.refresh()

    async def refresh_user(self, user_id: str) -> list[tuple[LiveSession, RefreshRecord | CompanionError]]:
        sessions = [s for s in self.of_user(user_id) if s.status not in ENDED]
        prepare = self._shared_preparation(user_id) if len(sessions) > 1 else None

        async def one(session: LiveSession) -> RefreshRecord | CompanionError:
            try:
                return await session.refresh(prepare)
            except CompanionError as exc:
                return exc

        results = await asyncio.gather(*(one(s) for s in sessions))
        return list(zip(sessions, results, strict=True))

    def _shared_preparation(self, user_id: str) -> Preparer:
        """One read of the store and one build for all of a person's sessions refreshed together
        (ten sessions would otherwise read and build the same thing ten times). The read starts
        when the first session needs it, so always after the change that asked for the refresh."""
        shared: list[asyncio.Future[Prepared]] = []

        async def prepare_once() -> Prepared:
            if not shared:
                shared.append(asyncio.ensure_future(self._prepare(user_id)))
            return await asyncio.shield(shared[0])

        return prepare_once

    async def _prepare(self, user_id: str) -> Prepared:
        """Read the person's context and build what a session sends from it."""
        context = await self._load_context(user_id)
        return Prepared(context, self._build(context), self._tools_for(context))

    async def on_profile_changed(self, event: ProfileChanged) -> RefreshCounts:
        return await self.refresh_user_counts(event.user_id)

    async def refresh_user_counts(self, user_id: str) -> RefreshCounts:
        """Refresh every live session of a person and count how each took it."""
        counts = RefreshCounts()
        for session, result in await self.refresh_user(user_id):
            detail: dict[str, Any] = {"sessionId": session.id}
            if isinstance(result, CompanionError):
                counts.failed += 1
                detail.update(result="failed", message=result.message)
            elif result.result is RefreshResult.UNCHANGED:
                counts.unchanged += 1
                detail.update(result="unchanged")
            else:
                counts.refreshed += 1
                detail.update(result="refreshed", latencyMs=round(result.latency_ms, 3))
            counts.details.append(detail)
        return counts

    def _observe_refresh(self, session: LiveSession, record: RefreshRecord) -> None:
        self.metrics.refreshes.labels(result=record.result.value).inc()
        if record.result is RefreshResult.REFRESHED:
            self.metrics.refresh_latency.observe(record.latency_ms / 1000)
        # Never the instructions or any profile content here: only ids, version, result and timing.
        log.info(
            "refresh session=%s user=%s version=%s result=%s latency_ms=%.1f",
            session.id,
            session.user_id,
            record.version,
            record.result.value,
            record.latency_ms,
        )
