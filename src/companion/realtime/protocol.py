"""Realtime events as they travel over the wire: parse, serialise, translate between dialects.

Sans-I/O on purpose (no asyncio, no sockets), in the manner of python-websockets' protocol core: the
relay, the offline engine and the tests all share these pure functions, and the tests drive them with
plain strings and dicts.

Two dialects exist. **GA** is what OpenAI serves today and what Azure serves under ``/openai/v1/``;
**beta** ("preview") is what older Azure deployments under ``/openai/realtime?api-version=...`` still
speak. The relay talks GA to its clients and translates at the upstream boundary, so everything here
translates *whole events*, never sockets.

Unknown events are never an error: :func:`parse_event` only insists on a JSON object with a string
``type``; whatever that type is, the event is kept (and forwarded) as it came. Translation likewise
passes unknown event types and unknown fields through untouched, so a newer server feature reaches
the client instead of vanishing in the relay.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

JsonDict = dict[str, Any]
Dialect = Literal["ga", "beta"]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Tables

GA_CLIENT_EVENT_TYPES: Final = _names(
    """
    session.update input_audio_buffer.append input_audio_buffer.commit input_audio_buffer.clear
    conversation.item.create conversation.item.retrieve conversation.item.truncate
    conversation.item.delete response.create response.cancel output_audio_buffer.clear
    """
)
BETA_CLIENT_EVENT_TYPES: Final = (GA_CLIENT_EVENT_TYPES | {"transcription_session.update"}) - {
    "output_audio_buffer.clear"
}

GA_SERVER_EVENT_TYPES: Final = _names(
    """
    error session.created session.updated conversation.created conversation.item.added
    conversation.item.done conversation.item.retrieved conversation.item.truncated
    conversation.item.deleted conversation.item.input_audio_transcription.completed
    conversation.item.input_audio_transcription.delta
    conversation.item.input_audio_transcription.failed
    conversation.item.input_audio_transcription.segment input_audio_buffer.committed
    input_audio_buffer.cleared input_audio_buffer.speech_started input_audio_buffer.speech_stopped
    input_audio_buffer.timeout_triggered output_audio_buffer.started output_audio_buffer.stopped
    output_audio_buffer.cleared response.created response.done response.output_item.added
    response.output_item.done response.content_part.added response.content_part.done
    response.output_text.delta response.output_text.done response.output_audio_transcript.delta
    response.output_audio_transcript.done response.output_audio.delta response.output_audio.done
    response.function_call_arguments.delta response.function_call_arguments.done rate_limits.updated
    """
)

BETA_TO_GA_SERVER_RENAMES: Final[Mapping[str, str]] = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
}
GA_TO_BETA_SERVER_RENAMES: Final[Mapping[str, str]] = {v: k for k, v in BETA_TO_GA_SERVER_RENAMES.items()}

BETA_SERVER_EVENT_TYPES: Final = frozenset(
    {GA_TO_BETA_SERVER_RENAMES.get(t, t) for t in GA_SERVER_EVENT_TYPES}
    - {"conversation.item.added", "conversation.item.done"}
    | {"conversation.item.created", "transcription_session.updated"}
)

AUDIO_FORMATS_BETA_TO_GA: Final[Mapping[str, JsonDict]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_AUDIO_FORMAT_TYPES_GA_TO_BETA: Final = {v["type"]: k for k, v in AUDIO_FORMATS_BETA_TO_GA.items()}

# Flat beta session field -> (GA audio direction, GA key).
_AUDIO_FIELDS: Final[Mapping[str, tuple[str, str]]] = {
    "voice": ("output", "voice"),
    "output_audio_format": ("output", "format"),
    "speed": ("output", "speed"),
    "input_audio_format": ("input", "format"),
    "input_audio_transcription": ("input", "transcription"),
    "turn_detection": ("input", "turn_detection"),
    "input_audio_noise_reduction": ("input", "noise_reduction"),
}
_FORMAT_FIELDS: Final = frozenset({"output_audio_format", "input_audio_format"})

#: GA session fields that beta has no way to express; dropped when translating GA -> beta.
GA_ONLY_SESSION_FIELDS: Final = frozenset({"truncation", "prompt", "reasoning", "parallel_tool_calls"})
#: Beta session fields that GA has no way to express; dropped when translating beta -> GA.
_BETA_ONLY_SESSION_FIELDS: Final = frozenset({"temperature"})

# Assistant content parts are named differently inside conversation items (not inside content_part
# events, where both dialects say "text"/"audio").
_ASSISTANT_CONTENT_GA_TO_BETA: Final = {"output_text": "text", "output_audio": "audio"}
_ASSISTANT_CONTENT_BETA_TO_GA: Final = {v: k for k, v in _ASSISTANT_CONTENT_GA_TO_BETA.items()}

# Parsing and serialising


class ProtocolError(ValueError):
    """A text frame that is not a realtime event at all (not JSON, not an object, no ``type``).

    ``code`` and ``param`` are what a real server puts in its ``error`` event for the same frame, so
    the offline engine can answer exactly like the service does.
    """

    def __init__(self, message: str, *, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


@dataclass(frozen=True, slots=True)
class Event:
    """One parsed event. ``data`` is the whole JSON object, ``type`` included, untouched."""

    type: str
    data: JsonDict

    @property
    def event_id(self) -> str | None:
        value = self.data.get("event_id")
        return value if isinstance(value, str) else None

    def is_known(self, *, dialect: Dialect = "ga", side: Literal["client", "server"] = "server") -> bool:
        """Whether this type is in the published catalogue; unknown events are still valid events."""
        table = {
            ("ga", "client"): GA_CLIENT_EVENT_TYPES,
            ("ga", "server"): GA_SERVER_EVENT_TYPES,
            ("beta", "client"): BETA_CLIENT_EVENT_TYPES,
            ("beta", "server"): BETA_SERVER_EVENT_TYPES,
        }[(dialect, side)]
        return self.type in table


def parse_event(text: str | bytes) -> Event:
    """Parse one text frame. Raises :class:`ProtocolError` only when it is not an event at all."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"Invalid event: failed to parse JSON value. {exc}", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise ProtocolError("Invalid event: expected a JSON object.", code="invalid_event")
    kind = data.get("type")
    if kind is None:
        raise ProtocolError(
            "Missing required parameter: 'type'.", code="missing_required_parameter", param="type"
        )
    if not isinstance(kind, str):
        raise ProtocolError(
            f"Invalid type for 'type': expected a string, but got {type(kind).__name__}.",
            code="invalid_type",
            param="type",
        )
    return Event(type=kind, data=data)


