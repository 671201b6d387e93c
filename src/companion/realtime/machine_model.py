"""The session machine's model-connection half: opening a connection, replacing it (rotation before the
cap, reconnection after a loss), and refreshing its instructions, confirmed. Sans-I/O, like the rest of
:class:`~companion.realtime.machine.SessionMachine`, which extends it (the hooks at the end are its).

Instructions belong to the server: built from the care profile, sent with ``session.update`` and
confirmed (the next ``session.updated`` carrying exactly the text sent, or an ``error`` naming our
``event_id``, or a deadline) before the client's first byte is relayed, on every refresh, and on every
new model connection. A confirmation that comes after its deadline is still adopted. One update is in
flight at a time, and none while the connection is being replaced: a save made during a switch is
applied to the new model session, in order, and a refresh whose connection ended under it runs again on
the new one. Its callers wait no longer than the refresh timeout, though (as for a refresh routed to
another instance): past it they are told so, and the refresh goes on by itself.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from companion.errors import CompanionError, UpstreamError, UpstreamTimeout
from companion.profiles.models import CareContext, Music
from companion.prompt import Instructions
from companion.realtime import protocol
from companion.realtime.actions import (
    Action,
    CloseModel,
    Connected,
    HeldAudioDropped,
    OpenModel,
    Prepare,
    RefreshAnswered,
    Refreshed,
    RefreshFailed,
    SendModel,
)
from companion.realtime.endings import Ending
from companion.realtime.machine_parts import (
    MAX_READER_FAILURES,
    MAX_WAIT_FOR_RESPONSE_S,
    MIN_CONFIRM_S,
    ROTATION_RETRY_S,
    START_TIMEOUT_S,
    ModelLink,
    Opening,
    Pending,
    Refresh,
    Settled,
)
from companion.realtime.mirror import QUIET_SETTLE_S, ConversationMirror
from companion.realtime.policy import RelayPolicy, ToClient, merge
from companion.realtime.reconnect import (
    ConnectReason,
    HeldEvents,
    retry_delay_s,
    rotate_after_s,
    worth_retrying,
)
from companion.realtime.records import (
    ENDED,
    TRANSITIONS,
    ConnectionRecord,
    Prepared,
    RefreshRecord,
    RefreshResult,
    SessionConfig,
    Status,
)
from companion.realtime.saying import SayRequests

log = logging.getLogger(__name__)


class ModelHalf:
    """State and decisions about the model connections and the instructions on them."""

    def __init__(
        self, *, session_id: str, config: SessionConfig, greet: bool, jitter: Callable[[], float]
    ) -> None:
        self.id = session_id
        self.greet = greet
        self.status = Status.STARTING
        self.closed_at: datetime | None = None
        self.policy = RelayPolicy()
        self.mirror = ConversationMirror()
        self.held = HeldEvents()
        self.asks = SayRequests()
        self.link: ModelLink | None = None  # the connection in use
        self.connections: list[ConnectionRecord] = []
        self.instructions: Instructions | None = None
        self.previous_instructions: Instructions | None = None
        self.instructions_updated_at: datetime | None = None
        self.last_refresh: RefreshRecord | None = None
        self.music: Music | None = None  # the person's music preferences, for the music guard
        self.prepared_last: Prepared | None = None  # what the model runs with, without its context
        self._greeting: CareContext | None = None  # the first context, until the greeting is said
        self._config = config
        self._jitter = jitter
        self._opening: Opening | None = None
        self._refresh: Refresh | None = None  # the refresh under way
        self._refreshes: deque[Refresh] = deque()  # waiting their turn (the first one takes new callers)
        self._tools_sent: list[dict[str, Any]] | None = None
        self._reader_failures = 0
        self._opened = 0  # model connections asked for (names them for the driver)
        self._connected = 0  # model connections that opened, kept or not (numbers them)
        self._counter = itertools.count(1)
        self._wall_offset = 0.0
        self._out: list[Action] = []

    # ---- hooks the whole machine provides --------------------------------------------------------

    def _advance(self, now: float) -> None:
        raise NotImplementedError

    def _close(self, ending: Ending, reason: str | None, message: str | None, now: float) -> None:
        raise NotImplementedError

    def _greet(self, now: float) -> None:
        raise NotImplementedError

    def _forget_answers(self) -> None:
        raise NotImplementedError

    def _busy(self) -> bool:
        raise NotImplementedError

    def _note_cut(self, response_items: list[str], now: float) -> None:
        raise NotImplementedError

    def _note_switched(self, reason: ConnectReason, now: float) -> None:
        raise NotImplementedError

    # ---- inputs ----------------------------------------------------------------------------------

    def model_opened(self, number: int, now: float) -> list[Action]:
        """Connection ``number`` is open; its ``session.created`` is awaited."""
        opening = self._opening
        if opening is not None and opening.link is not None and opening.link.number == number:
            self._connected += 1
            opening.link.opened_at, opening.link.ordinal = now, self._connected
            opening.stage = "created"
        return self._take()

    def model_failed(self, number: int, error: CompanionError | TimeoutError, now: float) -> list[Action]:
        """Connection ``number`` could not be opened."""
        if self._opening_link(number):
            self._fail_attempt(error, now)
            self._advance(now)
        return self._take()

    def model_closed(
        self, number: int, now: float, *, code: int | None = None, broken: bool = False
    ) -> list[Action]:
        """Connection ``number`` ended (``code``: its close code), or its reader failed (``broken``)."""
        if self._opening_link(number):
            self._fail_attempt(UpstreamError("The realtime model closed the connection"), now)
        elif self.link is not None and self.link.number == number and not self.link.retired:
            link = self.link
            if broken:
                self._reader_failures += 1
                if self._reader_failures > MAX_READER_FAILURES:
                    self._close(Ending.INTERNAL, None, "The relay failed repeatedly; please reconnect", now)
                    return self._take()
            reason = ConnectReason.ERROR if broken else ConnectReason.DROPPED
            if link.expired or code == 1001:
                reason = ConnectReason.EXPIRED
            self._lost(link, reason, now)
        self._advance(now)
        return self._take()

    def send_failed(self, number: int, event: dict[str, Any], frame: str | None, now: float) -> list[Action]:
        """A send on connection ``number`` found it gone: it is lost, and the event waits for the next."""
        actions = self.model_closed(number, now)
        if self.status is Status.RECONNECTING:
            self.held.hold(event, frame, now)
        return actions

    def prepared(self, token: int, result: Prepared | CompanionError, now: float) -> list[Action]:
        """The person's context, read and built (or why not) for request ``token``."""
        opening, refresh = self._opening, self._refresh
        if opening is not None and opening.stage == "preparing" and opening.prepare_token == token:
            self._opening_prepared(opening, result, now)
        elif refresh is not None and refresh.stage == "preparing" and refresh.prepare_token == token:
            self._refresh_prepared(refresh, result, now)
        self._advance(now)
        return self._take()

    def refresh_requested(self, caller: int, now: float, *, shared: bool = False) -> list[Action]:
        """Rebuild from the store and apply, confirmed; ``RefreshAnswered`` / ``RefreshFailed`` name
        ``caller``. A caller that comes while a refresh waits its turn joins it; ``shared``: the caller
        has a preparation shared by all of the person's sessions (used unless another caller joins: that
        one may announce a change newer than the shared read)."""
        waiting = self._refreshes[0] if self._refreshes else None
        if waiting is not None and waiting.stage == "waiting" and waiting.callers:
            waiting.callers.append(caller)
            waiting.shared_caller = None
        else:
            baseline = self.instructions.version if self.instructions else None
            deadline = now + self._config.refresh_timeout_s
            self._refreshes.append(Refresh([caller], now, deadline, baseline, caller if shared else None))
        self._advance(now)
        return self._take()

    # ---- opening a model connection ---------------------------------------------------------------

    def _opening_link(self, number: int) -> bool:
        opening = self._opening
        return opening is not None and opening.link is not None and opening.link.number == number

    def _begin_opening(
        self, reason: ConnectReason, *, retry: bool, now: float, replacing: ModelLink | None
    ) -> None:
        if self._opening is not None and self._opening.link is not None:
            self._out.append(CloseModel(self._opening.link.number))  # a rotation a loss overtook
        self._opening = Opening(reason, retry, now, now + self._config.reconnect_s, replacing)
        if reason is not ConnectReason.START:
            self._set_status(Status.RECONNECTING)
        self._attempt(now)

    def _attempt(self, now: float) -> None:
        opening = self._opening
        assert opening is not None
        self._opened += 1
        opening.link = ModelLink(self._opened, opening.reason, now)
        opening.stage = "connecting"
        opening.attempt_deadline = now + START_TIMEOUT_S
        self._out.append(OpenModel(self._opened))

    def _model_event_elsewhere(self, number: int, event: dict[str, Any], now: float) -> None:
        """An event of a connection not (yet) in use: the one being opened, or one let go."""
        opening = self._opening
        if opening is None or opening.link is None or opening.link.number != number:
            return
        link = opening.link
        if opening.stage == "created":
            if event.get("type") != "session.created":
                self._fail_attempt(
                    UpstreamError(f"Expected session.created from the model, got {event.get('type')}"), now
                )
            else:
                self._plan_rotation(link, event, now)
                opening.stage = "preparing"
                opening.prepare_token = self._token()
                self._out.append(Prepare(opening.prepare_token))
        else:
            settled = link.settle(event)
            if settled is not None and opening.stage == "confirming":
                self._opening_settled(opening, settled, now)
            elif settled is None:
                link.note_items(event)
                if event.get("type") == "error":
                    log.warning(
                        "session %s: model connection %d (not yet in use) sent an error", self.id, number
                    )
        self._advance(now)

    def _plan_rotation(self, link: ModelLink, created: dict[str, Any], now: float) -> None:
        session = created.get("session")
        expires_at = session.get("expires_at") if isinstance(session, dict) else None
        wall = now + self._wall_offset
        expires_in = float(expires_at) - wall if isinstance(expires_at, int | float) else None
        link.rotate_at = link.opened_at + rotate_after_s(self._config.max_session_s, expires_in_s=expires_in)
        link.max_age_s = expires_in or self._config.max_session_s

    def _opening_prepared(self, opening: Opening, result: Prepared | CompanionError, now: float) -> None:
        if isinstance(result, CompanionError):
            if self.prepared_last is None:
                self._fail_attempt(result, now)
                return
            log.warning("session %s: profile unavailable, reusing the last instructions", self.id)
            result = self.prepared_last
        self._take_context(result)
        opening.prepared = result
        built = result.built
        session = merge(self._config.base_session(built), self.policy.client_session)
        session.update(type="realtime", instructions=built.text, tools=result.tools)
        opening.stage = "confirming"
        self._update(
            opening.link, session, result, min(now + self._config.refresh_timeout_s, opening.attempt_deadline)
        )

    def _opening_settled(self, opening: Opening, settled: Settled, now: float) -> None:
        if settled.error is None:
            assert settled.session is not None
            self._opened_ok(opening, settled.session, now)
            return
        if not self.policy.client_session:
            self._fail_attempt(settled.error, now)
            return
        # What the client set once may not be accepted by a new session: it must not cost the
        # conversation. Start from the server's settings alone.
        log.warning("session %s: the client's session settings were refused; dropped", self.id)
        self.policy.client_session = {}
        prepared = settled.pending.prepared
        session = {
            **self._config.base_session(prepared.built),
            "instructions": prepared.built.text,
            "tools": prepared.tools,
        }
        self._update(opening.link, session, prepared, settled.pending.deadline)

    def _update(
        self, link: ModelLink | None, session: dict[str, Any], prepared: Prepared, deadline: float
    ) -> None:
        """Send one ``session.update``; its confirmation is awaited until ``deadline``."""
        assert link is not None
        event_id = protocol.new_event_id("evt_refresh")
        timeout = self._config.refresh_timeout_s
        link.pending = Pending(event_id, prepared.built.text, prepared, deadline, timeout)
        frame = None
        if session.keys() == {"type", "instructions"}:  # the usual refresh: the person's sessions share it
            frame = protocol.instructions_update_frame(event_id, session["instructions"])
        self._out.append(SendModel(link.number, protocol.session_update(event_id, session), frame))

    def _fail_attempt(self, error: CompanionError | TimeoutError, now: float) -> None:
        opening = self._opening
        assert opening is not None and opening.link is not None
        self._out.append(CloseModel(opening.link.number))
        opening.link.retired = True
        if self.status in ENDED:
            return
        delay = retry_delay_s(opening.attempt + 1, self._jitter())
        if opening.retry and worth_retrying(error) and now + delay <= opening.give_up_at:
            log.info("session %s: model connection attempt %d failed, retrying", self.id, opening.attempt + 1)
            opening.stage, opening.retry_at = "retrying", now + delay
            opening.attempt += 1
            return
        self._opening = None
        message = error.message if isinstance(error, CompanionError) else None
        if opening.reason is ConnectReason.START:
            message = message or "the realtime model did not start"
            log.warning("session %s could not start: %s", self.id, message)
            self._close(Ending.UPSTREAM_UNAVAILABLE, None, message, now)
        elif opening.reason is ConnectReason.ROTATION:
            log.info("session %s: rotation failed, staying on the current model session", self.id)
            if self.link is not None:
                self.link.rotate_at = now + ROTATION_RETRY_S
            self._resume(now)
        else:
            message = message or "no answer from the model"
            log.warning("session %s: could not replace the model connection: %s", self.id, message)
            self._close(Ending.UPSTREAM_LOST, None, message, now)

    def _opened_ok(self, opening: Opening, effective: dict[str, Any], now: float) -> None:
        link = opening.link
        assert link is not None and opening.prepared is not None
        self._opening = None
        self._adopt(opening.prepared, now)
        old, self.link = self.link, link
        resume_ms = None if opening.reason is ConnectReason.START else (now - opening.started) * 1000
        record = ConnectionRecord(link.ordinal, link.reason, self._wall(now), resume_ms)
        self.connections.append(record)
        self._out.append(Connected(record))
        self._note_switched(link.reason, now)
        if old is None:
            self._out.append(ToClient(self.policy.client_session_event("session.created", effective)))
            self._set_status(Status.ACTIVE)
            self._greet(now)
            return
        old.retired = True
        self._out.append(CloseModel(old.number))
        self._cut_response(now)  # an answer the old session began meanwhile ends with it
        self.mirror.new_link()
        # the client has heard all this: never shown again
        for item in self.mirror.replay(new_id=lambda: self.policy.hidden_item_id("replay")):
            self._out.append(SendModel(link.number, protocol.conversation_item_create(item)))
        self._resume(now)
        log.info(
            "session %s: model connection %d (%s) in %.0f ms",
            self.id,
            link.ordinal,
            link.reason.value,
            (now - opening.started) * 1000,
        )

    def _resume(self, now: float) -> None:
        """Send what the client said during the switch, in order, then relay again."""
        link = self.link
        assert link is not None
        for held in self.held.release(now):
            self._out.append(SendModel(link.number, dict(held.event), held.frame))
        dropped = self.held.newly_dropped()
        if dropped:
            self._out.append(HeldAudioDropped(dropped))
        self._set_status(Status.ACTIVE)

    # ---- replacing it -----------------------------------------------------------------------------

    def _lost(self, link: ModelLink, reason: ConnectReason, now: float) -> None:
        """The connection in use is gone: hold the client, end its answer, reconnect."""
        if link is not self.link or link.retired or self.status in ENDED:
            return
        link.retired = True
        log.info("session %s: model connection %d ended (%s)", self.id, link.ordinal, reason.value)
        self._out.append(CloseModel(link.number))
        self._cut_response(now)
        refresh = self._refresh
        if refresh is not None:  # it runs again on the new connection, which gets the latest anyway
            self._refresh = None
            refresh.stage, refresh.shared_caller, refresh.link = "waiting", None, None
            self._refreshes.appendleft(refresh)
        self._begin_opening(reason, retry=True, now=now, replacing=link)

    def _cut_response(self, now: float) -> None:
        """The model session is going: its answer in progress ends for the client, incomplete, and the
        tool calls it made are forgotten (their ids mean nothing to the next model session)."""
        items = self.mirror.response_items
        cut = self.mirror.cut_response()
        if cut is not None:
            self._out.append(ToClient(cut))
            self._note_cut(items, now)
        self._forget_answers()
        self.policy.connection_ended()

    def _maybe_rotate(self, now: float) -> None:
        """At a quiet moment once it is due, move to a new model session before this one hits its cap."""
        link = self.link
        if (
            link is None
            or link.rotate_at is None
            or now < link.rotate_at
            or self.status is not Status.ACTIVE
            or self._refresh is not None
            or self._busy()
            or not self.mirror.quiet(now)
        ):
            return
        link.rotate_at = None
        self._begin_opening(ConnectReason.ROTATION, retry=False, now=now, replacing=link)

    # ---- refreshing ------------------------------------------------------------------------------

    def _run_refresh(self, now: float) -> None:
        if self._refresh is not None or not self._refreshes or self.status is not Status.ACTIVE:
            return
        refresh = self._refresh = self._refreshes.popleft()
        refresh.stage = "preparing"
        refresh.prepare_token = self._token()
        self._out.append(Prepare(refresh.prepare_token, refresh.shared_caller))
        refresh.shared_caller = None  # a run after a loss reads for itself

    def _refresh_prepared(self, refresh: Refresh, result: Prepared | CompanionError, now: float) -> None:
        if isinstance(result, CompanionError):
            self._end_refresh(refresh, error=result)
            return
        self._take_context(result)
        built = result.built
        if self.instructions is not None and built.version == self.instructions.version:
            # Applied already: by this refresh before a loss, or by the new model session it waited for.
            applied = refresh.baseline is not None and refresh.baseline != built.version
            result_ = RefreshResult.REFRESHED if applied else RefreshResult.UNCHANGED
            self._end_refresh(refresh, record=self._record(result_, refresh.started, built.version, now))
            return
        session: dict[str, Any] = {"type": "realtime", "instructions": built.text}
        if result.tools != self._tools_sent:
            session["tools"] = result.tools
        refresh.prepared, refresh.session, refresh.link = result, session, self.link
        if self._config.after_response and self.mirror.response_active:
            refresh.stage = "answer"  # its callers are still answered by the deadline: it goes on after
            refresh.answer_deadline = now + MAX_WAIT_FOR_RESPONSE_S
        else:
            self._send_refresh(refresh, now)

    def _send_refresh(self, refresh: Refresh, now: float) -> None:
        refresh.stage = "confirming"
        left = refresh.deadline - now
        # once its callers have been answered, the update gets the whole refresh timeout
        deadline = now + left if left >= MIN_CONFIRM_S else now + self._config.refresh_timeout_s
        assert refresh.session is not None and refresh.prepared is not None
        self._update(refresh.link, refresh.session, refresh.prepared, deadline)

    def _settle(self, link: ModelLink, event: dict[str, Any], now: float) -> bool:
        """A confirmation or refusal of an update on the connection in use: ours alone, never relayed."""
        settled = link.settle(event)
        if settled is None:
            return False
        version = settled.pending.prepared.built.version
        refresh = self._refresh
        if settled.late:
            if settled.error is None:
                self._adopt(settled.pending.prepared, now)
                log.info("session %s: the model confirmed version %s late", self.id, version)
                self._record(RefreshResult.REFRESHED, now, version, now, "confirmed late")
            return True
        if refresh is None or refresh.stage != "confirming":
            return True
        if settled.error is None:
            self._adopt(settled.pending.prepared, now)
            record = self._record(RefreshResult.REFRESHED, refresh.started, version, now)
            self._end_refresh(refresh, record=record)
        else:
            self._record(RefreshResult.REJECTED, refresh.started, version, now, settled.error.message)
            self._end_refresh(refresh, error=settled.error)
        return True

    def _end_refresh(
        self, refresh: Refresh, *, record: RefreshRecord | None = None, error: CompanionError | None = None
    ) -> None:
        if refresh is self._refresh:
            self._refresh = None
        callers, refresh.callers = tuple(refresh.callers), []
        if not callers:
            return
        if record is not None:
            self._out.append(RefreshAnswered(callers, record))
        else:
            assert error is not None
            self._out.append(RefreshFailed(callers, error))

    def _fail_refreshes(self, error: CompanionError) -> None:
        for refresh in [*([self._refresh] if self._refresh else []), *self._refreshes]:
            self._end_refresh(refresh, error=error)
        self._refresh = None
        self._refreshes.clear()

    def _refresh_deadlines(self, now: float) -> None:
        """The model's confirmation that did not come in time, an answer waited for too long, and the
        callers whose wait reached its bound (the refresh goes on and applies the latest when it can)."""
        refresh = self._refresh
        waited = refresh is not None and refresh.stage == "answer"
        if (
            refresh is not None
            and waited
            and (not self.mirror.response_active or now >= refresh.answer_deadline)
        ):
            self._send_refresh(refresh, now)
        link = self.link
        pending = link.pending if link is not None else None
        if (
            refresh is not None
            and refresh.stage == "confirming"
            and pending is not None
            and now >= pending.deadline
        ):
            assert link is not None
            link.pending, link.late = None, pending  # a later confirmation of exactly it is still adopted
            message = (
                f"The realtime model did not confirm the new instructions within {pending.timeout_s:g} s"
            )
            self._record(RefreshResult.TIMEOUT, refresh.started, pending.prepared.built.version, now, message)
            self._end_refresh(refresh, error=UpstreamTimeout(message))
        for waiting in [*([self._refresh] if self._refresh else []), *self._refreshes]:
            if waiting.callers and now >= waiting.deadline:
                self._end_refresh_callers(waiting)

    def _end_refresh_callers(self, refresh: Refresh) -> None:
        # Waiting behind a switch of the model connection (its retries and start can take ~40 s): the
        # callers are answered now, as a refresh routed to another instance would be.
        callers, refresh.callers = tuple(refresh.callers), []
        self._out.append(
            RefreshFailed(
                callers,
                UpstreamTimeout(
                    f"The realtime model did not confirm the new instructions within "
                    f"{self._config.refresh_timeout_s:g} s; they will be applied as soon as it can"
                ),
            )
        )

    def _adopt(self, prepared: Prepared, now: float) -> None:
        """The model runs with ``prepared`` now."""
        self.prepared_last = replace(prepared, context=None)  # the fallback keeps no copy of the profile
        self._take_context(prepared)
        self._tools_sent = prepared.tools
        if self.instructions is None or self.instructions.version != prepared.built.version:
            self.previous_instructions = self.instructions
            self.instructions = prepared.built
            self.instructions_updated_at = self._wall(now)

    def _take_context(self, prepared: Prepared) -> None:
        """Keep what the live conversation needs of a fresh context: the music preferences (the music
        guard), and the whole context only until the greeting is said."""
        if prepared.context is None:
            return
        self.music = prepared.context.music
        if self.greet and self.status is Status.STARTING:
            self._greeting = prepared.context

    def _record(
        self, result: RefreshResult, started: float, version: str, now: float, message: str = ""
    ) -> RefreshRecord:
        record = RefreshRecord(result, self._wall(now), (now - started) * 1000, version, message)
        self.last_refresh = record
        self._out.append(Refreshed(record))
        return record

    # ---- what is due, and when -------------------------------------------------------------------

    def _advance_model(self, now: float) -> None:
        opening = self._opening
        if opening is not None:
            if opening.stage == "retrying":
                if now >= opening.retry_at:
                    self._attempt(now)
            elif now >= opening.attempt_deadline or (
                opening.link is not None
                and opening.link.pending is not None
                and now >= opening.link.pending.deadline
            ):
                error: CompanionError | TimeoutError = TimeoutError()
                if opening.stage == "confirming":
                    error = UpstreamTimeout("The realtime model did not confirm the new instructions in time")
                self._fail_attempt(error, now)
        if self.status in ENDED:
            return
        self._refresh_deadlines(now)
        self._run_refresh(now)
        self._maybe_rotate(now)

    def _model_deadlines(self, now: float) -> list[float | None]:
        times: list[float | None] = []
        opening = self._opening
        if opening is not None:
            times.append(opening.retry_at if opening.stage == "retrying" else opening.attempt_deadline)
            if opening.link is not None and opening.link.pending is not None:
                times.append(opening.link.pending.deadline)
        refresh = self._refresh
        if refresh is not None and refresh.stage == "answer":
            times.append(refresh.answer_deadline)
        if self.link is not None and self.link.pending is not None:
            times.append(self.link.pending.deadline)
        for waiting in [*([refresh] if refresh else []), *self._refreshes]:
            if waiting.callers:
                times.append(waiting.deadline)
        link = self.link
        if link is not None and link.rotate_at is not None:
            times.append(link.rotate_at if now < link.rotate_at else self._quiet_at())
        return times

    def _quiet_at(self) -> float | None:
        """When the conversation will be quiet if nothing happens (None: only an event can make it so)."""
        if self.mirror.response_active or self.mirror.person_speaking:
            return None
        return self.mirror.last_activity + QUIET_SETTLE_S

    # ---- plumbing --------------------------------------------------------------------------------

    def _wall(self, now: float) -> datetime:
        return datetime.fromtimestamp(now + self._wall_offset, UTC)

    def _set_status(self, status: Status) -> None:
        if status is self.status:
            return
        if status not in TRANSITIONS[self.status]:
            raise RuntimeError(f'Cannot move session from "{self.status}" to "{status}".')
        self.status = status

    def _close_model(self, now: float) -> None:
        for link in (self.link, self._opening.link if self._opening else None):
            if link is not None and not link.retired:
                link.retired = True
                self._out.append(CloseModel(link.number))
        self._opening = None

    def _token(self) -> int:
        return next(self._counter)

    def _take(self) -> list[Action]:
        out, self._out = self._out, []
        return out
