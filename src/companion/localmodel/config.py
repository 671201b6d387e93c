"""Session configuration: the defaults, strict validation of updates, and merging.

The effective session is always kept in GA shape; a beta connection validates its updates against
the beta field names (so a GA field sent to a preview deployment is rejected, as the service does)
and is then translated with :mod:`companion.realtime.protocol`. Validation is all-or-nothing: a
rejected ``session.update`` changes nothing, which is what the real service does too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Final

from companion.localmodel.errors import (
    EngineError,
    invalid_type,
    invalid_value,
    missing_parameter,
    out_of_range,
    unknown_parameter,
)
from companion.realtime.protocol import Dialect, session_beta_to_ga

JsonDict = dict[str, Any]

VOICES: Final = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
AUDIO_FORMAT_TYPES: Final = ("audio/pcm", "audio/pcmu", "audio/pcma")
BETA_AUDIO_FORMATS: Final = ("pcm16", "g711_ulaw", "g711_alaw")
PCM_RATE: Final = 24000  # the only PCM rate the service accepts for realtime audio
MAX_OUTPUT_TOKENS_LIMIT: Final = 4096  # the service's documented ceiling for max_output_tokens
SPEED_RANGE: Final = (0.25, 1.5)  # documented playback speed range
BETA_TEMPERATURE_RANGE: Final = (0.6, 1.2)  # beta sessions reject temperatures outside this
DEFAULT_BETA_TEMPERATURE: Final = 0.8

SERVER_VAD_DEFAULTS: Final[Mapping[str, Any]] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
SEMANTIC_VAD_DEFAULTS: Final[Mapping[str, Any]] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}
_VAD_DEFAULTS: Final = {"server_vad": SERVER_VAD_DEFAULTS, "semantic_vad": SEMANTIC_VAD_DEFAULTS}

GA_SESSION_FIELDS: Final = frozenset(
    {"type", "audio", "include", "instructions", "max_output_tokens", "model", "output_modalities"}
    | {"parallel_tool_calls", "prompt", "reasoning", "tool_choice", "tools", "tracing", "truncation"}
)
BETA_SESSION_FIELDS: Final = frozenset(
    {"modalities", "instructions", "voice", "input_audio_format", "output_audio_format", "speed"}
    | {"input_audio_transcription", "turn_detection", "input_audio_noise_reduction", "tools"}
    | {"tool_choice", "temperature", "max_response_output_tokens", "tracing", "include", "model"}
)
GA_RESPONSE_FIELDS: Final = frozenset(
    {"audio", "conversation", "input", "instructions", "max_output_tokens", "metadata"}
    | {"output_modalities", "parallel_tool_calls", "prompt", "reasoning", "tool_choice", "tools"}
)
BETA_RESPONSE_FIELDS: Final = frozenset(
    {"modalities", "instructions", "voice", "output_audio_format", "tools", "tool_choice"}
    | {"temperature", "max_response_output_tokens", "conversation", "metadata", "input"}
)

# GA paths reported back under the beta names a preview client actually sent.
_BETA_PATHS: Final = {
    "audio.output.voice": "voice",
    "audio.output.format": "output_audio_format",
    "audio.output.speed": "speed",
    "audio.input.format": "input_audio_format",
    "audio.input.transcription": "input_audio_transcription",
    "audio.input.turn_detection": "turn_detection",
    "audio.input.noise_reduction": "input_audio_noise_reduction",
    "max_output_tokens": "max_response_output_tokens",
    "output_modalities": "modalities",
}


def default_session(*, session_id: str, model: str, expires_at: int) -> JsonDict:
    """The whole effective session a fresh connection starts with (GA shape)."""
    pcm = {"type": "audio/pcm", "rate": PCM_RATE}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(SERVER_VAD_DEFAULTS),
            },
            "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
        },
        "max_output_tokens": "inf",
        "truncation": "auto",
        "tracing": None,
        "include": None,
        "prompt": None,
        "expires_at": expires_at,
    }


# --------------------------------------------------------------------------------------------------
# Value checks (GA shape); each raises EngineError naming the offending path
# --------------------------------------------------------------------------------------------------


def _object(value: Any, path: str, allowed: frozenset[str] | None = None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid_type(path, "an object", value)
    for key in value:
        if allowed is not None and key not in allowed:
            raise unknown_parameter(f"{path}.{key}")
    return value


def _number(value: Any, path: str, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(path, "a number", value)
    if not low <= value <= high:
        raise out_of_range(path, value, low, high)


def _integer(value: Any, path: str, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(path, "an integer", value)
    if value < low or (high is not None and value > high):
        raise out_of_range(path, value, low, high, kind="integer")


def _string(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise invalid_type(path, "a string", value)


def _check_modalities(value: Any, path: str) -> None:
    if not isinstance(value, list) or value not in (["audio"], ["text"]):
        raise invalid_value(path, value, ["['audio']", "['text']"])


def _check_max_tokens(value: Any, path: str) -> None:
    if value != "inf":
        _integer(value, path, 1, MAX_OUTPUT_TOKENS_LIMIT)


def _check_format(value: Any, path: str) -> None:
    fmt = _object(value, path, frozenset({"type", "rate"}))
    if fmt.get("type") not in AUDIO_FORMAT_TYPES:
        raise invalid_value(f"{path}.type", fmt.get("type"), AUDIO_FORMAT_TYPES)
    if "rate" in fmt:
        _integer(fmt["rate"], f"{path}.rate", PCM_RATE, PCM_RATE)


def _check_voice(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        _object(value, path, frozenset({"id"}))
        _string(value.get("id"), f"{path}.id")
    elif value not in VOICES:
        raise invalid_value(path, value, VOICES)


def _check_turn_detection(value: Any, path: str) -> None:
    if value is None:
        return
    kind = _object(value, path).get("type")
    if kind not in _VAD_DEFAULTS:
        raise invalid_value(f"{path}.type", kind, list(_VAD_DEFAULTS))
    _object(value, path, frozenset(_VAD_DEFAULTS[kind]))
    for key, low, high in (("threshold", 0.0, 1.0),):
        if key in value:
            _number(value[key], f"{path}.{key}", low, high)
    for key in ("prefix_padding_ms", "silence_duration_ms"):
        if key in value:
            _integer(value[key], f"{path}.{key}", 0)
    if value.get("idle_timeout_ms") is not None:
        _integer(value["idle_timeout_ms"], f"{path}.idle_timeout_ms", 5000, 30000)
    if "eagerness" in value and value["eagerness"] not in ("low", "medium", "high", "auto"):
        raise invalid_value(f"{path}.eagerness", value["eagerness"], ("low", "medium", "high", "auto"))


def _check_transcription(value: Any, path: str) -> None:
    if value is not None:
        _object(value, path, frozenset({"model", "language", "prompt"}))


def _check_noise_reduction(value: Any, path: str) -> None:
    if value is not None and _object(value, path, frozenset({"type"})).get("type") not in (
        "near_field",
        "far_field",
    ):
        raise invalid_value(f"{path}.type", value.get("type"), ("near_field", "far_field"))


_AUDIO_CHECKS: Final[Mapping[str, Mapping[str, Callable[[Any, str], None]]]] = {
    "input": {
        "format": _check_format,
        "transcription": _check_transcription,
        "turn_detection": _check_turn_detection,
        "noise_reduction": _check_noise_reduction,
    },
    "output": {
        "format": _check_format,
        "voice": _check_voice,
        "speed": lambda v, p: _number(v, p, *SPEED_RANGE),
    },
}


def _check_audio(value: Any, path: str, directions: tuple[str, ...] = ("input", "output")) -> None:
    audio = _object(value, path, frozenset(directions))
    for direction, sub in audio.items():
        checks = _AUDIO_CHECKS[direction]
        for key, item in _object(sub, f"{path}.{direction}", frozenset(checks)).items():
            checks[key](item, f"{path}.{direction}.{key}")


def _check_tools(value: Any, path: str) -> None:
    if not isinstance(value, list):
        raise invalid_type(path, "an array", value)
    for index, tool in enumerate(value):
        where = f"{path}[{index}]"
        kind = _object(tool, where).get("type")
        if kind == "function":
            _object(tool, where, frozenset({"type", "name", "description", "parameters"}))
            if "name" not in tool:
                raise missing_parameter(f"{where}.name")
            _string(tool["name"], f"{where}.name")
        elif kind != "mcp":
            raise invalid_value(f"{where}.type", kind, ("function", "mcp"))


def _check_tool_choice(value: Any, path: str) -> None:
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise invalid_value(path, value, ("auto", "none", "required"))
        return
    choice = _object(value, path)
    if choice.get("type") == "function":
        _object(value, path, frozenset({"type", "name"}))
        if "name" not in choice:
            raise missing_parameter(f"{path}.name")
    elif choice.get("type") != "mcp":
        raise invalid_value(f"{path}.type", choice.get("type"), ("function", "mcp"))


def _check_nothing(value: Any, path: str) -> None:
    """Fields the engine accepts without acting on them (tracing, prompt, ...)."""


_FIELD_CHECKS: Final[Mapping[str, Callable[[Any, str], None]]] = {
    "instructions": _string,
    "model": _string,
    "output_modalities": _check_modalities,
    "max_output_tokens": _check_max_tokens,
    "tools": _check_tools,
    "tool_choice": _check_tool_choice,
    "audio": _check_audio,
}


def _check_fields(fields: Mapping[str, Any], prefix: str) -> None:
    for key, value in fields.items():
        _FIELD_CHECKS.get(key, _check_nothing)(value, f"{prefix}.{key}")


def _as_beta_error(exc: EngineError, prefix: str) -> EngineError:
    """Rename a GA path in an error to the beta field the preview client actually sent."""
    if exc.param is None:
        return exc
    for ga, beta in sorted(_BETA_PATHS.items(), key=lambda kv: -len(kv[0])):
        ga_path = f"{prefix}.{ga}"
        if exc.param == ga_path or exc.param.startswith(ga_path + "."):
            param = f"{prefix}.{beta}" + exc.param[len(ga_path) :]
            return EngineError(exc.code, exc.message.replace(exc.param, param), param=param, type=exc.type)
    return exc


def _check_beta_fields(fields: Mapping[str, Any], prefix: str) -> None:
    """What only a beta client can get wrong: beta modalities, format names, temperature."""
    if "modalities" in fields:
        modalities = fields["modalities"]
        if not isinstance(modalities, list) or sorted(modalities) not in (["text"], ["audio", "text"]):
            raise invalid_value(f"{prefix}.modalities", modalities, ["['text']", "['audio', 'text']"])
    for key in ("input_audio_format", "output_audio_format"):
        if key in fields and fields[key] not in BETA_AUDIO_FORMATS:
            raise invalid_value(f"{prefix}.{key}", fields[key], BETA_AUDIO_FORMATS)
    if "temperature" in fields:
        _number(fields["temperature"], f"{prefix}.temperature", *BETA_TEMPERATURE_RANGE)


def validate_session_update(session: Any, dialect: Dialect) -> JsonDict:
    """Check a ``session.update`` payload; return the partial update in GA shape."""
    if session is None:
        raise missing_parameter("session")
    body = _object(session, "session")
    if dialect == "ga":
        if "type" not in body:
            raise missing_parameter("session.type")
        if body["type"] != "realtime":
            raise invalid_value("session.type", body["type"], ("realtime",))
        _object(body, "session", GA_SESSION_FIELDS)
        _check_fields(body, "session")
        return dict(body)  # the event is the engine's own copy (see EngineSession.receive_event)
    _object(body, "session", BETA_SESSION_FIELDS)
    _check_beta_fields(body, "session")
    ga = session_beta_to_ga(body)
    try:
        _check_fields(ga, "session")
    except EngineError as exc:
        raise _as_beta_error(exc, "session") from None
    return ga


def validate_response_overrides(response: Any, dialect: Dialect) -> JsonDict:
    """Check ``response.create``'s ``response`` (already translated to GA by the caller)."""
    if response is None:
        return {}
    body = _object(response, "response")
    try:
        _check_fields({k: v for k, v in body.items() if k != "audio"}, "response")
        if "audio" in body:
            _object(body["audio"], "response.audio", frozenset({"output"}))
            out = _object(
                body["audio"].get("output", {}), "response.audio.output", frozenset({"format", "voice"})
            )
            _check_audio({"output": out}, "response.audio", ("output",))
    except EngineError as exc:
        raise (_as_beta_error(exc, "response") if dialect == "beta" else exc) from None
    conversation = body.get("conversation", "auto")
    if conversation not in ("auto", "none"):
        raise invalid_value("response.conversation", conversation, ("auto", "none"))
    return copy.deepcopy(dict(body))