# The client's audio frames: most of a conversation's traffic, read without building a JSON tree.

AUDIO_APPEND: Final = "input_audio_buffer.append"
_JSON_SPACE: Final = r"[ \t\n\r]*"  # JSON's whitespace (``\s`` would also take Unicode spaces)
MAX_AUDIO_EVENT_ID: Final = 64  # longer client event ids take the general path (they are rare)
_SAFE_ID: Final = rf'"(?P<{{}}>[A-Za-z0-9_.:\-]{{{{1,{MAX_AUDIO_EVENT_ID}}}}})"'  # nothing to escape in it
_APPEND_HEAD: Final = re.compile(
    rf'\{{{_JSON_SPACE}"type"{_JSON_SPACE}:{_JSON_SPACE}"input_audio_buffer\.append"{_JSON_SPACE},'
    rf'(?:{_JSON_SPACE}"event_id"{_JSON_SPACE}:{_JSON_SPACE}{_SAFE_ID.format("head_id")}{_JSON_SPACE},)?'
    rf'{_JSON_SPACE}"audio"{_JSON_SPACE}:{_JSON_SPACE}"'
)
_APPEND_TAIL: Final = re.compile(
    rf'"(?:{_JSON_SPACE},{_JSON_SPACE}"event_id"{_JSON_SPACE}:{_JSON_SPACE}{_SAFE_ID.format("tail_id")})?'
    rf"{_JSON_SPACE}\}}{_JSON_SPACE}"
)
# The two spellings clients write (compact, and Python's json.dumps default): a plain prefix test.
_APPEND_PREFIXES: Final = (
    '{"type":"input_audio_buffer.append","audio":"',
    '{"type": "input_audio_buffer.append", "audio": "',
)


