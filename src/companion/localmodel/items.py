"""Conversation items a client may create, checked as strictly as the service checks them.

Items are stored in GA shape. Content part names are checked in the client's own dialect before
translation, so a beta client that sends a GA ``output_text`` part is told so instead of silently
succeeding.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from companion.localmodel.errors import invalid_type, invalid_value, missing_parameter, unknown_parameter
from companion.realtime.protocol import Dialect

JsonDict = dict[str, Any]

MAX_ITEM_ID_CHARS: Final = 32  # the service caps client-chosen ids; longer ones are invalid

_CONTENT_TYPES: Final[Mapping[tuple[Dialect, str], tuple[str, ...]]] = {
    ("ga", "user"): ("input_text", "input_audio", "input_image"),
    ("ga", "system"): ("input_text",),
    ("ga", "assistant"): ("output_text", "output_audio"),
    ("beta", "user"): ("input_text", "input_audio"),
    ("beta", "system"): ("input_text",),
    ("beta", "assistant"): ("text", "audio"),
}
_PART_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "input_text": frozenset({"type", "text"}),
    "output_text": frozenset({"type", "text"}),
    "text": frozenset({"type", "text"}),
    "input_audio": frozenset({"type", "audio", "transcript"}),
    "output_audio": frozenset({"type", "audio", "transcript"}),
    "audio": frozenset({"type", "audio", "transcript"}),
    "input_image": frozenset({"type", "image_url", "detail"}),
}
_TEXT_PARTS: Final = frozenset({"input_text", "output_text", "text"})
_ITEM_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "message": frozenset({"id", "object", "type", "status", "role", "content"}),
    "function_call": frozenset({"id", "object", "type", "status", "name", "call_id", "arguments"}),
    "function_call_output": frozenset({"id", "object", "type", "status", "call_id", "output"}),
}


def _require_str(item: Mapping[str, Any], key: str, path: str) -> None:
    if key not in item:
        raise missing_parameter(f"{path}.{key}")
    if not isinstance(item[key], str):
        raise invalid_type(f"{path}.{key}", "a string", item[key])


def _check_message(item: Mapping[str, Any], dialect: Dialect) -> None:
    role = item.get("role")
    if role is None:
        raise missing_parameter("item.role")
    if role not in ("user", "assistant", "system"):
        raise invalid_value("item.role", role, ("user", "assistant", "system"))
    content = item.get("content")
    if content is None:
        raise missing_parameter("item.content")
    if not isinstance(content, list):
        raise invalid_type("item.content", "an array", content)
    allowed = _CONTENT_TYPES[(dialect, role)]
    for index, part in enumerate(content):
        path = f"item.content[{index}]"
        if not isinstance(part, Mapping):
            raise invalid_type(path, "an object", part)
        kind = part.get("type")
        if kind not in allowed:
            raise invalid_value(f"{path}.type", kind, allowed)
        for key in part:
            if key not in _PART_KEYS[kind]:
                raise unknown_parameter(f"{path}.{key}")
        if kind in _TEXT_PARTS:
            _require_str(part, "text", path)


def check_item(item: Any, dialect: Dialect) -> None:
    """Raise :class:`EngineError` when ``item`` could not be created on the real service."""
    if item is None:
        raise missing_parameter("item")
    if not isinstance(item, Mapping):
        raise invalid_type("item", "an object", item)
    kind = item.get("type")
    if kind is None:
        raise missing_parameter("item.type")
    if kind not in _ITEM_KEYS:
        raise invalid_value("item.type", kind, tuple(_ITEM_KEYS))
    for key in item:
        if key not in _ITEM_KEYS[kind]:
            raise unknown_parameter(f"item.{key}")
    if "id" in item:
        _require_str(item, "id", "item")
        if not 0 < len(item["id"]) <= MAX_ITEM_ID_CHARS:
            raise invalid_value("item.id", item["id"])
    if kind == "message":
        _check_message(item, dialect)
    elif kind == "function_call":
        for key in ("name", "call_id", "arguments"):
            _require_str(item, key, "item")
    else:
        for key in ("call_id", "output"):
            _require_str(item, key, "item")


def normalise_item(item: Mapping[str, Any], item_id: str) -> JsonDict:
    """The stored (and echoed) form of a created item: id, object and status filled in."""
    out = copy.deepcopy(dict(item))
    out["id"] = item_id
    out["object"] = "realtime.item"
    out["status"] = "completed"
    if out["type"] == "message":
        for part in out["content"]:
            if part.get("type") == "input_audio":
                part.pop("audio", None)  # kept out of memory; the transcript is what replies use
                part.setdefault("transcript", None)
    return out


def item_text(item: Mapping[str, Any]) -> str:
    """All the text a message carries (typed text and known transcripts), for replies and usage."""
    parts: list[str] = []
    match item.get("type"):
        case "message":
            for part in item.get("content") or []:
                text = part.get("text") if part.get("type") in _TEXT_PARTS else part.get("transcript")
                if isinstance(text, str):
                    parts.append(text)
        case "function_call":
            parts.append(str(item.get("arguments", "")))
        case "function_call_output":
            parts.append(str(item.get("output", "")))
    return " ".join(parts)
