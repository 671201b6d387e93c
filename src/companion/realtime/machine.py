"""One live conversation's decisions, sans-I/O: plain data in, plain data out, the time passed in.

In the manner of python-websockets' ``protocol.py``: :class:`SessionMachine` is fed what happens
(``receive_client``, ``receive_model``, ``model_opened`` / ``model_failed`` / ``model_closed``,
``prepared``, ``tool_done``, ``refresh_requested``, ``say_requested``, ``client_left``, ``close``,
``tick``), each with ``now`` (a monotonic clock), and answers with a list of
:mod:`~companion.realtime.actions` for the driver (:class:`~companion.realtime.session.LiveSession`) to
carry out, plus :meth:`SessionMachine.next_deadline`, the one moment the driver's timer wakes it. Its
parts are the pure pieces that were already there: :class:`~companion.realtime.policy.RelayPolicy`
(what each event becomes), :class:`~companion.realtime.mirror.ConversationMirror` (what was said),
:mod:`~companion.realtime.reconnect` (when to rotate, how long to retry, what to hold) and
:mod:`~companion.realtime.greeting`; :mod:`~companion.realtime.machine_model` holds the model-connection
half (opening, replacing, refreshing). There is no asyncio here, and nothing sleeps: a test moves
``now`` itself.

The states (``Status``) and what moves between them are in ``docs/session.md``::

    starting ──> active <──> reconnecting
        │           │             │
        └───────────┴─────────────┴──> closing ──> closed
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, Final

from companion.conversations import summary as summaries
from companion.conversations.notes import Abandoned, Connected, ConnectionKind, Ended, Summarised
from companion.errors import SessionNotActive
from companion.realtime import protocol
from companion.realtime.actions import (
    Action,
    CloseClient,
    CloseModel,
    GreetingSaid,
    SayAnswered,
    SendModel,
    StartTool,
    Tokens,
)
from companion.realtime.endings import ClientErrorCode, Ending
from companion.realtime.greeting import greeting_message
from companion.realtime.machine_model import ModelHalf
from companion.realtime.machine_parts import Answer, ReadOut, Say
from companion.realtime.mirror import QUIET_SETTLE_S
from companion.realtime.policy import (
    AnswerTool,
    ModelExpired,
    RunTool,
    SendAnswers,
    ToClient,
    ToModel,
    ToolOutcome,
)
from companion.realtime.reconnect import ConnectReason
from companion.realtime.recording import DRAIN_S, ENDED_HOW, NoteTaker, RunningSummaries, SummaryAsk
from companion.realtime.records import ENDED, SessionConfig, Status
from companion.realtime.saying import PLAY_WITHIN_S, RESPONSE_WITHIN_S

log = logging.getLogger(__name__)

FAILED_MESSAGE: Final = "The relay failed; please reconnect"
# Model events that stream an answer: they change nothing the machine waits on (the bulk of the traffic
# takes no look at deadlines, refreshes or rotations).
STREAMING: Final = frozenset(
    {
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
    }
)


class SessionMachine(ModelHalf):
    """The session's state and every decision about it. ``now``: the driver's monotonic clock."""

    def __init__(
        self,
        *,
        session_id: str,
        config: SessionConfig,
        greet: bool = False,
        credential_expires_in_s: float | None = None,
        notes: bool = False,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        """``notes``: make the recorder's notes (:meth:`record`). ``jitter``: [0, 1) for the
        reconnection backoff (a test passes a constant)."""
        super().__init__(session_id=session_id, config=config, greet=greet, jitter=jitter)
        self.turn_count = 0
        self.token_usage = 0
        self._notes: NoteTaker | None = None  # the recorder's notes are made (the session has a log)
        if notes:
            self.record()
        self._credential_expires_in_s = credential_expires_in_s
        self._expires_at: float | None = None
        self._answers: list[Answer] = []  # calls of the current response the relay answers
        self._batches: list[list[Answer]] = []  # done responses' calls, awaiting outputs and quiet
        self._says: dict[str, Say] = {}  # by instruction: the same one asked twice is said once
        self._greeting_say: Say | None = None
        self._greeting_note: str | None = None
        self._read_out: ReadOut | None = None
        self._left = False  # the client has left: the conversation ends as the person ended it
        self._summary_language: str | None = None  # once the client left: the summary to ask for
        self._summary: SummaryAsk | None = None  # the summary asked for, awaited
        self._language: Callable[[], str | None] | None = None  # the summaries' language (the log's)
        self._running: RunningSummaries | None = None  # a long conversation's summaries so far
        self._deadline: float | None = None
        self._dirty = True

    # ---- inputs: the lifecycle -------------------------------------------------------------------

    def start(self, now: float, wall: float, *, greeting_note: str | None = None) -> list[Action]:
        """Open the first model connection. ``wall``: the epoch time at ``now`` (for the model's
        ``expires_at`` and the greeting's local time). ``greeting_note``: a reminder the greeting says."""
        self._wall_offset = wall - now
        self._greeting_note = greeting_note
        if self._credential_expires_in_s is not None:
            self._expires_at = now + max(0.0, self._credential_expires_in_s)
            if self._expires_at <= now:
                log.info("session %s: its credential had expired, closing", self.id)
                self._close(Ending.CREDENTIAL_EXPIRED, None, None, now)
                return self._take()
        self._begin_opening(ConnectReason.START, retry=True, now=now, replacing=None)
        return self._take()

    def client_left(self, now: float, *, summary_language: str | None = None) -> list[Action]:
        """The client hung up (or the tablet dropped). An answer in progress, or about to start, is read
        to its end for a bounded moment, so that a server tool call already on its way is carried out
        (the person said they fell, then the tablet went); nothing new is asked of the model but, when
        the conversation is recorded and ``summary_language`` is given, its summary for the family
        (see :meth:`_leave`)."""
        if self.status in ENDED:
            return []
        self._left = True
        self._summary_language = summary_language
        if self.status is Status.ACTIVE and self.mirror.answer_may_come(now):
            self._read_out = ReadOut(now + self._config.read_out_s, self.turn_count)
            self._advance(now)
        else:
            self._leave(now)
        return self._take()

    def record(self, summary_language: Callable[[], str | None] | None = None) -> None:
        """From now on, make the recorder's notes (:mod:`~companion.realtime.recording`).
        ``summary_language``: the language a summary so far is written in, asked when one is due
        (the log's; None: none is wanted then); without it, no running summary is asked."""
        if self._notes is None:
            self._notes = NoteTaker(self.mirror, lambda item_id: item_id in self.policy.hidden, self._wall)
        if summary_language is not None:
            self._language = summary_language

    def close(
        self,
        now: float,
        ending: Ending = Ending.NORMAL,
        reason: str | None = None,
        message: str | None = None,
    ) -> list[Action]:
        """End the conversation: the model connections first (no paid session is left open), then the
        client, told why with an ``error`` first when the ending has a code for it and ``message``."""
        self._close(ending, reason, message, now)
        return self._take()

    def client_closed(self, now: float) -> list[Action]:
        """The driver has closed the client (after ``CloseClient``): the session is closed."""
        if self.status is Status.CLOSING:
            self._set_status(Status.CLOSED)
        return []

    def tick(self, now: float) -> list[Action]:
        """The time has come for something (the driver's one timer, at :meth:`next_deadline`)."""
        self._advance(now)
        return self._take()

    def next_deadline(self, now: float) -> float | None:
        """When the machine must be ticked next (None: nothing is timed). Only moments after ``now``:
        what is due has been done by the input that made it due."""
        if self.status in ENDED:
            return None
        if self._dirty:
            self._dirty = False
            found = [t for t in self._deadlines(now) if t is not None and t > now]
            self._deadline = min(found) if found else None
        return self._deadline

    # ---- inputs: the two sides -------------------------------------------------------------------

    def receive_client(self, text: str, now: float) -> list[Action]:
        """A frame from the client: checked by the policy; to the model, or held during a switch."""
        audio = protocol.parse_audio_append(text)  # most frames: no JSON tree, no list of decisions
        if audio is not None:
            link = self.link
            if self.status is Status.ACTIVE and link is not None:
                return [SendModel(link.number, audio, text)]
            self._to_model(audio, text, now)
            return self._take()
        if self.status in ENDED:
            return []
        items = self.link.items if self.link is not None else ()
        for decision in self.policy.from_client(text, items_on_link=items):
            if isinstance(decision, ToModel):
                self.asks.observe_client(decision.event)  # a truncate: a reminder was cut off
                self._to_model(decision.event, decision.frame, now)
            elif isinstance(decision, ToClient):
                self._out.append(decision)
        self._advance(now)
        return self._take()

    def receive_model(self, number: int, event: dict[str, Any], now: float) -> list[Action]:
        """One event from model connection ``number``: control first (our update's confirmation),
        then the conversation, then the client."""
        link = self.link
        if self.status in ENDED:
            return []
        so_far = self._running
        running = so_far.claim(number, event) if so_far is not None else None
        if running is not None:  # a summary so far: its events are no one else's business either
            if so_far is not None and running.done and running is so_far.ask:
                self._running_settled(running.text, now)
                self._advance(now)
            return self._take()
        summary = self._summary
        if summary is not None and summary.link == number and summary.claim(event):
            if summary.done:  # the summary's own response: no one else's business
                self._summarised(summary.text, now)
            return self._take()
        if link is None or link.number != number or self._opening_link(number):
            self._model_event_elsewhere(number, event, now)
            return self._take()
        if self._settle(link, event, now):
            self._advance(now)
            return self._take()
        link.note_items(event)
        kind = event.get("type")
        self.mirror.observe(event, now)
        self.asks.observe(event, now)
        streaming = kind in STREAMING
        if not streaming:
            if self._notes is not None:
                self._notes.model_event(kind, event, now, self._out)
            if kind == "response.done":
                self._count_response(event)
        out = self._out
        for decision in self.policy.from_model(event, music=self.music, age_fraction=link.age_fraction(now)):
            if type(decision) is ToClient:
                out.append(decision)
            else:
                self._carry_out(link.number, decision, now)
        if not streaming:
            self._advance(now)
        return self._take()

    def tool_done(self, token: int, output: dict[str, Any], now: float) -> list[Action]:
        """A server tool's run ended; its output goes to the model once the response is done."""
        for batch in (self._answers, *self._batches):
            for answer in batch:
                if answer.token == token:
                    answer.output = output
        self._advance(now)
        return self._take()

    def say_requested(self, instruction: str, within_s: float, now: float) -> list[Action]:
        """Have the model speak at the next quiet moment (nobody speaking, no answer being made):
        ``instruction`` goes in as a system message the client never sees, then ``response.create``
        naming the request; ``SayAnswered(instruction, ...)`` tells the outcome (``busy``: no quiet moment
        within ``within_s``). The same instruction asked again meanwhile is not said twice."""
        if self.status in ENDED:
            self._out.append(SayAnswered(instruction, "no_conversation"))
        elif instruction not in self._says:
            self._says[instruction] = Say(instruction, now + within_s)
            self._advance(now)
        return self._take()

    # ---- what is due -----------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        """Everything that may be due after an input or at a deadline, in order."""
        self._dirty = True
        if self.status in ENDED:
            return
        if self._expires_at is not None and now >= self._expires_at:
            log.info("session %s: its credential expired, closing", self.id)
            self._close(Ending.CREDENTIAL_EXPIRED, None, None, now)
            return
        self._advance_model(now)
        if self.status in ENDED:
            return
        self._send_answers(now)
        self._follow_says(now)
        self._start_says(now)
        self._check_running(now)
        self._check_summary(now)
        self._check_read_out(now)

    def _deadlines(self, now: float) -> list[float | None]:
        times = [self._expires_at, *self._model_deadlines(now)]
        quiet_at = self._quiet_at()
        for say in self._waiting_says():
            if say.key is None:
                times += [say.give_up_at, quiet_at]
            else:
                times += [say.respond_by, say.respond_by + PLAY_WITHIN_S, self.asks.heard_by(say.key)]
        if self._read_out is not None:
            times += [self._read_out.until, self.mirror.last_activity + QUIET_SETTLE_S]
        if self._summary is not None:
            times.append(self._summary.until)
        running = self._running
        if running is not None and (running.ask is not None or not self._left):
            times += running.deadlines()
            if running.quiet_until is not None:
                times.append(quiet_at)
        return times

    def _busy(self) -> bool:
        """Tool answers are still to go out, a request to speak awaits its answer, or the client has
        left: not a quiet moment for a rotation or another request, whatever the mirror says."""
        return (
            self._left
            or bool(self._batches)
            or any(s.key is not None for s in self._waiting_says())
            or (self._running is not None and self._running.ask is not None)
        )

    # ---- the client's side -----------------------------------------------------------------------

    def _to_model(self, event: dict[str, Any], frame: str | None, now: float) -> None:
        link = self.link
        if self.status is Status.ACTIVE and link is not None:
            self._out.append(SendModel(link.number, event, frame))
            return
        if self.status in ENDED:
            return
        if not self.held.hold(event, frame, now):
            self._out.append(
                ToClient(
                    protocol.error_event(
                        ClientErrorCode.BUSY_RECONNECTING,
                        "The conversation is reconnecting; this event was not kept",
                        event_id=event.get("event_id"),
                    )
                )
            )

    def _check_read_out(self, now: float) -> None:
        read_out = self._read_out
        if read_out is None:
            return
        over = (
            self.status is not Status.ACTIVE
            or self.turn_count != read_out.turns
            or not self.mirror.answer_may_come(now)
        )
        if not over and now >= read_out.until:
            log.info(
                "session %s: the model's answer did not end within %g s of the client leaving",
                self.id,
                self._config.read_out_s,
            )
            over = True
        if over:
            self._leave(now)

    def _leave(self, now: float) -> None:
        """The client has left and nothing more is read out: the end, but first, where it is wanted,
        the model's summary for the family. Asked on the open model connection as an out-of-band
        response (:mod:`companion.conversations.summary`), it is awaited at most
        :data:`~companion.conversations.summary.SUMMARY_WAIT_S`; its events never reach the client, the
        mirror or the policy; then the conversation closes."""
        self._read_out = None
        running = self._running.ask if self._running is not None else None
        if running is not None and self._summary_language is not None and self.status is Status.ACTIVE:
            running.until = min(running.until, now + DRAIN_S)  # one at a time: the end's waits for it
            return
        language, self._summary_language = self._summary_language, None
        link = self.link
        if language is None or self._notes is None or self.status is not Status.ACTIVE or link is None:
            self._close(Ending.NORMAL, None, None, now)
            return
        self._forget_answers()  # a tool run goes on (its write is made); its output goes to no one
        key = summaries.new_key()
        self._summary = SummaryAsk(key, link.number, now + summaries.SUMMARY_WAIT_S)
        earlier = self._running.text if self._running is not None else None
        self._out.append(SendModel(link.number, summaries.summary_request(key, language, earlier)))

    def _check_running(self, now: float) -> None:
        """A long conversation's summary so far (:class:`~companion.realtime.recording.RunningSummaries`):
        the one awaited is given up at its bound or with its connection (a new one drops it); a due one
        is asked at a quiet moment, as a rotation waits for one."""
        notes = self._notes
        if notes is None or self._language is None:
            return
        running = self._running
        if running is None:
            if self.status is Status.ACTIVE:
                self._running = RunningSummaries(now, self._language)
            return
        ask, link = running.ask, self.link
        if ask is not None:
            if now >= ask.until or link is None or link.number != ask.link or link.retired:
                log.info("session %s: the summary so far did not come", self.id)
                self._running_settled(None, now)
            return
        if self._left or self._summary is not None:
            return
        running.look(now, notes.person_turns)
        if not running.awaiting_quiet(now):
            return
        if (
            self.status is not Status.ACTIVE
            or link is None
            or self._refresh is not None
            or self._busy()
            or not self.mirror.quiet(now)
        ):
            return
        request = running.request(now, link.number, notes.person_turns)
        if request is not None:
            self._out.append(SendModel(link.number, request))

    def _running_settled(self, text: str | None, now: float) -> None:
        assert self._running is not None
        self._running.settle(now, text)
        if text is not None and self._notes is not None:
            self._out.append(Summarised(text, self._wall(now), running=True))
        if self._left and self._read_out is None and self._summary is None and self.status not in ENDED:
            self._leave(now)  # the end's summary waited for it
        self._dirty = True

    def _check_summary(self, now: float) -> None:
        summary = self._summary
        if summary is None:
            return
        link = self.link
        if now >= summary.until:
            log.info(
                "session %s: the model's summary did not come within %g s", self.id, summaries.SUMMARY_WAIT_S
            )
            self._summarised(None, now)
        elif self.status is not Status.ACTIVE or link is None or link.number != summary.link:
            log.info("session %s: the model connection went before the summary came", self.id)
            self._summarised(None, now)

    def _summarised(self, text: str | None, now: float) -> None:
        self._summary = None
        if self._notes is not None:
            self._out.append(Summarised(text, self._wall(now)))
        self._close(Ending.NORMAL, None, None, now)

    # ---- the model's side ------------------------------------------------------------------------

    def _carry_out(self, link: int, decision: Any, now: float) -> None:
        match decision:
            case RunTool(call):
                token = self._token()
                self._answers.append(Answer(call, link, token))
                self._out.append(StartTool(token, call))
            case AnswerTool(call, output):
                self._answers.append(Answer(call, link, 0, output))
            case SendAnswers():
                batch, self._answers = self._answers, []
                self._batches.append(batch)
            case ModelExpired(reason):
                assert self.link is not None
                self.link.expired = True
                log.info("session %s: the model ended its session (%s)", self.id, reason)
                self._lost(self.link, ConnectReason.EXPIRED, now)
            case ToolOutcome(tool, outcome, detail):
                self._out.append(decision)
                if outcome == "refused":
                    log.info("session %s: %s refused (%s)", self.id, tool, detail)
            case _:
                raise RuntimeError(f"The model's events never become {type(decision).__name__}")

    def _count_response(self, event: dict[str, Any]) -> None:
        response = event.get("response") or {}
        usage = response.get("usage") or {}
        total = usage.get("total_tokens")
        if isinstance(total, int):
            self.token_usage += total
            self._out.append(Tokens(total))
        self.turn_count += 1

    def _send_answers(self, now: float) -> None:
        """Give the model every output of a done response, once all have come and no answer is being
        made, then let it speak again; calls made on a connection that is gone are forgotten."""
        while self._batches and not self.mirror.response_active:
            batch = self._batches[0]
            if any(a.output is None for a in batch):
                return
            self._batches.pop(0)
            link = self.link
            if link is None or link.retired or any(a.link != link.number for a in batch):
                log.info("session %s: tool answers dropped, the model connection changed", self.id)
                continue
            for answer in batch:
                assert answer.output is not None
                output = protocol.dump_event(answer.output)
                self._out.append(
                    SendModel(link.number, protocol.function_call_output(answer.call.call_id, output))
                )
            self._out.append(SendModel(link.number, protocol.response_create()))

    def _forget_answers(self) -> None:
        """The model session is going: the calls it made mean nothing to the next one."""
        self._answers.clear()
        self._batches.clear()

    def _note_cut(self, response_items: list[str], now: float) -> None:
        if self._notes is not None:
            self._notes.cut_by_loss(now, self._out)

    def _note_switched(self, reason: ConnectReason, now: float) -> None:
        if self._notes is not None and reason is not ConnectReason.START:
            kind: ConnectionKind = "rotation" if reason is ConnectReason.ROTATION else "reconnect"
            self._out.append(Connected(kind, self._wall(now)))

    # ---- speaking on request ---------------------------------------------------------------------

    def _waiting_says(self) -> list[Say]:
        says = list(self._says.values())
        if self._greeting_say is not None:
            says.append(self._greeting_say)
        return says

    def _greet(self, now: float) -> None:
        """Ask the model to speak first, with the person's local time to greet by; when the page opened
        the conversation for a reminder, the same response says it and its owner hears how it went."""
        context, self._greeting = self._greeting, None
        if not self.greet or context is None or self.link is None:
            return
        note = self._greeting_note
        item = greeting_message(context, self._wall(now), note=note)
        key, event_id, named = self.asks.new()
        number = self.link.number
        self._out.append(
            SendModel(number, protocol.conversation_item_create(item, event_id=protocol.new_event_id()))
        )
        self._out.append(
            SendModel(
                number, protocol.response_create(event_id, response=named if note is not None else None)
            )
        )
        if note is None:
            self.asks.drop(key)
            return
        self._greeting_say = Say("", now, key, number, now + RESPONSE_WITHIN_S)

    def _start_says(self, now: float) -> None:
        for say in list(self._says.values()):
            if say.key is not None:
                continue
            if now >= say.give_up_at:
                self._answer_say(say, "busy")
                continue
            link = self.link
            ready = (
                self.status is Status.ACTIVE
                and link is not None
                and not self._busy()
                and self.mirror.quiet(now)
            )
            if not ready or link is None:
                continue
            item = protocol.system_message_item(say.instruction, item_id=self.policy.hidden_item_id("say"))
            say.key, event_id, named = self.asks.new()
            say.link, say.respond_by = link.number, now + RESPONSE_WITHIN_S
            self._out.append(
                SendModel(
                    link.number, protocol.conversation_item_create(item, event_id=protocol.new_event_id())
                )
            )
            self._out.append(SendModel(link.number, protocol.response_create(event_id, response=named)))

    def _follow_says(self, now: float) -> None:
        """A request's outcome is its response's (said once its audio has had time to play
        untruncated); ``no_response`` if none ended in time or its playing never ended; ``failed`` if
        the connection it was sent on is gone."""
        self.asks.tick(now)
        for say in self._waiting_says():
            if say.key is None:
                continue
            outcome = self.asks.outcome(say.key)
            if outcome is None:
                link = self.link
                if link is None or link.number != say.link or link.retired:
                    outcome = "failed"
                elif now >= say.respond_by and not self.asks.answered(say.key):
                    outcome = "no_response"
                elif now >= say.respond_by + PLAY_WITHIN_S:
                    outcome = "no_response"  # answered, but its playing never came to an end we could see
            if outcome is not None:
                self._answer_say(say, outcome)

    def _answer_say(self, say: Say, outcome: Any) -> None:
        if say.key is not None:
            self.asks.drop(say.key)
        if say is self._greeting_say:
            self._greeting_say = None
            self._out.append(GreetingSaid(outcome))
        else:
            self._says.pop(say.instruction, None)
            self._out.append(SayAnswered(say.instruction, outcome))

    # ---- the end ---------------------------------------------------------------------------------

    def _close(self, ending: Ending, reason: str | None, message: str | None, now: float) -> None:
        if self.status in ENDED:
            return
        self._set_status(Status.CLOSING)
        self.closed_at = self._wall(now)
        self._read_out = None
        self._summary = None  # not come: the log writes the plain digest
        self._running = None
        if message is not None and ending.error_code is not None:
            self._out.append(ToClient(protocol.error_event(ending.error_code, message, type="server_error")))
        self._close_model(now)
        self._forget_answers()
        for say in self._waiting_says():
            self._answer_say(say, "failed" if say.key is not None else "no_conversation")
        self._fail_refreshes(SessionNotActive(f"Session {self.id} closed"))
        if self._notes is not None:
            if not self.connections:  # no model session was ever in use: nothing is kept
                self._out.append(Abandoned(self._wall(now)))
            else:
                how = "person" if self._left else ENDED_HOW.get(ending, "error")
                self._out.append(Ended(how, self._wall(now)))
        self._out.append(CloseClient(ending.close(reason)))
        self._dirty = True


__all__ = ["FAILED_MESSAGE", "STREAMING", "CloseModel", "SessionMachine"]
