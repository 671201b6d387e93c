"""The one place a live session meets the conversation's recorder: events in, typed notes out.

:class:`RecordingTap` reads the GA events the session already sees from the model and turns them into
the notes of :mod:`companion.conversations.notes` (a turn started or ended, with its role and text; a
companion turn cut by the person; a new model connection; something the companion did; the end and
why), handed to a :class:`ConversationLog`. It also carries the end-of-conversation summary: an
out-of-band response on the open model session (``conversation: "none"``), whose events it consumes
so that neither the client, the conversation mirror nor the relay policy ever sees them.

The session calls it from three places only (``session.py``: each model event, its close, and after
the person left, ``summarise``); everything with a decision in it is in ``conversations/`` and pure.
The tap keeps a few small things: the companion's item in progress, and its last few turns' text and
audio length (a late truncation cuts one of them), so an idle or hours-long conversation costs the same.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Container, Mapping
from typing import Any, Final, Protocol

from companion.clock import Clock, utcnow
from companion.conversations import summary as summaries
from companion.conversations.notes import (
    ActKind,
    Connected,
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


OpenLog = Callable[[str, str, str | None], ConversationLog]  # (conversation id, person, device) -> log


class _Said:
    """The companion's answer as it streams, and how much of its audio was sent."""

    __slots__ = ("audio_bytes", "text")

    def __init__(self) -> None:
        self.text = ""
        self.audio_bytes = 0


class RecordingTap:
    __slots__ = (
        "_clock",
        "_connection",
        "_done",
        "_ended",
        "_hidden",
        "_key",
        "_log",
        "_response",
        "_said",
        "_spoken",
    )

    def __init__(self, log: ConversationLog, *, hidden: Container[str] = (), clock: Clock = utcnow) -> None:
        self._log = log
        self._hidden = hidden  # items the relay made itself (a replay, a note): nobody's turn
        self._clock = clock
        self._connection = 0  # the number of the model connection whose events were last seen
        self._said: dict[str, _Said] = {}  # the companion's items in progress
        self._spoken: OrderedDict[str, tuple[str, int]] = OrderedDict()  # item -> (text, audio bytes)
        self._key: str | None = None  # the summary request in flight
        self._response: str | None = None  # its response id, once created
        self._done: asyncio.Future[str | None] | None = None
        self._ended = False

    # ---- the model's events ------------------------------------------------------------------------

    def model_event(
        self, event: Mapping[str, Any], connection: int = 0, reason: ConnectReason | None = None
    ) -> bool:
        """Take one event of model connection number ``connection`` (opened for ``reason``); True when
        it belongs to the summary's out-of-band response, which nobody else may see."""
        if connection != self._connection:
            if self._connection and reason is not None:
                self._log.note(
                    Connected("rotation" if reason is ConnectReason.ROTATION else "reconnect", self._clock())
                )
            self._connection = connection
        kind: Any = event.get("type")
        if self._key is not None and self._ours(kind, event):
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
        self._spoken[item_id] = (text, said.audio_bytes)
        while len(self._spoken) > KEPT_TURNS:
            self._spoken.popitem(last=False)
        cut = item.get("status") == "incomplete"
        self._log.note(TurnEnded("companion", text, self._clock(), key=item_id, cut=cut))

    def _truncated(self, event: Mapping[str, Any]) -> None:
        """The person interrupted: the companion's words are cut where its audio stopped playing."""
        item_id, end_ms = event.get("item_id"), event.get("audio_end_ms")
        spoken = self._spoken.get(item_id) if isinstance(item_id, str) else None
        if spoken is None or not isinstance(end_ms, int) or not isinstance(item_id, str):
            return
        text, audio_bytes = spoken
        audio_ms = audio_bytes / BYTES_PER_MS
        fraction = end_ms / audio_ms if audio_ms > 0 else 0.0
        self._log.note(TurnCut(item_id, heard_part(text, fraction), self._clock()))

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

    # ---- the end -----------------------------------------------------------------------------------

    def ended(self, ending: Ending, *, started: bool = True) -> None:
        """The conversation closed: the log finishes its record (with the digest if no summary came);
        one that never started (no model session) is let go unwritten. Only the first call counts."""
        if self._ended:
            return
        self._ended = True
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        if started:
            self._log.note(Ended(ENDED_HOW.get(ending, "error"), self._clock()))
        else:
            self._log.discard()

    async def summarise(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """The person has left and the model connection is still open: ask it for the summary and
        wait for it, :data:`~companion.conversations.summary.SUMMARY_WAIT_S` at most."""
        language = self._log.summary_language()
        if language is None:
            return
        key = summaries.new_key()
        self._key, self._response = key, None
        self._done = asyncio.get_running_loop().create_future()
        text: str | None = None
        try:
            async with asyncio.timeout(summaries.SUMMARY_WAIT_S):
                await send(summaries.summary_request(key, language))
                text = await self._done
        except TimeoutError:
            log.info("the model's summary did not come within %g s", summaries.SUMMARY_WAIT_S)
        except Exception as exc:  # the connection went: the digest stands in
            log.info("the summary could not be asked for: %s", type(exc).__name__)
        finally:
            self._done = None
        self._log.summarised(text)

    def _ours(self, kind: Any, event: Mapping[str, Any]) -> bool:
        """An event of the summary's response (or an error naming its request): settled here."""
        if kind == "response.created":
            if summaries.key_of(event.get("response")) != self._key:
                return False
            response = event.get("response")
            self._response = response.get("id") if isinstance(response, Mapping) else None
            return True
        if kind == "response.done":
            if summaries.key_of(event.get("response")) != self._key:
                return False
            self._settle(summaries.answer_text(event))
            return True
        if kind == "error":
            error = event.get("error")
            if isinstance(error, Mapping) and error.get("event_id") == "evt_" + str(self._key):
                self._settle(None)
                return True
            return False
        response_id = event.get("response_id")
        return response_id is not None and response_id == self._response

    def _settle(self, text: str | None) -> None:
        self._key = self._response = None
        if self._done is not None and not self._done.done():
            self._done.set_result(text)


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
