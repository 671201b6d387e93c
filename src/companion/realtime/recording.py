"""The one place a live session meets the conversation's recorder: events in, typed notes out.

:class:`RecordingTap` reads the GA events the session already sees from the model and turns them into
the notes of :mod:`companion.conversations.notes` (a turn started or ended, with its role and text; a
companion turn cut by the person; a new model connection; something the companion did; the end and
why), handed to a :class:`ConversationLog`. It also carries the end-of-conversation summary: an
out-of-band response on the open model session (``conversation: "none"``), whose events it consumes
so that neither the client, the conversation mirror nor the relay policy ever sees them.

In a long conversation it also asks, every half-hour or so (:mod:`~companion.conversations.cadence`
decides when), for the summary so far, at a quiet moment (nobody speaking, no answer being made, no
tool answers on their way: a second response would collide with the model's one at a time), and the
log keeps it as the conversation's running summary; each is asked with the one before it, quoted as
data, so that the summary at the end covers the whole conversation. Its timing uses an injected timer
(a loop's ``call_later``), on the session's clock, as do the bounds on every summary's answer.

The session calls it from four places only (``session.py``: once under way, ``follow``; each model
event; its close; and after the person left, ``summarise``); everything with a decision in it is in
``conversations/`` and pure. The tap keeps a few small things: the companion's item in progress, and
its last few turns' text and audio length (a late truncation cuts one of them), so an idle or
hours-long conversation costs the same.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Container, Coroutine, Mapping
from typing import Any, Final, Protocol

from companion.clock import Clock, utcnow
from companion.conversations import summary as summaries
from companion.conversations.cadence import QUIET_WITHIN_S, RUNNING_EVERY_S, RUNNING_WAIT_S, Cadence
from companion.conversations.notes import (
    ActKind,
    Connected,
    ConnectionKind,
    Did,
    Ended,
    EndedHow,
    Note,
    TurnCut,
    TurnEnded,
    TurnStarted,
)
from companion.conversations.recorder import heard_part
from companion.realtime.endings import Ending
from companion.realtime.reconnect import ConnectReason
from companion.realtime.saying import SAY_TAG

log = logging.getLogger(__name__)

BYTES_PER_MS: Final = 48  # 24 kHz 16-bit mono PCM: what an audio delta's base64 length is measured in
KEPT_TURNS: Final = 4  # the companion's last turns a truncation may still name
MAX_ITEM_CHARS: Final = 8_000  # one answer's text as it streams; beyond, the rest is not kept
QUIET_POLL_S: Final = 0.1  # how often a due running summary looks for a quiet moment (as a rotation)
DRAIN_S: Final = 4.0  # at the end, a running summary being made is waited for this long at most
_SUMMARY_EVENTS: Final = frozenset({"response.created", "response.done", "error"})

ENDED_HOW: Final[Mapping[Ending, EndedHow]] = {
    Ending.NORMAL: "person",  # the person (or their tablet) hung up
    Ending.SHUTDOWN: "network",  # the service restarted under the conversation
    Ending.UPSTREAM_LOST: "network",
    Ending.CLIENT_TOO_SLOW: "network",
    Ending.UPSTREAM_UNAVAILABLE: "error",
    Ending.INTERNAL: "error",
    Ending.DEVICE_REVOKED: "revoked",
    Ending.TOKEN_REVOKED: "revoked",
    Ending.PERSON_ERASED: "revoked",
    Ending.REFUSED: "revoked",
    Ending.CREDENTIAL_EXPIRED: "cap",  # the credential's lifetime ran out mid-conversation
    Ending.TOO_MANY_SESSIONS: "cap",
}
TOOL_ACTS: Final[Mapping[str, ActKind]] = {
    "play_music": "song",
    "remember": "memory",
    "alert_family": "alert",
    "medication_taken": "reminder_confirmed",
}


class ConversationLog(Protocol):
    """Where one conversation's notes go; the conversation service's (``conversations/service.py``)."""

    def note(self, note: Note) -> None: ...

    def summary_language(self) -> str | None:
        """The language to ask the model's summary in; None when none is wanted (records "none", or
        the person said nothing)."""
        ...

    def summarised(self, text: str | None) -> None:
        """The model's summary, or None: it did not come (the log writes the plain digest)."""
        ...

    def discard(self) -> None:
        """The conversation never started: nothing of it is written."""
        ...

    def running_summary(self, text: str) -> None:
        """A long conversation's summary so far."""
        ...

    def earlier_summary(self) -> str | None:
        """The last running summary, if any: the next one (and the end's) is asked with it."""
        ...


