"""The session machine's part that records the conversation: the recorder's notes, and the summary.

Sans-I/O, like the machine it belongs to (:class:`~companion.realtime.machine.SessionMachine` owns one
:class:`NoteTaker` when its session is recorded). It reads the model's events the machine already sees
(never the streaming deltas but the audio's length, which the mirror counts) and makes the notes of
:mod:`companion.conversations.notes`: a turn started or ended, with its role and text (the person's
words as transcribed or typed, the companion's as spoken); a companion turn cut where the person
interrupted; a new model connection; something the companion did (a song, a memory, an alert, a
reminder said or confirmed); the summary; the end and why. The session hands them to the
conversation's log (:class:`~companion.conversations.notes.ConversationLog`) in order.

:class:`SummaryAsk` is a summary in flight: an out-of-band response on the open model connection
(``conversation: "none"``, see :mod:`companion.conversations.summary`) whose events the machine keeps
from the client, the mirror and the policy; the one at the end, or a long conversation's summary so far
(:class:`RunningSummaries`, every half-hour or so at a quiet moment: see
:mod:`companion.conversations.cadence`).

What it holds is small and bounded: the companion's message items still streaming (one or two) and
the summary's key; the texts are the mirror's.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from companion.conversations import summary as summaries
from companion.conversations.cadence import QUIET_WITHIN_S, RUNNING_WAIT_S, Cadence
from companion.conversations.notes import (
    ActKind,
    ConversationLog,
    Did,
    EndedHow,
    Note,
    TurnCut,
    TurnEnded,
    TurnStarted,
)
from companion.conversations.recorder import heard_part
from companion.realtime.endings import Ending
from companion.realtime.mirror import ConversationMirror
from companion.realtime.saying import SAY_TAG

__all__ = [
    "DRAIN_S",
    "ENDED_HOW",
    "TOOL_ACTS",
    "ConversationLog",
    "NoteTaker",
    "OpenLog",
    "RunningSummaries",
    "SummaryAsk",
]

DRAIN_S: Final = 4.0  # at the end, a running summary being made is awaited this long at most
CUT_KEPT: Final = 8  # the companion's latest cut items remembered, so that a second truncation is ignored
BYTES_PER_MS: Final = 48  # 24 kHz 16-bit mono PCM: an audio delta's decoded length per millisecond

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

OpenLog = Callable[[str, str, str | None], ConversationLog]  # (conversation id, person, device) -> log
Wall = Callable[[float], datetime]  # the machine's monotonic time as the wall-clock time of a note


class NoteTaker:
    """Notes from the model's events. ``hidden``: whether an item is one the relay made itself (a
    replay, a request to speak), which is nobody's turn; ``wall``: the time of a note from the
    machine's ``now``."""

    __slots__ = ("_cut", "_cuts", "_hidden", "_mirror", "_open", "_wall", "person_turns")

    def __init__(self, mirror: ConversationMirror, hidden: Callable[[Any], bool], wall: Wall) -> None:
        self._mirror = mirror
        self._hidden = hidden
        self._wall = wall
        self._open: list[str] = []  # the companion's message items begun and not yet ended
        self._cuts: dict[str, int] = {}  # open items the person interrupted: the audio played (ms) by then
        self._cut: deque[str] = deque(maxlen=CUT_KEPT)  # the latest items noted cut: never cut twice
        self.person_turns = 0  # the person's turns so far (spoken or typed)

    def model_event(self, kind: Any, event: dict[str, Any], now: float, out: list[Any]) -> None:
        """Take one (non-streaming) event of the connection in use, after the mirror saw it; the notes
        it makes are appended to ``out``."""
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, event, now, out)

    def cut_by_loss(self, now: float, out: list[Any]) -> None:
        """The model connection went while the companion spoke: its turns end here, cut."""
        for item_id in self._open:
            out.append(TurnEnded("companion", self._said(item_id), self._wall(now), key=item_id, cut=True))
        self._open.clear()
        self._cuts.clear()

    # ---- the person --------------------------------------------------------------------------------

    def _speech_started(self, event: dict[str, Any], now: float, out: list[Any]) -> None:
        out.append(TurnStarted("person", self._wall(now)))

    def _heard(self, event: dict[str, Any], now: float, out: list[Any]) -> None:
        if self._hidden(event.get("item_id")):
            return
        transcript = event.get("transcript")
        self.person_turns += 1
        out.append(TurnEnded("person", transcript if isinstance(transcript, str) else "", self._wall(now)))

    def _item_added(self, event: dict[str, Any], now: float, out: list[Any]) -> None:
        """A typed message of the person's (spoken ones are noted when their transcript comes)."""
        item = event.get("item")
        if not isinstance(item, dict) or item.get("role") != "user":
            return
        item_id = item.get("id")
        if self._hidden(item_id) or item_id in self._mirror.replayed:
            return
        texts = [
            p["text"]
            for p in item.get("content") or ()
            if isinstance(p, dict) and p.get("type") == "input_text" and isinstance(p.get("text"), str)
        ]
        if texts:
            self.person_turns += 1
            at = self._wall(now)
            out.append(TurnStarted("person", at))
            out.append(TurnEnded("person", " ".join(texts), at))

    # ---- the companion -----------------------------------------------------------------------------

    def _output_added(self, event: dict[str, Any], now: float, out: list[Any]) -> None:
        item = event.get("item")
        if isinstance(item, dict) and item.get("type") == "message" and isinstance(item.get("id"), str):
            self._open.append(item["id"])
            out.append(TurnStarted("companion", self._wall(now)))

    def _output_done(self, event: dict[str, Any], now: float, out: list[Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            return
        if item.get("type") == "function_call":
            self._tool_called(item, now, out)
            return
        item_id = item.get("id")
        if not isinstance(item_id, str) or item_id not in self._open:
            return
        self._open.remove(item_id)
        cut = item.get("status") == "incomplete" or item_id in self._cuts
        out.append(TurnEnded("companion", self._said(item_id), self._wall(now), key=item_id, cut=cut))

    def _response_done(self, event: dict[str, Any], now: float, out: list[Any]) -> None:
        """The answer is over: a turn whose own end never came ends with it (cut if it was)."""
        if not self._open:
            return
        response = event.get("response")
        cut = isinstance(response, dict) and response.get("status") in ("cancelled", "incomplete")
        at = self._wall(now)
        for item_id in self._open:
            heard = cut or item_id in self._cuts
            out.append(TurnEnded("companion", self._said(item_id), at, key=item_id, cut=heard))
        self._open.clear()
        self._cuts.clear()

    def _truncated(self, event: dict[str, Any], now: float, out: list[Any]) -> None:
        """The person interrupted: the companion's words are cut where its audio stopped playing. An
        answer still being made is cut when it ends (its words and audio are whole then), once."""
        item_id, end_ms = event.get("item_id"), event.get("audio_end_ms")
        turn = self._mirror.turn(item_id)
        if turn is None or turn.role != "companion" or type(end_ms) is not int:
            return
        if turn.item_id in self._cut:
            return
        if turn.item_id in self._open:
            self._cuts[turn.item_id] = end_ms
        else:
            self._cut.append(turn.item_id)
            out.append(TurnCut(turn.item_id, _heard(turn.text, end_ms, turn.audio_bytes), self._wall(now)))

    def _tool_called(self, item: dict[str, Any], now: float, out: list[Any]) -> None:
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
        out.append(Did(act, self._wall(now), label))

    def _response_created(self, event: dict[str, Any], now: float, out: list[Any]) -> None:
        response = event.get("response")
        metadata = response.get("metadata") if isinstance(response, dict) else None
        if isinstance(metadata, dict) and isinstance(metadata.get(SAY_TAG), str):
            out.append(Did("reminder_said", self._wall(now)))

    def _said(self, item_id: str) -> str:
        """A companion turn's words as they ended: up to where the person cut it off, if they did."""
        turn = self._mirror.turn(item_id)
        if turn is None:
            return ""
        end_ms = self._cuts.pop(item_id, None)
        if end_ms is None:
            return turn.text
        self._cut.append(item_id)
        return _heard(turn.text, end_ms, turn.audio_bytes)


def _heard(text: str, end_ms: int, audio_bytes: int) -> str:
    """The part of an answer heard when its audio stopped at ``end_ms``: proportionally, its text
    against the length of the audio made for it (the relay knows no word timings), back to a whole
    word, with "…"."""
    audio_ms = audio_bytes / BYTES_PER_MS
    return heard_part(text, end_ms / audio_ms if audio_ms > 0 else 0.0)


_Handler = Callable[[NoteTaker, dict[str, Any], float, list[Note]], None]
_HANDLERS: Final[dict[str, _Handler]] = {
    "input_audio_buffer.speech_started": NoteTaker._speech_started,
    "conversation.item.input_audio_transcription.completed": NoteTaker._heard,
    "conversation.item.input_audio_transcription.failed": NoteTaker._heard,
    "conversation.item.added": NoteTaker._item_added,
    "response.output_item.added": NoteTaker._output_added,
    "response.output_item.done": NoteTaker._output_done,
    "response.done": NoteTaker._response_done,
    "conversation.item.truncated": NoteTaker._truncated,
    "response.created": NoteTaker._response_created,
}


@dataclass(slots=True, eq=False)
class SummaryAsk:
    """The summary asked of model connection ``link`` (after the person left), until ``until``."""

    key: str
    link: int
    until: float
    response_id: str | None = None
    done: bool = False
    text: str | None = None  # once done: the summary (None: none came)

    def claim(self, event: dict[str, Any]) -> bool:
        """True when ``event`` belongs to the summary's response (or is an error naming its request):
        no one else sees it. Its ``response.done`` (or that error) settles it."""
        kind = event.get("type")
        if kind == "response.created" or kind == "response.done":
            response = event.get("response")
            if summaries.key_of(response) != self.key:
                return False
            if kind == "response.created":
                self.response_id = response.get("id") if isinstance(response, dict) else None
            else:
                self.done, self.text = True, summaries.answer_text(event)
            return True
        if kind == "error":
            error = event.get("error")
            if isinstance(error, dict) and error.get("event_id") == summaries.request_event_id(self.key):
                self.done = True
                return True
            return False
        response_id = event.get("response_id")
        return response_id is not None and response_id == self.response_id


class RunningSummaries:
    """A long conversation's summaries so far, decided on the machine's clock: due every
    :data:`~companion.conversations.cadence.RUNNING_EVERY_S` once the person said something since the
    last; then a quiet moment is awaited (at most
    :data:`~companion.conversations.cadence.QUIET_WITHIN_S`), the request goes out of band on the
    connection in use (quoting the last one as data) and its answer is awaited at most
    :data:`~companion.conversations.cadence.RUNNING_WAIT_S`; one that did not come is tried again
    :data:`~companion.conversations.cadence.RETRY_S` later. ``language``: the summary's language now
    (the log's; None: none is wanted)."""

    __slots__ = ("_language", "ask", "cadence", "given_up", "quiet_until", "text")

    def __init__(self, started: float, language: Callable[[], str | None]) -> None:
        self.cadence = Cadence(started)
        self._language = language
        self.quiet_until: float | None = None  # due: a quiet moment is awaited until then
        self.ask: SummaryAsk | None = None  # asked, its answer awaited
        self.given_up: SummaryAsk | None = None  # the last one given up: a late answer still reaches no one
        self.text: str | None = None  # the last one that came (the next, and the end's, quote it)

    def look(self, now: float, person_turns: int) -> None:
        """Its time came: due (await a quiet moment), or another period on (nothing new said, or none
        wanted now)."""
        if self.ask is not None or self.quiet_until is not None or now < self.cadence.next_at:
            return
        if not self.cadence.look(now, person_turns):
            return
        if self._language() is None:  # records "none" chosen meanwhile: another period on
            self.cadence.asked(now, person_turns)
            self.cadence.answered(now, True)
            return
        self.quiet_until = now + QUIET_WITHIN_S

    def awaiting_quiet(self, now: float) -> bool:
        """A due summary still waits for a quiet moment (one that never came is tried later)."""
        if self.quiet_until is not None and now >= self.quiet_until:
            self.quiet_until = None
            self.cadence.no_quiet(now)
        return self.quiet_until is not None

    def request(self, now: float, link: int, person_turns: int) -> dict[str, Any] | None:
        """The quiet moment came: the ``response.create`` to send on ``link`` (None: none is wanted)."""
        self.quiet_until = None
        language = self._language()
        if language is None:
            self.cadence.asked(now, person_turns)
            self.cadence.answered(now, True)
            return None
        key = summaries.new_key()
        self.ask = SummaryAsk(key, link, now + RUNNING_WAIT_S)
        self.cadence.asked(now, person_turns)
        return summaries.summary_request(key, language, self.text)

    def settle(self, now: float, text: str | None) -> None:
        """Its answer came (``text``), or did not (None)."""
        if text is None and self.ask is not None and not self.ask.done:
            self.given_up = self.ask
        self.ask = None
        self.cadence.answered(now, text is not None)
        if text is not None:
            self.text = text

    def claim(self, link: int, event: dict[str, Any]) -> SummaryAsk | None:
        """The summary ``event`` (of connection ``link``) belongs to, if any: no one else sees it."""
        for ask in (self.ask, self.given_up):
            if ask is not None and ask.link == link and ask.claim(event):
                return ask
        return None

    def deadlines(self) -> list[float | None]:
        if self.ask is not None:
            return [self.ask.until]
        if self.quiet_until is not None:
            return [self.quiet_until]
        return [self.cadence.next_at]