def parse_audio_append(text: str) -> JsonDict | None:
    """An ``input_audio_buffer.append`` frame of the exact shape ``{"type", "audio"[, "event_id"]}``,
    as its event; None for anything else (which :func:`parse_event` then reads in full).

    Exact, not a guess from a prefix: the frame must be one JSON object with exactly these members,
    each once, the audio a string with no escape, no quote and only ASCII (so its end is the next
    quote, and nothing can hide after it: a second ``type``, an ``instructions`` member or any other
    field sends the frame down the general path, where the allow-list sees it). What is cheap here is
    that the audio's characters are not decoded one by one: a 20 ms frame is ~1,300 of them, 50 times a
    second. Its content is the model's to judge, as before (the relay never decoded audio; a raw
    control character in it, which JSON forbids, is refused by the model instead of the relay).
    """
    if text.startswith(_APPEND_PREFIXES[0]):
        start, head_id = len(_APPEND_PREFIXES[0]), None
    elif text.startswith(_APPEND_PREFIXES[1]):
        start, head_id = len(_APPEND_PREFIXES[1]), None
    else:
        head = _APPEND_HEAD.match(text)
        if head is None:
            return None
        start, head_id = head.end(), head.group("head_id")
    end = text.find('"', start)
    if end < 0:
        return None
    if text.endswith('"}') and end == len(text) - 2:
        tail_id = None
    else:
        tail = _APPEND_TAIL.fullmatch(text, end)
        if tail is None:
            return None
        tail_id = tail.group("tail_id")
    audio = text[start:end]
    if not audio.isascii() or "\\" in audio or (head_id is not None and tail_id is not None):
        return None
    event: JsonDict = {"type": AUDIO_APPEND, "audio": audio}
    if head_id is not None or tail_id is not None:
        event["event_id"] = head_id or tail_id
    return event


