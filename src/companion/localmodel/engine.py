"""The offline engine's sans-I/O core: client events in, server events out. Not an AI.

``EngineSession`` holds one conversation: the effective session config, the items, the input audio
buffer and the response in flight. It never touches a socket or the event loop, so tests drive it
with plain dicts, and the websocket shell in :mod:`companion.localmodel.server` stays thin.

Two kinds of output exist, as on the real service. Answers to a client event (``session.updated``,
``conversation.item.added``, ``error`` ...) are returned by :meth:`EngineSession.receive_event`
straight away. A response *streams*: its events are pulled one by one with
:meth:`EngineSession.next_output`, so the shell can pace them, and a ``response.cancel`` or a
second ``response.create`` can arrive while it is still active, as they do in real calls.

The core works in GA shapes; a beta connection is translated at the edges with
:mod:`companion.realtime.protocol`, after its events were checked against the beta field names.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from companion.localmodel import config as cfg
from companion.localmodel.audio import duration_ms
from companion.localmodel.conversation import Conversation
from companion.localmodel.errors import EngineError, invalid_type, invalid_value, unknown_parameter
from companion.localmodel.inputs import AudioInput
from companion.localmodel.items import check_item, normalise_item
from companion.localmodel.jobs import HearingJob, SpeechJob, set_transcript, transcription_usage, voice_for
from companion.localmodel.replies import Reply, ReplyContext, plan_reply
from companion.localmodel.responses import AUDIO_MS_PER_TOKEN, ActiveResponse, ResponseSettings, text_tokens
from companion.realtime.protocol import (
    Dialect,
    ProtocolError,
    client_event_beta_to_ga,
    parse_event,
    server_event_ga_to_beta,
    session_ga_to_beta,
)

JsonDict = dict[str, Any]

DEFAULT_MODEL: Final = "gpt-realtime"
DEFAULT_MAX_SESSION_S: Final = 3600.0  # OpenAI GA sessions last 60 minutes
SESSION_EXPIRED_CLOSE_CODE: Final = 1001  # observed on the service: "going away" plus the message
TOKENS_PER_MINUTE_LIMIT: Final = 15_000_000  # the tokens limit a live rate_limits.updated reported
MIN_COMMIT_MS: Final = 100  # the service refuses to commit less audio than this
# Client events ``received`` keeps: the opening session.update and minutes of talk, but not an hour's
# 50 appends a second (the oldest go first).
RECEIVED_KEPT: Final = 1000
INSTRUCTIONS_KEPT: Final = 50  # the latest instructions, for tests and diagnosis; older ones are dropped
DEFAULT_OUTPUT_DELAY_S: Final = 0.005  # pause per streamed delta: a response stays "active" a while

_EVENT_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "session.update": frozenset({"session"}),
    "input_audio_buffer.append": frozenset({"audio"}),
    "input_audio_buffer.commit": frozenset(),
    "input_audio_buffer.clear": frozenset(),
    "conversation.item.create": frozenset({"item", "previous_item_id"}),
    "conversation.item.retrieve": frozenset({"item_id"}),
    "conversation.item.delete": frozenset({"item_id"}),
    "conversation.item.truncate": frozenset({"item_id", "content_index", "audio_end_ms"}),
    "response.create": frozenset({"response"}),
    "response.cancel": frozenset({"response_id"}),
}


@dataclass
class Behaviour:
    """Switches tests flip at runtime to make the engine misbehave the way a real model can."""

    reject_session_updates: bool = False  # answer every session.update with an error
    ignore_session_updates: bool = False  # answer nothing at all (and apply nothing)
    session_update_delay_s: float = 0.0  # the websocket shell waits this long before handling one
    output_delay_s: float = DEFAULT_OUTPUT_DELAY_S  # the shell's pause after each streamed delta


def _remembered(raw: JsonDict) -> JsonDict:
    """What ``received`` keeps of a client event: all of it, but an append's audio only by size."""
    if raw.get("type") != "input_audio_buffer.append" or "audio" not in raw:
        return raw
    kept = {key: value for key, value in raw.items() if key != "audio"}
    audio = raw["audio"]
    kept["audio_chars"] = len(audio) if isinstance(audio, str) else None
    return kept


