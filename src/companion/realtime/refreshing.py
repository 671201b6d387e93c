"""Refreshing a live session's instructions: a save of the care profile reaches the model, confirmed.

Every ``session.update`` the relay sends waits for the model to confirm exactly it (the next
``session.updated`` echoing the text sent), to refuse it (an ``error`` naming our ``event_id``), or for a
timeout; a confirmation that comes after the timeout is still adopted. One update is in flight at a
time, and none while the model connection is being replaced: a save made during a switch is applied to
the new model session, in order, and a refresh whose connection ended under it waits for the new one.
Its caller waits no longer than the refresh timeout, though (as a refresh routed to another instance):
past it, the caller is told so and the refresh goes on by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

from companion.errors import (
    CompanionError,
    SessionNotActive,
    UpstreamLost,
    UpstreamRejected,
    UpstreamTimeout,
)
from companion.profiles.models import CareContext, Music
from companion.prompt import Instructions
from companion.realtime import protocol
from companion.realtime.links import Settled, UpstreamLink
from companion.realtime.records import (
    ENDED,
    Prepared,
    Preparer,
    RefreshObserver,
    RefreshRecord,
    RefreshResult,
    SessionConfig,
    Status,
    UserPreparer,
)

if TYPE_CHECKING:
    from companion.realtime.session import LiveSession

log = logging.getLogger(__name__)

MAX_WAIT_FOR_RESPONSE_S: Final = 30.0  # "after_response" refreshes never wait longer than one long answer
# A caller waits for its refresh at most the refresh timeout (plus this, so that the refresh's own
# timeout, due at the same moment, is recorded first), whatever the refresh waits for (a switch of the
# model connection); only an "after_response" refresh's wait for the answer to end is added to it.
CALLER_SLACK_S: Final = 0.05
MIN_CONFIRM_S: Final = 0.05  # less left before the caller's deadline: the update gets the whole timeout


@dataclass(slots=True)
class RefreshBound:
    """When the callers of a refresh stop waiting for it (loop time): the refresh timeout from the call,
    plus only the time an ``after_response`` refresh waited for the answer to end, by the setting."""

    deadline: float
    paused_at: float | None = None  # waiting for the answer to end since then: the clock is stopped

    def left(self, now: float) -> float:
        """Seconds until the callers stop waiting (while paused, the budget left when it paused)."""
        return self.deadline - (now if self.paused_at is None else self.paused_at)

    def pause(self, now: float) -> None:
        self.paused_at = now

    def resume(self, now: float) -> None:
        if self.paused_at is not None:
            self.deadline += now - self.paused_at
            self.paused_at = None


def _retrieved(task: asyncio.Task[Any]) -> None:
    """A refresh's outcome is read even if no caller waits any more (no "never retrieved" warning)."""
    if not task.cancelled():
        task.exception()