def check_response_field_names(response: Any, dialect: Dialect) -> None:
    """Unknown ``response.create`` fields, judged by the names the client actually sent."""
    if response is not None:
        allowed = GA_RESPONSE_FIELDS if dialect == "ga" else BETA_RESPONSE_FIELDS
        _object(response, "response", allowed)
        if dialect == "beta":
            _check_beta_fields(response, "response")


def fill_defaults(direction: str, key: str, value: Any) -> Any:
    if key == "turn_detection" and isinstance(value, Mapping):
        return {**_VAD_DEFAULTS[value["type"]], **value}
    if key == "transcription" and isinstance(value, Mapping):
        return {"model": "whisper-1", "language": None, "prompt": None, **value}
    if key == "format" and isinstance(value, Mapping) and value.get("type") == "audio/pcm":
        return {"type": "audio/pcm", "rate": PCM_RATE}
    return copy.deepcopy(value)


def merge_session(current: Mapping[str, Any], update: Mapping[str, Any]) -> JsonDict:
    """Apply a validated partial update: only the fields present change (``audio`` merges per key).

    Session configs are values: the merge copies the levels it changes and shares everything else with
    ``current`` and ``update`` (a config with its tools was deep-copied three times per update, most of
    the engine's cost of a ``session.update``), so neither may be changed in place afterwards; nothing
    does, a config is only ever replaced."""
    merged = dict(current)
    for key, value in update.items():
        if key == "audio":
            audio = dict(merged.get("audio", {}))
            for direction, fields in value.items():
                target = dict(audio.get(direction, {}))
                for sub_key, sub_value in fields.items():
                    target[sub_key] = fill_defaults(direction, sub_key, sub_value)
                audio[direction] = target
            merged["audio"] = audio
        else:
            merged[key] = value
    return merged
