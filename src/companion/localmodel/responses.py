"""One response in flight: the server events it produces, handed out one at a time.

Events are queued as thunks and built when pulled, so a ``response.cancel`` or a barge-in that
arrives halfway through changes what is still to come (partial transcript, ``incomplete`` item,
``cancelled`` status) exactly as a streaming server would. The event order follows a live capture
of the GA service: ``response.output_item.added`` precedes ``conversation.item.added``, and
``conversation.item.done`` precedes ``response.output_item.done``.
"""

from __future__ import annotations

import base64
import copy
import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from companion.localmodel.audio import AUDIO_CHUNK_MS, BYTES_PER_MS, pcm_chunks, reply_audio_ms, tone_chunks
from companion.localmodel.replies import Reply

JsonDict = dict[str, Any]
Thunk = Callable[[], JsonDict]

CHARS_PER_TOKEN: Final = 4  # rough text token size; counts are deterministic, not billing-accurate
AUDIO_MS_PER_TOKEN: Final = 50  # rough audio token size, same caveat


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def usage(*, input_text: int, input_audio: int, output_text: int, output_audio: int) -> JsonDict:
    """The ``usage`` block of ``response.done``, in the shape the service sends."""
    return {
        "total_tokens": input_text + input_audio + output_text + output_audio,
        "input_tokens": input_text + input_audio,
        "output_tokens": output_text + output_audio,
        "input_token_details": {
            "text_tokens": input_text,
            "audio_tokens": input_audio,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
    }


@dataclass(frozen=True, slots=True)
class ResponseSettings:
    """The per-response view of the session (session config plus ``response.create`` overrides)."""

    response_id: str
    conversation_id: str | None  # None: out-of-band (``conversation: "none"``), nothing is stored
    output_modalities: list[str]
    voice: Any
    audio_format: JsonDict
    max_output_tokens: Any
    metadata: Any
    input_text_tokens: int
    input_audio_tokens: int


class ActiveResponse:
    """Queue of the events of one response. ``add_item`` stores the output item in the conversation
    (returning the previous item's id); ``rate_limits`` builds the event after ``response.done``."""

    def __init__(
        self,
        settings: ResponseSettings,
        *,
        event_id: Callable[[], str],
        add_item: Callable[[JsonDict], str | None],
        rate_limits: Callable[[int], JsonDict],
    ) -> None:
        self.settings = settings
        self.status = "in_progress"
        self.status_details: JsonDict | None = None
        self.item: JsonDict | None = None
        self.audio_ms = 0
        self.started = False
        self.finished = False
        self._event_id = event_id
        self._add_item = add_item
        self._rate_limits = rate_limits
        self._usage: JsonDict | None = None
        self._said: list[str] = []
        self._created_sent = False
        self._item_added = False
        self._item_done = False
        self._in_conversation = False
        self._part_key = "text"
        self._audio_sent_ms = 0
        self._queue: deque[Thunk] = deque([lambda: self._event("response.created", response=self.resource())])

    @property
    def id(self) -> str:
        return self.settings.response_id

    def resource(self) -> JsonDict:
        s = self.settings
        return {
            "object": "realtime.response",
            "id": s.response_id,
            "status": self.status,
            "status_details": copy.deepcopy(self.status_details),
            "output": [copy.deepcopy(self.item)] if self.item is not None and self._item_added else [],
            "conversation_id": s.conversation_id,
            "output_modalities": list(s.output_modalities),
            "max_output_tokens": s.max_output_tokens,
            "audio": {"output": {"format": copy.deepcopy(s.audio_format), "voice": copy.deepcopy(s.voice)}},
            "usage": copy.deepcopy(self._usage),
            "metadata": copy.deepcopy(s.metadata),
        }

    def pull(self) -> JsonDict | None:
        """The next event, or None when there is none *yet* (no reply) or no more (finished)."""
        if not self._queue:
            return None
        event = self._queue.popleft()()
        match event["type"]:
            case "response.created":
                self._created_sent = True
            case "response.output_audio_transcript.delta" | "response.output_text.delta":
                self._said.append(event["delta"])
            case "response.output_audio.delta":
                self._audio_sent_ms = min(self.audio_ms, self._audio_sent_ms + AUDIO_CHUNK_MS)
            case "response.done":
                self.finished = True
        return event

    # -- building -----------------------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> JsonDict:
        return {"type": kind, "event_id": self._event_id(), **fields}

    def _where(self) -> JsonDict:
        assert self.item is not None
        return {"response_id": self.id, "item_id": self.item["id"], "output_index": 0}

    def start(self, reply: Reply, *, item_id: str, call_id: str, speech: bytes | None = None) -> None:
        """Queue everything the reply produces; called once the reply is known.

        ``speech`` is the reply spoken (24 kHz PCM16, whole milliseconds); without it an audio
        reply is the tone."""
        if self.started:
            return
        self.started = True
        if reply.kind == "function_call":
            self._start_call(reply, item_id, call_id)
        else:
            self._start_message(reply.text, item_id, speech)
        self._queue_finish()

    def _queue_item_added(self) -> None:
        def output_item_added() -> JsonDict:
            self._item_added = True
            return self._event(
                "response.output_item.added", response_id=self.id, output_index=0, item=self._copy()
            )

        def conversation_item_added() -> JsonDict:
            self._in_conversation = True
            previous = self._add_item(self._live())
            return self._event("conversation.item.added", previous_item_id=previous, item=self._copy())

        self._queue.append(output_item_added)
        if self.settings.conversation_id is not None:
            self._queue.append(conversation_item_added)

    def _finish_item(self) -> None:
        item = self._live()
        item["status"] = "completed" if self.status == "in_progress" else "incomplete"
        if item["type"] == "message" and item["content"]:
            item["content"][0][self._part_key] = "".join(self._said)

    def _queue_item_done(self, *, in_conversation: bool) -> None:
        def conversation_item_done() -> JsonDict:
            self._finish_item()
            return self._event("conversation.item.done", item=self._copy())

        def output_item_done() -> JsonDict:
            self._finish_item()
            self._item_done = True
            return self._event(
                "response.output_item.done", response_id=self.id, output_index=0, item=self._copy()
            )

        if in_conversation:
            self._queue.append(conversation_item_done)
        self._queue.append(output_item_done)

    def _start_call(self, reply: Reply, item_id: str, call_id: str) -> None:
        self.item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": reply.name,
            "call_id": call_id,
            "arguments": "",
        }
        self._queue_item_added()
        ids = {"call_id": call_id}

        def arguments_done() -> JsonDict:
            self._live()["arguments"] = reply.arguments
            return self._event(
                "response.function_call_arguments.done",
                **self._where(),
                **ids,
                name=reply.name,
                arguments=reply.arguments,
            )

        self._queue.append(
            lambda: self._event(
                "response.function_call_arguments.delta", **self._where(), **ids, delta=reply.arguments
            )
        )
        self._queue.append(arguments_done)
        self._queue_item_done(in_conversation=self.settings.conversation_id is not None)

    def _start_message(self, text: str, item_id: str, speech: bytes | None) -> None:
        audio = "audio" in self.settings.output_modalities
        kind = "output_audio" if audio else "output_text"
        self.item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self._queue_item_added()
        part_key = "transcript" if audio else "text"
        where = {"content_index": 0}
        words = re.findall(r"\s*\S+", text)
        if audio and speech:
            chunks = pcm_chunks(speech)
            self.audio_ms = len(speech) // BYTES_PER_MS
        else:
            chunks = tone_chunks(reply_audio_ms(text)) if audio else []
            self.audio_ms = reply_audio_ms(text) if audio else 0
        self._part_key = part_key

        def part_added() -> JsonDict:
            self._live()["content"] = [{"type": kind, part_key: ""}]
            part = {"type": "audio" if audio else "text", part_key: ""}
            return self._event("response.content_part.added", **self._where(), **where, part=part)

        self._queue.append(part_added)
        delta_type = "response.output_audio_transcript.delta" if audio else "response.output_text.delta"
        for said, chunk in _interleave(words, chunks, paced=bool(audio and speech)):
            for word in said:
                self._queue.append(self._delta(delta_type, word))
            if chunk is not None:
                self._queue.append(
                    self._delta("response.output_audio.delta", base64.b64encode(chunk).decode("ascii"))
                )

        def text_done() -> JsonDict:
            said = "".join(self._said)
            self._live()["content"] = [{"type": kind, part_key: said}]
            if audio:
                return self._event(
                    "response.output_audio_transcript.done", **self._where(), **where, transcript=said
                )
            return self._event("response.output_text.done", **self._where(), **where, text=said)

        if audio:
            self._queue.append(lambda: self._event("response.output_audio.done", **self._where(), **where))
        self._queue.append(text_done)
        self._queue.append(
            lambda: self._event(
                "response.content_part.done",
                **self._where(),
                **where,
                part={"type": "audio" if audio else "text", part_key: "".join(self._said)},
            )
        )
        self._queue_item_done(in_conversation=self.settings.conversation_id is not None)

    def _queue_finish(self) -> None:
        def done() -> JsonDict:
            if self.status == "in_progress":
                self.status = "completed"
            said = "".join(self._said)
            audio_ms = self._audio_sent_ms
            if self.item is not None and self.item["type"] == "function_call" and self._item_added:
                said = self.item["arguments"]
            self._usage = usage(
                input_text=self.settings.input_text_tokens,
                input_audio=self.settings.input_audio_tokens,
                output_text=text_tokens(said),
                output_audio=audio_ms // AUDIO_MS_PER_TOKEN,
            )
            return self._event("response.done", response=self.resource())

        self._queue.append(done)
        self._queue.append(lambda: self._rate_limits(int((self._usage or {}).get("total_tokens", 0))))

    def cancel(self, reason: str) -> bool:
        """Stop after what was already sent; False when there is nothing left to cancel."""
        if self.finished or self.status != "in_progress":
            return False
        self.status = "cancelled"
        self.status_details = {"type": "cancelled", "reason": reason}
        self.started = True
        self._queue.clear()
        if not self._created_sent:
            self._queue.append(lambda: self._event("response.created", response=self.resource()))
        if self._item_added and not self._item_done:
            self._queue_item_done(in_conversation=self._in_conversation)
        self._queue_finish()
        return True

    def _delta(self, kind: str, delta: str) -> Thunk:
        return lambda: self._event(kind, **self._where(), content_index=0, delta=delta)

    def _live(self) -> JsonDict:
        assert self.item is not None
        return self.item

    def _copy(self) -> JsonDict:
        return copy.deepcopy(self._live())


def _interleave(
    words: list[str], chunks: list[bytes], *, paced: bool
) -> list[tuple[list[str], bytes | None]]:
    """Pairs of (words, audio chunk) in send order.

    The tone goes word by word with its chunks. Speech is ``paced``: each word is sent with the chunk
    where it roughly starts (spread evenly over the audio), so captions follow the voice instead of
    running ahead of it, and a barge-in's truncation cuts text and audio at about the same place.
    """
    if not paced or not words or not chunks:
        return [
            (words[i : i + 1], chunks[i] if i < len(chunks) else None)
            for i in range(max(len(words), len(chunks)))
        ]
    by_chunk: list[list[str]] = [[] for _ in chunks]
    for index, word in enumerate(words):
        by_chunk[index * len(chunks) // len(words)].append(word)
    return list(zip(by_chunk, chunks, strict=True))