class Refreshing:
    """The instructions half of :class:`~companion.realtime.session.LiveSession` (a mixin: one object)."""

    id: str
    user_id: str
    status: Status
    link: UpstreamLink | None
    greet: bool
    music: Music | None
    _greeting: CareContext | None
    instructions: Instructions | None
    previous_instructions: Instructions | None
    instructions_updated_at: datetime | None
    last_refresh: RefreshRecord | None
    _config: SessionConfig
    _clock: Callable[[], float]
    _prepare_user: UserPreparer
    _on_refresh: RefreshObserver | None
    _prepared: Prepared | None
    _tools_sent: list[dict[str, Any]] | None
    _refresh_lock: asyncio.Lock
    _pending_refresh: asyncio.Task[RefreshRecord] | None
    _refresh_bound: RefreshBound | None
    _pending_prepare: Preparer | None
    _idle: asyncio.Event
    _active: asyncio.Event
    _closed: asyncio.Event

    if TYPE_CHECKING:  # provided by LiveSession

        def spawn(
            self, coro: Coroutine[Any, Any, Any], name: str = "task", *, awaited: bool = False
        ) -> asyncio.Task[Any]: ...

        @property
        def response_active(self) -> bool: ...

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
            bound = RefreshBound(asyncio.get_running_loop().time() + self._config.refresh_timeout_s)
            pending = self.spawn(self._refresh_when_free(baseline, bound), "refresh", awaited=True)
            pending.add_done_callback(_retrieved)  # its callers may all have stopped waiting
            self._pending_refresh, self._refresh_bound = pending, bound
        else:
            self._pending_prepare = None
            assert self._refresh_bound is not None
            bound = self._refresh_bound  # a joining caller waits no longer than the first
        loop = asyncio.get_running_loop()
        while True:
            left = bound.left(loop.time()) + CALLER_SLACK_S
            if left <= 0:
                # Waiting behind a switch of the model connection (its retries and start can take
                # ~40 s): the caller is answered now, as a refresh routed to another instance would be;
                # the refresh itself goes on and applies the latest when it can.
                raise UpstreamTimeout(
                    f"The realtime model did not confirm the new instructions within "
                    f"{self._config.refresh_timeout_s:g} s; they will be applied as soon as it can"
                )
            await asyncio.wait({pending}, timeout=left)  # a caller that leaves does not cancel it
            if pending.done():
                return pending.result()

    async def _refresh_when_free(self, baseline: str | None, bound: RefreshBound) -> RefreshRecord:
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
                    return await self._refresh_now(prepare or self._prepare, started, baseline, bound)
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

    async def _refresh_now(
        self, prepare: Preparer, started: float, baseline: str | None, bound: RefreshBound | None = None
    ) -> RefreshRecord:
        """``bound``: when the callers stop waiting. The model's confirmation is awaited until then, so
        the refresh records its own timeout before its callers give up on it."""
        prepared = await prepare()
        self._take_context(prepared)
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
        loop = asyncio.get_running_loop()
        if self._config.after_response and self.response_active:
            if bound is not None:  # the wait the setting asks for is not counted against the caller
                bound.pause(loop.time())
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), MAX_WAIT_FOR_RESPONSE_S)
            finally:
                if bound is not None:
                    bound.resume(loop.time())
        timeout = None  # the whole refresh timeout: once its caller has been answered, on its own bound
        if bound is not None and bound.left(loop.time()) >= MIN_CONFIRM_S:
            timeout = bound.left(loop.time())
        try:
            await self._update_and_confirm(link, session, prepared, within_s=timeout)
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
        self,
        link: UpstreamLink,
        session: dict[str, Any],
        prepared: Prepared,
        *,
        within_s: float | None = None,
    ) -> dict[str, Any]:
        """Send one ``session.update`` and wait for the model to accept or refuse exactly it
        (``within_s``: at most this long; the refresh timeout by default)."""
        timeout = self._config.refresh_timeout_s if within_s is None else within_s
        event_id = protocol.new_event_id("evt_refresh")
        confirmation = link.expect(event_id, prepared.built.text, prepared)
        frame = None
        if session.keys() == {"type", "instructions"}:  # the usual refresh: the person's sessions share it
            frame = protocol.instructions_update_frame(event_id, session["instructions"])
        await link.send(protocol.session_update(event_id, session), frame=frame)
        try:
            return await asyncio.wait_for(asyncio.shield(confirmation.future), timeout)
        except TimeoutError:
            link.give_up(confirmation)
            raise UpstreamTimeout(
                f"The realtime model did not confirm the new instructions within "
                f"{self._config.refresh_timeout_s:g} s"
            ) from None

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

    def _adopt(self, prepared: Prepared) -> None:
        """The model runs with ``prepared`` now."""
        self._prepared = replace(prepared, context=None)  # the fallback keeps no copy of the profile
        self._take_context(prepared)
        self._tools_sent = prepared.tools
        if self.instructions is None or self.instructions.version != prepared.built.version:
            self.previous_instructions = self.instructions
            self.instructions = prepared.built
            self.instructions_updated_at = datetime.now(UTC)

    def _take_context(self, prepared: Prepared) -> None:
        """Keep what the live conversation needs of a fresh context: the music preferences (the music
        guard), and the whole context only until the greeting is said."""
        if prepared.context is None:
            return
        self.music = prepared.context.music
        if self.greet and self.status is Status.STARTING:
            self._greeting = prepared.context

    def _record(
        self, result: RefreshResult, started: float, version: str, message: str = ""
    ) -> RefreshRecord:
        record = RefreshRecord(result, datetime.now(UTC), (self._clock() - started) * 1000, version, message)
        self.last_refresh = record
        if self._on_refresh is not None:
            self._on_refresh(cast("LiveSession", self), record)
        return record