class EngineSession:
    """One realtime conversation, sans I/O. ``clock`` returns epoch seconds (injected for tests)."""

    def __init__(
        self,
        *,
        dialect: Dialect = "ga",
        model: str = DEFAULT_MODEL,
        session_id: str = "sess_1",
        clock: Callable[[], float] = time.time,
        max_session_s: float = DEFAULT_MAX_SESSION_S,
        behaviour: Behaviour | None = None,
        external_replies: bool = False,
        speaks: bool = False,
        hears: bool = False,
    ) -> None:
        self.dialect: Dialect = dialect
        self.behaviour = behaviour or Behaviour()
        self.external_replies = external_replies
        self.speaks = speaks  # audio replies wait for a SpeechJob's result instead of the tone
        self.hears = hears  # committed turns wait for a HearingJob's transcript before replies
        self.max_session_s = max_session_s
        self.started_at = clock()
        self.deadline = self.started_at + max_session_s
        self.config = cfg.default_session(session_id=session_id, model=model, expires_at=int(self.deadline))
        self.conversation = Conversation()
        self.items = self.conversation.items  # the same list: what tests inspect
        # the latest client events, for tests and diagnosis; audio appends only as a summary
        self.received: deque[JsonDict] = deque(maxlen=RECEIVED_KEPT)
        self.instructions_history: list[str] = [self.config["instructions"]]
        self.assistant_audio_produced = False
        self.active: ActiveResponse | None = None
        self.closed: tuple[int, str] | None = None
        self.beta_temperature = cfg.DEFAULT_BETA_TEMPERATURE
        self.audio = AudioInput(self.config["audio"]["input"]["turn_detection"])
        self._streams: deque[ActiveResponse] = deque()
        self._awaiting: ReplyContext | None = None
        self._hearing_jobs: deque[HearingJob] = deque()
        self._speech_jobs: deque[SpeechJob] = deque()
        self._unheard: set[str] = set()  # user items whose transcript is still being made
        self._unplanned: list[tuple[ActiveResponse, ReplyContext]] = []  # waiting for transcripts
        self._unspoken: dict[str, tuple[ActiveResponse, Reply]] = {}  # waiting for their speech
        self._tokens_used = 0
        self._ids = {name: itertools.count(1) for name in ("event", "item", "call", "resp")}
        self._handlers: Mapping[str, Callable[[JsonDict, Mapping[str, Any]], list[JsonDict]]] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.retrieve": self._item_retrieve,
            "conversation.item.delete": self._item_delete,
            "conversation.item.truncate": self._item_truncate,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }

    # -- public surface -----------------------------------------------------------------------------

    def new_id(self, kind: str) -> str:
        return f"{kind}_{next(self._ids[kind])}"

    def session_view(self) -> JsonDict:
        """The effective session as this connection's dialect shows it."""
        if self.dialect == "ga":
            return copy.deepcopy(self.config)
        return {**session_ga_to_beta(self.config), "temperature": self.beta_temperature}

    @property
    def responding(self) -> bool:
        return self.active is not None

    @property
    def awaiting_reply(self) -> ReplyContext | None:
        """Set when ``external_replies`` is on and a text reply is wanted from outside."""
        return self._awaiting

    def start(self) -> list[JsonDict]:
        return [self._event("session.created", session=self.session_view())]

    def receive_text(self, text: str | bytes) -> list[JsonDict]:
        try:
            event = parse_event(text)
        except ProtocolError as exc:
            return [self._error(EngineError(exc.code, exc.message, param=exc.param), None)]
        return self._receive(event.data)  # freshly parsed: nobody else holds it

    def receive_bytes(self, data: bytes) -> list[JsonDict]:
        message = "Expected a text WebSocket message; binary frames are not supported."
        return [self._error(EngineError("invalid_event", message), None)]

    def receive_event(self, event: Mapping[str, Any]) -> list[JsonDict]:
        """Handle one client event; return the immediate answers (an ``error`` on a mistake)."""
        return self._receive(copy.deepcopy(dict(event)))  # the caller may go on changing its own

    def _receive(self, raw: JsonDict) -> list[JsonDict]:
        self.received.append(_remembered(raw))
        client_id = raw.get("event_id")
        try:
            if client_id is not None and not isinstance(client_id, str):
                raise invalid_type("event_id", "a string", client_id)
            handler = self._handlers.get(str(raw.get("type")))
            if handler is None:
                raise invalid_value("type", raw.get("type"), self._handlers)
            for key in raw:
                if key not in ("type", "event_id") and key not in _EVENT_KEYS[raw["type"]]:
                    raise unknown_parameter(key)
            ga = raw if self.dialect == "ga" else client_event_beta_to_ga(raw)
            return self._emit(handler(ga, raw))
        except EngineError as exc:
            return [self._error(exc, client_id if isinstance(client_id, str) else None)]

    def next_output(self) -> JsonDict | None:
        """The next streamed response event, or None when nothing is ready."""
        while self._streams:
            event = self._pull(self._streams[0])
            if event is None:
                if not self._streams[0].finished:
                    return None
                self._streams.popleft()
                continue
            translated = self._emit([event])
            if translated:
                return translated[0]
        return None

    def drain(self) -> list[JsonDict]:
        """Every streamed event that is ready (tests use this; the shell paces instead)."""
        out: list[JsonDict] = []
        while (event := self.next_output()) is not None:
            out.append(event)
        return out

    def provide_reply(self, reply: Reply) -> None:
        """Finish the response that :attr:`awaiting_reply` announced."""
        if self._awaiting is not None and self.active is not None:
            context, self._awaiting = self._awaiting, None
            self._start_reply(self.active, reply, context.instructions)

    def take_jobs(self) -> tuple[list[HearingJob], list[SpeechJob]]:
        """Transcriptions and syntheses the shell should run now (each is handed out once)."""
        hearing, speech = list(self._hearing_jobs), list(self._speech_jobs)
        self._hearing_jobs.clear()
        self._speech_jobs.clear()
        return hearing, speech

    def provide_transcript(self, item_id: str, transcript: str | None) -> list[JsonDict]:
        """A :class:`HearingJob`'s result (None: nothing recognised). Returns the transcription
        events when the session asked for them; responses waiting for it are planned now, so a
        reply always reads the transcript of the turn it answers."""
        self._unheard.discard(item_id)
        if transcript:
            set_transcript(self.items, item_id, transcript)
            for _, context in self._unplanned:
                set_transcript(context.items, item_id, transcript)
        out: list[JsonDict] = []
        if self.config["audio"]["input"]["transcription"] is not None:
            text, where = transcript or "", {"item_id": item_id, "content_index": 0}
            if text:
                out.append(
                    self._event("conversation.item.input_audio_transcription.delta", **where, delta=text)
                )
            usage = transcription_usage(self.conversation.audio_ms.get(item_id, 0.0), text)
            kind = "conversation.item.input_audio_transcription.completed"
            out.append(self._event(kind, **where, transcript=text, usage=usage))
        if not self._unheard:
            waiting, self._unplanned = self._unplanned, []
            for response, context in waiting:
                self._plan(response, context)
        return self._emit(out)

    def provide_speech(self, response_id: str, pcm: bytes | None) -> None:
        """A :class:`SpeechJob`'s result; None (synthesis failed) gives the tone instead."""
        waiting = self._unspoken.pop(response_id, None)
        if waiting is not None and not waiting[0].started:  # a cancelled response says nothing more
            waiting[0].start(waiting[1], item_id=self.new_id("item"), call_id="", speech=pcm)

    def expire(self) -> list[JsonDict]:
        """The service's end of a session: a ``session_expired`` error, then a close (1001)."""
        minutes = self.max_session_s / 60
        span = f"{minutes:g} minutes" if minutes.is_integer() else f"{self.max_session_s:g} seconds"
        message = f"Your session hit the maximum duration of {span}."
        self.closed = (SESSION_EXPIRED_CLOSE_CODE, message)
        return [self._error(EngineError("session_expired", message), None)]

    # -- plumbing -----------------------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> JsonDict:
        return {"type": kind, "event_id": self.new_id("event"), **fields}

    def _error(self, exc: EngineError, client_id: str | None) -> JsonDict:
        error = {"type": exc.type, "code": exc.code, "message": exc.message, "param": exc.param}
        return self._event("error", error={**error, "event_id": client_id})

    def _emit(self, events: list[JsonDict]) -> list[JsonDict]:
        if self.dialect == "ga":
            return events
        out = [beta for event in events for beta in server_event_ga_to_beta(event)]
        for event in out:
            if event["type"] in ("session.created", "session.updated"):
                event["session"]["temperature"] = self.beta_temperature
        return out

    def _pull(self, stream: ActiveResponse) -> JsonDict | None:
        event = stream.pull()
        if event is not None:
            match event["type"]:
                case "response.output_audio.delta":
                    self.assistant_audio_produced = True
                case "response.done":
                    if stream.item is not None and stream.audio_ms:
                        self.conversation.audio_ms[stream.item["id"]] = stream.audio_ms
                    if self.active is stream:
                        self.active = None
        return event

    def _item_events(self, item: JsonDict, previous: str | None) -> list[JsonDict]:
        return [
            self._event("conversation.item.added", previous_item_id=previous, item=copy.deepcopy(item)),
            self._event("conversation.item.done", previous_item_id=previous, item=copy.deepcopy(item)),
        ]

    # -- session ------------------------------------------------------------------------------------

    def _session_update(self, event: JsonDict, raw: Mapping[str, Any]) -> list[JsonDict]:
        """Applies at once; a response already in flight keeps the instructions it started with."""
        if self.behaviour.ignore_session_updates:
            return []
        update = cfg.validate_session_update(raw.get("session"), self.dialect)
        if self.behaviour.reject_session_updates:
            raise EngineError(
                "invalid_value",
                "Simulated rejection: this local model rejects session.update.",
                param="session",
            )
        if self.assistant_audio_produced and "voice" in update.get("audio", {}).get("output", {}):
            raise EngineError(
                "cannot_update_voice", "Cannot update a conversation's voice if assistant audio is present."
            )
        if self.dialect == "beta" and "temperature" in raw["session"]:
            self.beta_temperature = raw["session"]["temperature"]
        self.config = cfg.merge_session(self.config, update)
        if "instructions" in update:
            self.instructions_history.append(self.config["instructions"])
            del self.instructions_history[:-INSTRUCTIONS_KEPT]
        if "turn_detection" in update.get("audio", {}).get("input", {}):
            self.audio.configure(self.config["audio"]["input"]["turn_detection"])
        return [self._event("session.updated", session=self.config)]  # a value: never changed in place

    # -- input audio --------------------------------------------------------------------------------

    def _append(self, event: JsonDict, raw: Mapping[str, Any]) -> list[JsonDict]:
        out: list[JsonDict] = []
        for kind, at_ms in self.audio.append(event.get("audio")):
            if kind == "speech_started":
                item_id = self.audio.reserve_item_id(self.new_id("item"))
                out.append(
                    self._event("input_audio_buffer.speech_started", audio_start_ms=at_ms, item_id=item_id)
                )
                turn = self.config["audio"]["input"]["turn_detection"] or {}
                if self.active is not None and turn.get("interrupt_response", True):
                    self._cancel_active("turn_detected")
                continue
            item_id = self.audio.reserved_item_id or self.new_id("item")
            out.append(self._event("input_audio_buffer.speech_stopped", audio_end_ms=at_ms, item_id=item_id))
            out.extend(self._commit_buffer())
            turn = self.config["audio"]["input"]["turn_detection"] or {}
            if turn.get("create_response", True) and self.active is None:
                out.extend(self._begin_response({}))
        return out

    def _commit(self, event: JsonDict, raw: Mapping[str, Any]) -> list[JsonDict]:
        buffered = duration_ms(len(self.audio.buffer))
        if buffered < MIN_COMMIT_MS:
            raise EngineError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered:.2f}ms of audio.",
            )
        return self._commit_buffer()

    def _commit_buffer(self) -> list[JsonDict]:
        item_id = self.audio.reserved_item_id or self.new_id("item")
        pcm = self.audio.take()
        self.conversation.audio_ms[item_id] = duration_ms(len(pcm))
        if self.hears:
            self._unheard.add(item_id)
            self._hearing_jobs.append(HearingJob(item_id, pcm))
        item = normalise_item(
            {"type": "message", "role": "user", "content": [{"type": "input_audio", "transcript": None}]},
            item_id,
        )
        previous = self.conversation.add(item)
        committed = self._event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        return [committed, *self._item_events(item, previous)]

    def _clear(self, event: JsonDict, raw: Mapping[str, Any]) -> list[JsonDict]:
        self.audio.take()
        return [self._event("input_audio_buffer.cleared")]

    # -- conversation -------------------------------------------------------------------------------

    def _item_create(self, event: JsonDict, raw: Mapping[str, Any]) -> list[JsonDict]:
        check_item(raw.get("item"), self.dialect)
        wanted = event["item"].get("id")
        if wanted is not None and self.conversation.find(wanted) is not None:
            raise invalid_value("item.id", wanted)
        item = normalise_item(event["item"], wanted or self.new_id("item"))
        previous = self.conversation.add(item, event.get("previous_item_id"))
        return self._item_events(item, previous)

    def _item_retrieve(self, event: JsonDict, raw: Mapping[str, Any]) -> list[JsonDict]:
        item = self.conversation.get(event.get("item_id"), "retrieving", "item_retrieve_invalid_item_id")
        return [self._event("conversation.item.retrieved", item=copy.deepcopy(item))]

    def _item_delete(self, event: JsonDict, raw: Mapping[str, Any]) -> list[JsonDict]:
        item = self.conversation.delete(event.get("item_id"))
        return [self._event("conversation.item.deleted", item_id=item["id"])]

    def _item_truncate(self, event: JsonDict, raw: Mapping[str, Any]) -> list[JsonDict]:
        end = event.get("audio_end_ms")
        item = self.conversation.truncate(event.get("item_id"), event.get("content_index"), end)
        return [
            self._event("conversation.item.truncated", item_id=item["id"], content_index=0, audio_end_ms=end)
        ]

    # -- responses ----------------------------------------------------------------------------------

    def _response_create(self, event: JsonDict, raw: Mapping[str, Any]) -> list[JsonDict]:
        cfg.check_response_field_names(raw.get("response"), self.dialect)
        overrides = cfg.validate_response_overrides(event.get("response"), self.dialect)
        if self.active is not None:
            raise EngineError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self.active.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        return self._begin_response(overrides)

    def _begin_response(self, overrides: Mapping[str, Any]) -> list[JsonDict]:
        """Start a response; return what older responses still owe, then ``response.created``."""
        session = self.config
        output = {**session["audio"]["output"], **overrides.get("audio", {}).get("output", {})}
        instructions = overrides.get("instructions", session["instructions"])
        in_band = overrides.get("conversation", "auto") != "none"
        settings = ResponseSettings(
            response_id=self.new_id("resp"),
            conversation_id="conv_1" if in_band else None,
            output_modalities=list(overrides.get("output_modalities", session["output_modalities"])),
            voice=output["voice"],
            audio_format=cfg.fill_defaults("output", "format", output["format"]),
            max_output_tokens=overrides.get("max_output_tokens", session["max_output_tokens"]),
            metadata=overrides.get("metadata"),
            input_text_tokens=text_tokens(instructions + self.conversation.text()),
            input_audio_tokens=int(self.conversation.user_audio_ms()) // AUDIO_MS_PER_TOKEN,
        )
        response = ActiveResponse(
            settings,
            event_id=lambda: self.new_id("event"),
            add_item=self.conversation.add,
            rate_limits=self._rate_limits,
        )
        self.active = response
        self._streams.append(response)
        context = ReplyContext(
            instructions=instructions,
            items=copy.deepcopy(self.items),
            tools=overrides.get("tools", session["tools"]),
            tool_choice=overrides.get("tool_choice", session["tool_choice"]),
            out_of_band_text=not in_band and "audio" not in settings.output_modalities,
        )
        if self._unheard:  # a turn is still being transcribed: its reply must read the transcript
            self._unplanned.append((response, context))
        else:
            self._plan(response, context)
        out: list[JsonDict] = []
        while self._streams[0] is not response:  # older ones are finished or cancelled
            event = self._pull(self._streams[0])
            if event is None:
                self._streams.popleft()
            else:
                out.append(event)
        created = self._pull(response)
        return [*out, created] if created is not None else out

    def _plan(self, response: ActiveResponse, context: ReplyContext) -> None:
        if response is not self.active:  # cancelled while it waited for a transcript
            return
        reply = plan_reply(context)
        if self.external_replies and reply.kind == "text" and not context.out_of_band_text:
            self._awaiting = context
        else:
            self._start_reply(response, reply, context.instructions)

    def _start_reply(self, response: ActiveResponse, reply: Reply, instructions: str) -> None:
        if self.speaks and reply.kind == "text" and "audio" in response.settings.output_modalities:
            self._unspoken[response.id] = (response, reply)
            voice = voice_for(instructions, reply.text, response.settings.voice)
            self._speech_jobs.append(SpeechJob(response.id, reply.text, voice))
            return
        call_id = self.new_id("call") if reply.kind == "function_call" else ""
        response.start(reply, item_id=self.new_id("item"), call_id=call_id)

    def _response_cancel(self, event: JsonDict, raw: Mapping[str, Any]) -> list[JsonDict]:
        wanted = event.get("response_id")
        if self.active is None or (wanted is not None and wanted != self.active.id):
            raise EngineError("response_cancel_not_active", "Cancellation failed: no active response found")
        self._cancel_active("client_cancelled")
        return []

    def _cancel_active(self, reason: str) -> None:
        """The response stops producing content now; its closing events still stream out."""
        if self.active is not None:
            self.active.cancel(reason)
            self.active = None
            self._awaiting = None

    def _rate_limits(self, tokens: int) -> JsonDict:
        self._tokens_used += tokens
        remaining = max(0, TOKENS_PER_MINUTE_LIMIT - self._tokens_used)
        limit = {
            "name": "tokens",
            "limit": TOKENS_PER_MINUTE_LIMIT,
            "remaining": remaining,
            "reset_seconds": 0.001,
        }
        return self._event("rate_limits.updated", rate_limits=[limit])