OpenLog = Callable[[str, str, str | None], ConversationLog]  # (conversation id, person, device) -> log
Send = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


class Handle(Protocol):
    def cancel(self) -> None: ...


Timer = Callable[[float, Callable[[], None]], Handle]  # (delay in seconds, callback): a loop's call_later


def loop_timer(delay: float, callback: Callable[[], None]) -> Handle:
    return asyncio.get_running_loop().call_later(delay, callback)


class _Follow:
    """What the session lends the running summaries: its sending, quiet test, clock and task spawner."""

    __slots__ = ("cadence", "clock", "quiet", "send", "spawn")

    def __init__(
        self, send: Send, quiet: Callable[[], bool], clock: Callable[[], float], spawn: Spawn, every_s: float
    ) -> None:
        self.send, self.quiet, self.clock, self.spawn = send, quiet, clock, spawn
        self.cadence = Cadence(clock(), every_s)


class _Said:
    """The companion's answer as it streams, how much of its audio was sent, and where the person cut
    it off if they did before it was all made (``cut_ms``: the audio played by then)."""

    __slots__ = ("audio_bytes", "cut_ms", "text")

    def __init__(self) -> None:
        self.text = ""
        self.audio_bytes = 0
        self.cut_ms: int | None = None


class RecordingTap:
    __slots__ = (
        "_asking",
        "_clock",
        "_connection",
        "_ended",
        "_every_s",
        "_follow",
        "_hidden",
        "_ids",
        "_leaving",
        "_log",
        "_look",
        "_person_turns",
        "_said",
        "_spoken",
        "_timer",
    )

    def __init__(
        self,
        log: ConversationLog,
        *,
        hidden: Container[str] = (),
        clock: Clock = utcnow,
        timer: Timer = loop_timer,
        every_s: float = RUNNING_EVERY_S,
    ) -> None:
        self._log = log
        self._hidden = hidden  # items the relay made itself (a replay, a note): nobody's turn
        self._clock = clock
        self._timer = timer
        self._every_s = every_s
        self._connection = 0  # the number of the model connection whose events were last seen
        self._said: dict[str, _Said] = {}  # the companion's items in progress
        self._spoken: OrderedDict[str, tuple[str, int]] = OrderedDict()  # item -> (text, audio bytes)
        self._asking: dict[str, asyncio.Future[str | None]] = {}  # summary requests awaiting an answer
        self._ids: set[str] = set()  # the summaries' responses under way, whose events are ours
        self._follow: _Follow | None = None  # the running summaries, once the conversation is under way
        self._look: Handle | None = None  # the timer of the next look for one
        self._person_turns = 0
        self._leaving = False  # the person left: no running summary is started any more
        self._ended = False

    # ---- the model's events ------------------------------------------------------------------------

    def model_event(
        self, event: Mapping[str, Any], connection: int = 0, reason: ConnectReason | None = None
    ) -> bool:
        """Take one event of model connection number ``connection`` (opened for ``reason``); True when
        it belongs to the summary's out-of-band response, which nobody else may see."""
        if connection != self._connection:
            if self._connection:
                if reason is not None:
                    how: ConnectionKind = "rotation" if reason is ConnectReason.ROTATION else "reconnect"
                    self._log.note(Connected(how, self._clock()))
                self._ids.clear()  # what was asked of the previous model session is not coming
                self._settle_all()
            self._connection = connection
        kind: Any = event.get("type")
        if (self._ids or kind in _SUMMARY_EVENTS) and self._ours(kind, event):
            return True
        if kind == "response.output_audio.delta":  # the commonest event: one lookup and a length
            said = self._said.get(event.get("item_id"))  # type: ignore[arg-type]
            delta = event.get("delta")
            if said is not None and isinstance(delta, str):
                said.audio_bytes += len(delta) * 3 // 4
            return False
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, event)
        return False

    def _person_speaking(self, event: Mapping[str, Any]) -> None:
        self._log.note(TurnStarted("person", self._clock()))

    def _person_heard(self, event: Mapping[str, Any]) -> None:
        if event.get("item_id") in self._hidden:
            return
        transcript = event.get("transcript")
        self._person_turns += 1
        self._log.note(TurnEnded("person", transcript if isinstance(transcript, str) else "", self._clock()))

    def _item_added(self, event: Mapping[str, Any]) -> None:
        """A typed message of the person's (spoken ones are noted when their transcript comes)."""
        item = event.get("item")
        if not isinstance(item, Mapping) or item.get("role") != "user" or item.get("id") in self._hidden:
            return
        texts = [
            p.get("text")
            for p in item.get("content") or []
            if isinstance(p, Mapping) and p.get("type") == "input_text" and isinstance(p.get("text"), str)
        ]
        if texts:
            now = self._clock()
            self._person_turns += 1
            self._log.note(TurnStarted("person", now))
            self._log.note(TurnEnded("person", " ".join(texts), now))  # type: ignore[arg-type]

    def _output_added(self, event: Mapping[str, Any]) -> None:
        item = event.get("item")
        if isinstance(item, Mapping) and item.get("type") == "message" and isinstance(item.get("id"), str):
            self._said[item["id"]] = _Said()
            self._log.note(TurnStarted("companion", self._clock()))

    def _text_delta(self, event: Mapping[str, Any]) -> None:
        said = self._said.get(event.get("item_id"))  # type: ignore[arg-type]
        delta = event.get("delta")
        if said is not None and isinstance(delta, str) and len(said.text) < MAX_ITEM_CHARS:
            said.text += delta

    def _output_done(self, event: Mapping[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, Mapping):
            return
        if item.get("type") == "function_call":
            self._tool_called(item)
            return
        item_id = item.get("id")
        said = self._said.pop(item_id, None) if isinstance(item_id, str) else None
        if said is None or not isinstance(item_id, str):
            return
        text = _message_text(item) or said.text
        cut = item.get("status") == "incomplete"
        if said.cut_ms is not None:  # cut off while it was still being made: kept as far as it was heard
            text, cut = _heard(text, said.cut_ms, said.audio_bytes), True
        else:
            self._spoken[item_id] = (text, said.audio_bytes)
            while len(self._spoken) > KEPT_TURNS:
                self._spoken.popitem(last=False)
        self._log.note(TurnEnded("companion", text, self._clock(), key=item_id, cut=cut))

    def _truncated(self, event: Mapping[str, Any]) -> None:
        """The person interrupted: the companion's words are cut where its audio stopped playing. An
        answer still being made is cut when it ends (its text and audio are then complete)."""
        item_id, end_ms = event.get("item_id"), event.get("audio_end_ms")
        if not isinstance(item_id, str) or not isinstance(end_ms, int) or isinstance(end_ms, bool):
            return
        said = self._said.get(item_id)
        if said is not None:
            said.cut_ms = end_ms
            return
        spoken = self._spoken.get(item_id)
        if spoken is not None:
            self._log.note(TurnCut(item_id, _heard(spoken[0], end_ms, spoken[1]), self._clock()))

    def _tool_called(self, item: Mapping[str, Any]) -> None:
        act = TOOL_ACTS.get(item.get("name"))  # type: ignore[arg-type]
        if act is None:
            return
        label = ""
        if act == "song":
            try:
                args = json.loads(item.get("arguments") or "{}")
            except ValueError:
                args = {}
            if isinstance(args, dict):
                label = " - ".join(
                    str(args[k]) for k in ("artist", "song", "genre") if isinstance(args.get(k), str)
                )
        self._log.note(Did(act, self._clock(), label))

    def _response_created(self, event: Mapping[str, Any]) -> None:
        response = event.get("response")
        metadata = response.get("metadata") if isinstance(response, Mapping) else None
        if isinstance(metadata, Mapping) and isinstance(metadata.get(SAY_TAG), str):
            self._log.note(Did("reminder_said", self._clock()))

    # ---- the summaries ------------------------------------------------------------------------------

    def follow(self, send: Send, quiet: Callable[[], bool], clock: Callable[[], float], spawn: Spawn) -> None:
        """The conversation is under way: from now on, ask for its summary so far every so often, at a
        quiet moment (``quiet``: the session's test), through ``send``, on ``clock``, in tasks that
        ``spawn`` starts (the session's, supervised)."""
        if self._ended or self._follow is not None:
            return
        self._follow = _Follow(send, quiet, clock, spawn, self._every_s)
        self._arm()

    def _arm(self) -> None:
        follow = self._follow
        if follow is None or self._ended or self._leaving:
            return
        self._look = self._timer(follow.cadence.wait_s(follow.clock()), self._due)

    def _due(self) -> None:
        self._look = None
        follow = self._follow
        if follow is None or self._ended or self._leaving:
            return
        if follow.cadence.look(follow.clock(), self._person_turns):
            follow.spawn(self._running(follow), "running-summary")
        else:
            self._arm()

    async def _running(self, follow: _Follow) -> None:
        """A running summary is due: wait (bounded) for a quiet moment, ask, keep the answer."""
        cadence = follow.cadence
        language = self._log.summary_language()
        if language is None:  # none is wanted now ("none" chosen meanwhile): another period on
            cadence.asked(follow.clock(), 0)
            cadence.answered(follow.clock(), True)
            self._arm()
            return
        give_up = follow.clock() + QUIET_WITHIN_S
        while not follow.quiet():
            if self._ended or self._leaving:
                return
            if follow.clock() >= give_up:
                cadence.no_quiet(follow.clock())
                self._arm()
                return
            await asyncio.sleep(QUIET_POLL_S)
        if self._ended or self._leaving:
            return
        cadence.asked(follow.clock(), self._person_turns)
        text = await self._ask(follow.send, language, RUNNING_WAIT_S)
        if text is not None and not self._ended:
            self._log.running_summary(text)
        cadence.answered(follow.clock(), text is not None)
        self._arm()

    async def summarise(self, send: Send) -> None:
        """The person has left and the model connection is still open: ask it for the summary of the
        whole conversation and wait for it, :data:`~companion.conversations.summary.SUMMARY_WAIT_S` at
        most (after a running summary being made, :data:`DRAIN_S` at most: one response at a time)."""
        self._leaving = True
        if self._look is not None:
            self._look.cancel()
            self._look = None
        language = self._log.summary_language()
        if language is None:
            return
        running = [answer for answer in self._asking.values() if not answer.done()]
        if running:
            await self._until(running[0], DRAIN_S)
        self._log.summarised(await self._ask(send, language, summaries.SUMMARY_WAIT_S))

    async def _until(self, answer: asyncio.Future[str | None], wait_s: float) -> None:
        """Wait for ``answer``, ``wait_s`` at most on the injected timer."""
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        bound = self._timer(wait_s, functools.partial(_resolve, gate))
        try:
            await asyncio.wait((answer, gate), return_when=asyncio.FIRST_COMPLETED)
        finally:
            bound.cancel()
            gate.cancel()

    async def _ask(self, send: Send, language: str, wait_s: float) -> str | None:
        """Ask for a summary (with the running one before it) and wait ``wait_s`` at most for its text;
        None when it did not come (no answer in time, an error, the connection or the conversation
        ended)."""
        key = summaries.new_key()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str | None] = loop.create_future()
        self._asking[key] = answer
        request = summaries.summary_request(key, language, self._log.earlier_summary())
        sending: asyncio.Task[None] = loop.create_task(send(request), name="summary-request")
        bound = self._timer(wait_s, functools.partial(self._expire, key, sending, wait_s))
        try:
            await asyncio.wait((sending,))
            if sending.cancelled():
                return None
            if sending.exception() is not None:  # the connection went: the caller's fallback stands in
                log.info("the summary could not be asked for: %s", type(sending.exception()).__name__)
                return None
            return await answer
        finally:
            bound.cancel()
            self._asking.pop(key, None)
            if not sending.done():
                sending.cancel()

    def _expire(self, key: str, sending: asyncio.Task[None], wait_s: float) -> None:
        sending.cancel()
        answer = self._asking.get(key)
        if answer is not None and not answer.done():
            log.info("the model's summary did not come within %g s", wait_s)
            answer.set_result(None)

    def _ours(self, kind: Any, event: Mapping[str, Any]) -> bool:
        """An event of a summary's response (or an error naming its request): settled here."""
        if kind == "response.created" or kind == "response.done":
            response = event.get("response")
            key = summaries.key_of(response)
            if key is None or not isinstance(response, Mapping):
                return False
            response_id = response.get("id")
            if kind == "response.created":
                if isinstance(response_id, str):
                    self._ids.add(response_id)
            else:
                self._ids.discard(response_id)
                self._settle(key, summaries.answer_text(event))
            return True
        if kind == "error":
            error = event.get("error")
            key = summaries.key_of_event_id(error.get("event_id") if isinstance(error, Mapping) else None)
            if key is None:
                return False
            self._settle(key, None)
            return True
        return event.get("response_id") in self._ids

    def _settle(self, key: str, text: str | None) -> None:
        answer = self._asking.get(key)
        if answer is not None and not answer.done():
            answer.set_result(text)

    def _settle_all(self) -> None:
        for answer in self._asking.values():
            if not answer.done():
                answer.set_result(None)

    # ---- the end -----------------------------------------------------------------------------------

    def ended(self, ending: Ending, *, started: bool = True) -> None:
        """The conversation closed: the log finishes its record (with the digest if no summary came);
        one that never started (no model session) is let go unwritten. Only the first call counts."""
        if self._ended:
            return
        self._ended = True
        if self._look is not None:
            self._look.cancel()
            self._look = None
        self._settle_all()
        if started:
            self._log.note(Ended(ENDED_HOW.get(ending, "error"), self._clock()))
        else:
            self._log.discard()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _heard(text: str, end_ms: int, audio_bytes: int) -> str:
    """The part of an answer heard when its audio stopped at ``end_ms``: proportionally, its text
    against the length of the audio that was made for it (the relay knows no word timings)."""
    audio_ms = audio_bytes / BYTES_PER_MS
    return heard_part(text, end_ms / audio_ms if audio_ms > 0 else 0.0)


def _message_text(item: Mapping[str, Any]) -> str:
    parts = []
    for part in item.get("content") or []:
        if isinstance(part, Mapping):
            text = part.get("transcript") or part.get("text")
            if isinstance(text, str):
                parts.append(text)
    return " ".join(parts)


_HANDLERS: Final[dict[str, Callable[[RecordingTap, Mapping[str, Any]], None]]] = {
    "input_audio_buffer.speech_started": RecordingTap._person_speaking,
    "conversation.item.input_audio_transcription.completed": RecordingTap._person_heard,
    "conversation.item.input_audio_transcription.failed": RecordingTap._person_heard,
    "conversation.item.added": RecordingTap._item_added,
    "response.output_item.added": RecordingTap._output_added,
    "response.output_audio_transcript.delta": RecordingTap._text_delta,
    "response.output_text.delta": RecordingTap._text_delta,
    "response.output_item.done": RecordingTap._output_done,
    "conversation.item.truncated": RecordingTap._truncated,
    "response.created": RecordingTap._response_created,
}
