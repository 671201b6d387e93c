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
from typing import Any

from companion.errors import CompanionError, NotFound, SessionNotActive
from companion.events import ProfileChanged, RefreshCounts
from companion.realtime.endings import Ending
from companion.realtime.metrics import Metrics
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
from companion.realtime.upstream import Connector

log = logging.getLogger(__name__)

RECENTLY_CLOSED = 1000  # how many closed sessions are remembered for 409 answers and the dashboard


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
    ) -> None:
        self._connector = connector
        self._load_context = load_context
        self._build = build
        self._tools_for = tools_for
        self._tool_runtime = tool_runtime
        self._config = config
        self.metrics = metrics
        self._live: dict[str, LiveSession] = {}
        self._closed: OrderedDict[str, LiveSession] = OrderedDict()

    # ---- lifecycle ---------------------------------------------------------------------------------

    def open(
        self, user_id: str, client: ClientChannel, *, greet: bool = False, device_id: str | None = None
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
            device_id=device_id,
        )
        self._live[session.id] = session
        self.metrics.live_sessions.set(len(self._live))
        return session

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
        self._closed[session.id] = session
        while len(self._closed) > RECENTLY_CLOSED:
            self._closed.popitem(last=False)
        self.metrics.live_sessions.set(len(self._live))
        outcome = "completed" if session.instructions is not None else "failed_to_start"
        self.metrics.sessions_total.labels(outcome=outcome).inc()
        log.info(
            "session %s closed for user %s: %d turns, %d tokens",
            session.id,
            session.user_id,
            session.turn_count,
            session.token_usage,
        )

    async def close_device(self, device_id: str) -> int:
        """End at once every live session opened from a device that was just revoked; how many."""
        sessions = self.of_device(device_id)
        await asyncio.gather(*(s.close(Ending.DEVICE_REVOKED) for s in sessions))
        return len(sessions)

    async def close_all(self) -> None:
        await asyncio.gather(*(s.close(Ending.SHUTDOWN) for s in list(self._live.values())))

    # ---- queries -----------------------------------------------------------------------------------

    def get(self, session_id: str) -> LiveSession:
        session = self._live.get(session_id) or self._closed.get(session_id)
        if session is None:
            raise NotFound(f"Session {session_id} not found")
        return session

    def live(self) -> list[LiveSession]:
        return list(self._live.values())

    def all(self, *, include_closed: bool = False) -> list[LiveSession]:
        sessions = list(self._live.values())
        if include_closed:
            sessions += list(self._closed.values())
        return sorted(sessions, key=lambda s: s.started_at)

    def of_user(self, user_id: str) -> list[LiveSession]:
        return [s for s in self._live.values() if s.user_id == user_id]

    def of_device(self, device_id: str) -> list[LiveSession]:
        """The live sessions a paired tablet has open (the family's device list counts them)."""
        return [s for s in self._live.values() if s.device_id == device_id]

    async def say_when_quiet(self, user_id: str, instruction: str) -> bool:
        """Have the person's live conversation (the newest, if several) speak at its next quiet moment;
        False when none is live or it stayed busy (a reminder then goes to the page)."""
        sessions = [s for s in self.of_user(user_id) if s.status in (Status.ACTIVE, Status.RECONNECTING)]
        if not sessions:
            return False
        newest = max(sessions, key=lambda s: s.started_at)
        return await newest.say_when_quiet(instruction)

    # ---- refresh -----------------------------------------------------------------------------------

    async def refresh(self, session_id: str) -> RefreshRecord:
        session = self.get(session_id)
        if session.status not in (Status.ACTIVE, Status.RECONNECTING):
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
