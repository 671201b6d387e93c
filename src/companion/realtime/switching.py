"""A live session's model connections: opening one, replacing it, and rotating before the cap.

The decisions (when to rotate, how long to wait between attempts, what to replay) are pure, in
:mod:`~companion.realtime.reconnect` and :mod:`~companion.realtime.mirror`; this mixin carries them out
for :class:`~companion.realtime.session.LiveSession`. While a switch happens the session is
``reconnecting``: the client's events are held, the model's confirmations are awaited, and the refresh
lock is held so that no save is applied to a connection about to be replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from companion.errors import CompanionError, SessionNotActive, UpstreamError, UpstreamLost, UpstreamRejected
from companion.realtime import protocol
from companion.realtime.endings import Ending
from companion.realtime.links import ClientLink, UpstreamLink
from companion.realtime.metrics import Metrics
from companion.realtime.mirror import ConversationMirror
from companion.realtime.policy import RelayPolicy, merge
from companion.realtime.reconnect import (
    ConnectReason,
    HeldEvents,
    retry_delay_s,
    rotate_after_s,
    worth_retrying,
)
from companion.realtime.records import ENDED, ConnectionRecord, Status
from companion.realtime.refreshing import Refreshing
from companion.realtime.upstream import Connector

log = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 10.0  # one attempt: connect + session.created + first confirmed update
ROTATION_RETRY_S: Final = 30.0  # a rotation that could not open a new model session tries again after this
QUIET_POLL_S: Final = 0.1  # how often a due rotation looks for a quiet moment
MAX_READER_FAILURES: Final = 3  # a reader that keeps failing on the same conversation is a bug: close


class Switching(Refreshing):
    """The model-connection half of a live session (a mixin: one object)."""

    connections: list[ConnectionRecord]
    policy: RelayPolicy
    mirror: ConversationMirror
    held: HeldEvents
    _client: ClientLink
    _connector: Connector
    _metrics: Metrics | None
    _tasks: set[asyncio.Task[Any]]
    _answering: int
    _answers: list[Any]  # the tool calls of the current response the relay answers
    _reader_failures: int
    _opened: int  # model connections opened, kept or not (numbers them)

    if TYPE_CHECKING:  # provided by LiveSession

        def _set_status(self, status: Status) -> None: ...

        async def _end(self, ending: Ending, message: str) -> None: ...

        def _on_model_event(self, link: UpstreamLink, event: dict[str, Any]) -> None: ...

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
        self._opened += 1
        link = UpstreamLink(conn, number=self._opened, reason=reason, clock=self._clock)
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
            try:
                effective = await self._update_and_confirm(link, session, prepared)
            except UpstreamRejected:
                if not self.policy.client_session:
                    raise
                # What the client set once may not be accepted by a new session: it must not cost
                # the conversation. Start from the server's settings alone.
                log.warning("session %s: the client's session settings were refused; dropped", self.id)
                self.policy.client_session = {}
                session = {
                    **self._config.base_session(built),
                    "instructions": built.text,
                    "tools": prepared.tools,
                }
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

    def _install(self, link: UpstreamLink) -> None:
        """Make ``link`` the session's model connection (the caller replays history and flushes)."""
        old, self.link = self.link, link
        if old is not None:
            old.retired = True
            old.stop_rotation()  # now, not when its close task runs: the timer holds the session
            self.spawn(old.close(), f"model-close-{old.number}")
        if link.rotate_after_s is not None:  # a timer, not a task sleeping for most of an hour
            delay = max(0.0, link.opened_at + link.rotate_after_s - self._clock())
            link.rotation = asyncio.get_running_loop().call_later(delay, self._rotation_due, link)

    def _record_connection(self, link: UpstreamLink, started: float | None) -> None:
        """``started``: when the previous connection was lost or its replacement began (None at start)."""
        resume_ms = None if started is None else (self._clock() - started) * 1000
        self.connections.append(ConnectionRecord(link.number, link.reason, datetime.now(UTC), resume_ms))
        if self._metrics is not None:
            self._metrics.upstream_connections.labels(reason=link.reason.value).inc()
            if resume_ms is not None:
                self._metrics.resume_seconds.labels(reason=link.reason.value).observe(resume_ms / 1000)

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
                if rotation and replacing.retired:
                    return  # lost meanwhile: the reconnection its loss started takes over
                if rotation:
                    log.info("session %s: rotation failed, staying on the current model session", self.id)
                    with contextlib.suppress(UpstreamLost):  # if it is gone, its loss reconnects
                        await self._resume(replacing)
                        self.spawn(self._retry_rotation(replacing), "rotation-retry")
                    return
                message = exc.message if isinstance(exc, CompanionError) else "no answer from the model"
                log.warning("session %s: could not replace the model connection: %s", self.id, message)
                self.spawn(self._end(Ending.UPSTREAM_LOST, message), "end")
                return
            if self.status in ENDED:
                await link.close()
                return
            self._install(link)
            self._cut_response()  # an answer the old session began meanwhile ends with it
            self.mirror.new_link()
            try:
                # the client has heard all this: never shown again
                for item in self.mirror.replay(new_id=lambda: self.policy.hidden_item_id("replay")):
                    await link.send(protocol.conversation_item_create(item))
                await self._resume(link)
            except UpstreamLost:
                self._lost(link, ConnectReason.DROPPED)
                return
            self._record_connection(link, started)
        log.info(
            "session %s: model connection %d (%s) in %.0f ms",
            self.id,
            link.number,
            reason.value,
            (self._clock() - started) * 1000,
        )

    async def _resume(self, link: UpstreamLink) -> None:
        """Send what the client said during the switch, then relay again.

        What the client sends while the held events go out is held too and sent after them; the
        session turns active only once nothing is held, with no wait in between, so none is lost or
        overtaken.
        """
        while batch := self.held.release(self._clock()):
            for held in batch:
                try:
                    await link.send(dict(held.event), frame=held.frame)
                except UpstreamLost:
                    self._lost(link, ConnectReason.DROPPED)
                    raise
        if self._metrics is not None:
            self._metrics.held_audio_dropped.inc(self.held.newly_dropped())
        self._set_status(Status.ACTIVE)

    async def _retry_rotation(self, link: UpstreamLink) -> None:
        await asyncio.sleep(ROTATION_RETRY_S)
        await self._rotate_when_quiet(link)

    def _rotation_due(self, link: UpstreamLink) -> None:
        link.rotation = None
        if self.link is link and not link.retired and self.status not in ENDED:
            self.spawn(self._rotate_when_quiet(link), f"rotation-{link.number}")

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
        self._cut_response()
        if self.status is Status.ACTIVE:
            self._set_status(Status.RECONNECTING)
        self.spawn(self._switch(reason, link, self._clock()), "reconnect")

    def _cut_response(self) -> None:
        """The model session is going: its answer in progress ends for the client, incomplete, and
        tool calls it made are forgotten (their ids mean nothing to the next model session)."""
        cut = self.mirror.cut_response()
        if cut is not None:
            self._client.offer(cut)
        self._answers.clear()
        self.policy.connection_ended()
        self._idle.set()

    def _on_model_events(self, link: UpstreamLink, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._on_model_event(link, event)

    async def _read_model(self, link: UpstreamLink) -> None:
        """The one reader of a model connection. Never blocks on the client; its end is handled."""
        reason = ConnectReason.DROPPED
        try:
            while not link.retired:
                # Through a call, not a loop variable here: the last event (a session.updated holds
                # the whole ~25 KB session) must not stay alive while the next is awaited.
                self._on_model_events(link, await link.conn.recv())
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