def dump_event(event: Mapping[str, Any] | Event) -> str:
    """Serialise compactly; Hebrew stays readable (``ensure_ascii=False``) and frames stay small."""
    data = event.data if isinstance(event, Event) else event
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def new_event_id(prefix: str = "evt") -> str:
    """A fresh client ``event_id``; unique enough to correlate an ``error`` with what caused it."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


# Session and item translation


def audio_format_beta_to_ga(value: Any) -> Any:
    """``"pcm16"`` -> ``{"type": "audio/pcm", "rate": 24000}``; anything unknown passes unchanged."""
    if isinstance(value, str) and value in AUDIO_FORMATS_BETA_TO_GA:
        return dict(AUDIO_FORMATS_BETA_TO_GA[value])
    return copy.deepcopy(value)


def audio_format_ga_to_beta(value: Any) -> Any:
    """``{"type": "audio/pcmu"}`` -> ``"g711_ulaw"``; a PCM rate other than 24000 has no beta name."""
    if isinstance(value, Mapping):
        name = _AUDIO_FORMAT_TYPES_GA_TO_BETA.get(str(value.get("type")))
        if name is not None and (name != "pcm16" or value.get("rate", 24000) == 24000):
            return name
    return copy.deepcopy(value)


def _modalities_beta_to_ga(value: Any) -> Any:
    if isinstance(value, list):
        return ["audio"] if "audio" in value else ["text"]
    return copy.deepcopy(value)


def _modalities_ga_to_beta(value: Any) -> Any:
    if isinstance(value, list):
        return ["text", "audio"] if "audio" in value else ["text"]
    return copy.deepcopy(value)


def session_beta_to_ga(session: Mapping[str, Any]) -> JsonDict:
    """Beta session (flat) -> GA session (``type``, ``output_modalities``, nested ``audio``)."""
    out: JsonDict = {"type": "realtime"}
    audio: dict[str, JsonDict] = {}
    for key, value in session.items():
        if key in _AUDIO_FIELDS:
            direction, ga_key = _AUDIO_FIELDS[key]
            translated = audio_format_beta_to_ga(value) if key in _FORMAT_FIELDS else copy.deepcopy(value)
            audio.setdefault(direction, {})[ga_key] = translated
        elif key == "modalities":
            out["output_modalities"] = _modalities_beta_to_ga(value)
        elif key == "max_response_output_tokens":
            out["max_output_tokens"] = copy.deepcopy(value)
        elif key not in _BETA_ONLY_SESSION_FIELDS:
            out[key] = copy.deepcopy(value)
    if audio:
        out["audio"] = {
            direction: audio[direction] for direction in ("input", "output") if direction in audio
        }
    return out


def session_ga_to_beta(session: Mapping[str, Any]) -> JsonDict:
    """GA session -> beta session; GA-only knobs (:data:`GA_ONLY_SESSION_FIELDS`) are dropped."""
    out: JsonDict = {}
    reverse = {(d, k): flat for flat, (d, k) in _AUDIO_FIELDS.items()}
    for key, value in session.items():
        if key == "type" or key in GA_ONLY_SESSION_FIELDS:
            continue
        if key == "output_modalities":
            out["modalities"] = _modalities_ga_to_beta(value)
        elif key == "max_output_tokens":
            out["max_response_output_tokens"] = copy.deepcopy(value)
        elif key == "audio" and isinstance(value, Mapping):
            leftover: JsonDict = {}
            for direction, sub in value.items():
                if direction not in ("input", "output") or not isinstance(sub, Mapping):
                    leftover[direction] = copy.deepcopy(sub)
                    continue
                for sub_key, sub_value in sub.items():
                    flat = reverse.get((direction, sub_key))
                    if flat is None:
                        leftover.setdefault(direction, {})[sub_key] = copy.deepcopy(sub_value)
                    elif flat in _FORMAT_FIELDS:
                        out[flat] = audio_format_ga_to_beta(sub_value)
                    else:
                        out[flat] = copy.deepcopy(sub_value)
            if leftover:  # keep what beta cannot name visible rather than silently lost
                out["audio"] = leftover
        else:
            out[key] = copy.deepcopy(value)
    return out


def _translate_item(item: Any, table: Mapping[str, str]) -> Any:
    if not isinstance(item, Mapping):
        return copy.deepcopy(item)
    out = copy.deepcopy(dict(item))
    if out.get("role") == "assistant" and isinstance(out.get("content"), list):
        for part in out["content"]:
            if isinstance(part, dict) and part.get("type") in table:
                part["type"] = table[part["type"]]
    return out


def item_ga_to_beta(item: Any) -> Any:
    """Assistant content ``output_text``/``output_audio`` -> ``text``/``audio``; the rest is shared."""
    return _translate_item(item, _ASSISTANT_CONTENT_GA_TO_BETA)


def item_beta_to_ga(item: Any) -> Any:
    """Assistant content ``text``/``audio`` -> ``output_text``/``output_audio``."""
    return _translate_item(item, _ASSISTANT_CONTENT_BETA_TO_GA)


def _response_ga_to_beta(response: Any, *, create_params: bool) -> Any:
    """A GA response (resource or ``response.create`` params) in beta shape."""
    if not isinstance(response, Mapping):
        return copy.deepcopy(response)
    out: JsonDict = {}
    for key, value in response.items():
        if key == "output_modalities":
            out["modalities"] = _modalities_ga_to_beta(value)
        elif key == "audio" and isinstance(value, Mapping) and isinstance(value.get("output"), Mapping):
            output = value["output"]
            if "voice" in output:
                out["voice"] = copy.deepcopy(output["voice"])
            if "format" in output:
                out["output_audio_format"] = audio_format_ga_to_beta(output["format"])
        elif key == "max_output_tokens" and create_params:
            out["max_response_output_tokens"] = copy.deepcopy(value)
        elif key in ("output", "input") and isinstance(value, list):
            out[key] = [item_ga_to_beta(item) for item in value]
        else:
            out[key] = copy.deepcopy(value)
    return out


def _response_beta_to_ga(response: Any, *, create_params: bool) -> Any:
    if not isinstance(response, Mapping):
        return copy.deepcopy(response)
    out: JsonDict = {}
    audio_out: JsonDict = {}
    for key, value in response.items():
        if key == "modalities":
            out["output_modalities"] = _modalities_beta_to_ga(value)
        elif key == "voice":
            audio_out["voice"] = copy.deepcopy(value)
        elif key == "output_audio_format":
            audio_out["format"] = audio_format_beta_to_ga(value)
        elif key == "max_response_output_tokens" and create_params:
            out["max_output_tokens"] = copy.deepcopy(value)
        elif key == "temperature":
            continue
        elif key in ("output", "input") and isinstance(value, list):
            out[key] = [item_beta_to_ga(item) for item in value]
        else:
            out[key] = copy.deepcopy(value)
    if audio_out:
        out["audio"] = {"output": audio_out}
    return out


# Event translation


def _with(event: Mapping[str, Any], **changes: Any) -> JsonDict:
    out = copy.deepcopy(dict(event))
    out.update(changes)
    return out


def client_event_ga_to_beta(event: Mapping[str, Any]) -> JsonDict:
    """A client event the relay received in GA shape, as a beta (preview) upstream expects it."""
    match event.get("type"):
        case "session.update" if isinstance(event.get("session"), Mapping):
            return _with(event, session=session_ga_to_beta(event["session"]))
        case "response.create" if isinstance(event.get("response"), Mapping):
            return _with(event, response=_response_ga_to_beta(event["response"], create_params=True))
        case "conversation.item.create" if "item" in event:
            return _with(event, item=item_ga_to_beta(event["item"]))
        case _:
            return copy.deepcopy(dict(event))


def client_event_beta_to_ga(event: Mapping[str, Any]) -> JsonDict:
    """The reverse of :func:`client_event_ga_to_beta` (the offline engine's beta door uses it)."""
    match event.get("type"):
        case "session.update" if isinstance(event.get("session"), Mapping):
            return _with(event, session=session_beta_to_ga(event["session"]))
        case "response.create" if isinstance(event.get("response"), Mapping):
            return _with(event, response=_response_beta_to_ga(event["response"], create_params=True))
        case "conversation.item.create" if "item" in event:
            return _with(event, item=item_beta_to_ga(event["item"]))
        case _:
            return copy.deepcopy(dict(event))


_ITEM_CARRYING: Final = frozenset({"response.output_item.added", "response.output_item.done"})
_RESPONSE_CARRYING: Final = frozenset({"response.created", "response.done"})
_SESSION_CARRYING: Final = frozenset({"session.created", "session.updated"})


def server_event_beta_to_ga(event: Mapping[str, Any]) -> list[JsonDict]:
    """A beta server event as GA events (a list: one beta event can become two GA events)."""
    kind = event.get("type")
    match kind:
        case str() if kind in BETA_TO_GA_SERVER_RENAMES:
            return [_with(event, type=BETA_TO_GA_SERVER_RENAMES[kind])]
        case "conversation.item.created":
            item = item_beta_to_ga(event.get("item"))
            added = _with(event, type="conversation.item.added", item=item)
            done = _with(added, type="conversation.item.done")
            if isinstance(event.get("event_id"), str):
                done["event_id"] = f"{event['event_id']}_done"
            return [added, done]
        case str() if kind in _SESSION_CARRYING and isinstance(event.get("session"), Mapping):
            return [_with(event, session=session_beta_to_ga(event["session"]))]
        case str() if kind in _RESPONSE_CARRYING and isinstance(event.get("response"), Mapping):
            return [_with(event, response=_response_beta_to_ga(event["response"], create_params=False))]
        case str() if kind in _ITEM_CARRYING and "item" in event:
            return [_with(event, item=item_beta_to_ga(event["item"]))]
        case _:
            return [copy.deepcopy(dict(event))]


def server_event_ga_to_beta(event: Mapping[str, Any]) -> list[JsonDict]:
    """A GA server event as beta events; ``conversation.item.done`` has no beta twin (empty list)."""
    kind = event.get("type")
    match kind:
        case str() if kind in GA_TO_BETA_SERVER_RENAMES:
            return [_with(event, type=GA_TO_BETA_SERVER_RENAMES[kind])]
        case "conversation.item.added":
            return [_with(event, type="conversation.item.created", item=item_ga_to_beta(event.get("item")))]
        case "conversation.item.done":
            return []
        case str() if kind in _SESSION_CARRYING and isinstance(event.get("session"), Mapping):
            return [_with(event, session=session_ga_to_beta(event["session"]))]
        case str() if kind in _RESPONSE_CARRYING and isinstance(event.get("response"), Mapping):
            return [_with(event, response=_response_ga_to_beta(event["response"], create_params=False))]
        case str() if kind in _ITEM_CARRYING and "item" in event:
            return [_with(event, item=item_ga_to_beta(event["item"]))]
        case _:
            return [copy.deepcopy(dict(event))]


# Builders for the client events the relay sends (GA shape; translate for a beta upstream)


def _client_event(kind: str, event_id: str | None, **fields: Any) -> JsonDict:
    event: JsonDict = {"type": kind}
    if event_id is not None:
        event["event_id"] = event_id
    event.update(fields)
    return event


def session_update(event_id: str | None, session: Mapping[str, Any]) -> JsonDict:
    """``session.update``; GA requires ``session.type``, so it is filled in when missing."""
    body = copy.deepcopy(dict(session))
    body.setdefault("type", "realtime")
    return _client_event("session.update", event_id, session=body)


def instructions_update_frame(event_id: str, instructions: str) -> str:
    """``dump_event(session_update(event_id, {"type": "realtime", "instructions": instructions}))``,
    with the instructions' JSON made once per text: a refresh sends the same text to every session of
    the person (ten sessions encoded ~10 KB ten times)."""
    return (
        f'{{"type":"session.update","event_id":{json.dumps(event_id)},'
        f'"session":{{"type":"realtime","instructions":{_json_string(instructions)}}}}}'
    )


@functools.lru_cache(maxsize=8)
def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def forget_cached_text() -> None:
    """The instructions kept encoded here leave memory (an erasure: they hold a person's profile)."""
    _json_string.cache_clear()


def response_create(event_id: str | None = None, *, response: Mapping[str, Any] | None = None) -> JsonDict:
    """``response.create``; ``response`` holds overrides that apply to this response only."""
    if response is None:
        return _client_event("response.create", event_id)
    return _client_event("response.create", event_id, response=copy.deepcopy(dict(response)))


def conversation_item_create(
    item: Mapping[str, Any], *, event_id: str | None = None, previous_item_id: str | None = None
) -> JsonDict:
    """``conversation.item.create`` for any item (replaying history after a reconnect uses it)."""
    fields: JsonDict = {"item": copy.deepcopy(dict(item))}
    if previous_item_id is not None:
        fields["previous_item_id"] = previous_item_id
    return _client_event("conversation.item.create", event_id, **fields)


def user_text_message(text: str, *, event_id: str | None = None) -> JsonDict:
    """A user text message as a ``conversation.item.create``."""
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return conversation_item_create(item, event_id=event_id)


def system_message_item(text: str, *, item_id: str | None = None) -> JsonDict:
    """A system message item (context for the model, not a turn): the greeting's, a replay, a reminder."""
    item: JsonDict = {"id": item_id} if item_id is not None else {}
    item.update(type="message", role="system", content=[{"type": "input_text", "text": text}])
    return item


def function_call_output(call_id: str, output_json_str: str, *, event_id: str | None = None) -> JsonDict:
    """The result of a tool call, as the ``conversation.item.create`` the model expects."""
    item = {"type": "function_call_output", "call_id": call_id, "output": output_json_str}
    return conversation_item_create(item, event_id=event_id)


def error_event(
    code: str | None,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    event_id: str | None = None,
    server_event_id: str | None = None,
) -> JsonDict:
    """A server ``error`` event. ``event_id`` is the *client's* id of the failed event (or None)."""
    return {
        "type": "error",
        "event_id": server_event_id or new_event_id("event"),
        "error": {"type": type, "code": code, "message": message, "param": param, "event_id": event_id},
    }
