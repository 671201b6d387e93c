"""The relay's decisions, as data: each event in, a list of what to do out. No I/O, no asyncio.

From the client, events are checked against an **allow-list** of what a client may do: the event types
of the GA protocol that move audio and the conversation along, and in ``session.update`` /
``response.create`` only the fields a client may set (audio formats, voice, turn detection, output
limits). Instructions, tools, tool choice and stored prompts belong to the server and are refused with
``instructions_managed_by_server``; anything else outside the list with ``field_not_allowed``. A client
may add only its own user messages and the outputs of tool calls it was given.

From the model, calls of server tools are hidden from the client and answered by the relay;
``play_music`` is held back until its arguments are complete and checked against the person's music
preferences as they are now; session events reach the client without the instructions text; the end of
the model's session (``session_expired``, or Azure's generic ``server_error`` near the cap) is not
forwarded: the session replaces the model connection instead.

The session carries the decisions out (see ``session.py``); this module is tested with plain dicts.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from companion.profiles.models import Music
from companion.realtime import protocol
from companion.realtime.endings import ClientErrorCode
from companion.realtime.tools import SERVER_TOOLS, ToolCall, check_music

log = logging.getLogger(__name__)

REDACTED: Final = "(managed by the server)"
MAX_ITEM_ID: Final = 32  # the longest item id the model accepts
GUARDED_TOOLS: Final = frozenset({"play_music"})
EXPIRY_SUSPECT_AGE: Final = 0.9  # a server_error after 90% of the cap is the cap (Azure sends one)
# Bounds on what a client frame may carry, checked before it is parsed (the audio fast path aside):
MAX_CLIENT_EVENT_CHARS: Final = 1_000_000  # ~15 s of 24 kHz audio as base64 in one item or append
MAX_ITEM_TEXT_CHARS: Final = 10_000  # a long typed message or a pasted letter; more is not a turn

CLIENT_EVENTS: Final = protocol.GA_CLIENT_EVENT_TYPES  # every GA client event; their fields are checked below
MANAGED_FIELDS: Final = ("instructions", "tools", "tool_choice", "prompt")
# What a client may set, as nested allow-lists (a key mapping to None may hold any value).
# Transcription: only its language. A transcription prompt is text that steers what the person is
# heard to say (and the transcript reaches the model as theirs); the model is the server's to choose.
AUDIO_FIELDS: Final[Mapping[str, Any]] = {
    "input": {
        "format": None,
        "noise_reduction": None,
        "transcription": {"language": None},
        "turn_detection": None,
    },
    "output": {"format": None, "voice": None, "speed": None},
}
SESSION_FIELDS: Final[Mapping[str, Any]] = {
    "type": None,
    "audio": AUDIO_FIELDS,
    "output_modalities": None,
    "max_output_tokens": None,
    "truncation": None,
}
RESPONSE_FIELDS: Final[Mapping[str, Any]] = {
    "output_modalities": None,
    "max_output_tokens": None,
    "metadata": None,
    "conversation": None,
    "audio": {"output": {"format": None, "voice": None, "speed": None}},
}
ITEM_REFERENCES: Final = (
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
)


# ---- decisions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToClient:
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToModel:
    """``frame``: the client's own text of exactly this event, sent as it is where the dialect allows
    (most traffic is audio: re-serialising every frame cost ~10% of the relay's CPU)."""

    event: dict[str, Any]
    frame: str | None = None


@dataclass(frozen=True, slots=True)
class RunTool:
    """A server tool the model called: run it now; its output goes back when the response is done."""

    call: ToolCall


@dataclass(frozen=True, slots=True)
class AnswerTool:
    """A call the relay answers without running anything (a refused ``play_music``)."""

    call: ToolCall
    output: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SendAnswers:
    """The response that made the calls is done: give the model every output, then let it speak."""


@dataclass(frozen=True, slots=True)
class ModelExpired:
    """The model's session is over (its cap): replace the connection, tell the client nothing."""

    reason: str


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """For the metrics and the log: what became of a tool call (``server``, ``forwarded``, ``refused``)."""

    tool: str
    outcome: str
    detail: str = ""


Decision = ToClient | ToModel | RunTool | AnswerTool | SendAnswers | ModelExpired | ToolOutcome


# ---- client -> model ------------------------------------------------------------------------------


def _refuse(code: str, message: str, *, param: str | None, event_id: Any) -> ToClient:
    client_id = event_id if isinstance(event_id, str) else None
    return ToClient(protocol.error_event(code, message, param=param, event_id=client_id))


def _outside(body: Mapping[str, Any], allowed: Mapping[str, Any], path: str) -> str | None:
    """The first field of ``body`` (dotted path) that ``allowed`` does not list, or None."""
    for key, value in body.items():
        if key not in allowed:
            return f"{path}.{key}"
        inner = allowed[key]
        if inner is not None and isinstance(value, Mapping):
            found = _outside(value, inner, f"{path}.{key}")
            if found:
                return found
        elif inner is not None and value is not None:
            return f"{path}.{key}"
    return None


def _item_text_over(item: Mapping[str, Any], limit: int) -> str | None:
    """The field of a client's item whose text is longer than ``limit`` (a message part's ``text`` or
    ``transcript``, a tool output), or None."""
    if isinstance(item.get("output"), str) and len(item["output"]) > limit:
        return "item.output"
    content = item.get("content")
    for n, part in enumerate(content if isinstance(content, list) else ()):
        if not isinstance(part, Mapping):
            continue
        for key in ("text", "transcript"):
            value = part.get(key)
            if isinstance(value, str) and len(value) > limit:
                return f"item.content[{n}].{key}"
    return None


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, nested objects merged (how a model applies a partial ``session.update``)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# ---- the policy -----------------------------------------------------------------------------------


def _item_id(event: dict[str, Any]) -> str | None:
    item_id = event.get("item_id")
    if isinstance(item_id, str):
        return item_id
    item = event.get("item")
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        return str(item["id"])
    return None


@dataclass(slots=True)
class RelayPolicy:
    """One conversation's relay decisions. State is only what the decisions need to remember."""

    hidden: set[str] = field(default_factory=set)  # item ids the client never sees
    held: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # play_music awaiting arguments
    names: dict[str, str] = field(default_factory=dict)  # item id -> tool name
    client_calls: set[str] = field(default_factory=set)  # call ids given to the client to answer
    hidden_calls: set[str] = field(default_factory=set)  # call ids the relay answers (outputs hidden too)
    client_session: dict[str, Any] = field(default_factory=dict)  # what the client set, for a new model
    answers_due: bool = False  # the current response made calls the relay answers
    songs_played: int = 0

    def hidden_item_id(self, prefix: str) -> str:
        """An id for an item the relay itself adds (a replay, a reminder): the client never sees it."""
        item_id = protocol.new_event_id(prefix)[:MAX_ITEM_ID]
        self.hidden.add(item_id)
        return item_id

    def connection_ended(self) -> None:
        """The model session is gone: calls it was making will never complete or be answered."""
        self.answers_due = False
        self.held.clear()

    # ---- client -> model ---------------------------------------------------------------------------

    @staticmethod
    def client_audio(text: str) -> ToModel | None:
        """The fast path for most of a conversation's frames: an audio append in its exact plain shape
        goes to the model as written, without a JSON tree (see :func:`protocol.parse_audio_append`).
        None: any other frame, which :meth:`from_client` checks in full."""
        event = protocol.parse_audio_append(text)
        return None if event is None else ToModel(event, text)

    def from_client(self, text: str, *, items_on_link: Collection[str]) -> list[Decision]:
        """What a client frame becomes: the event for the model (with its frame), a refusal, or nothing.

        ``items_on_link``: item ids the current model session knows. A reference to an item of an
        earlier model session (a barge-in truncating audio that the loss already cut) is dropped:
        the model would answer it with an error about something the client cannot fix.
        """
        audio = self.client_audio(text)
        if audio is not None:
            return [audio]
        if len(text) > MAX_CLIENT_EVENT_CHARS:
            return [
                _refuse(
                    ClientErrorCode.EVENT_TOO_LARGE,
                    f"A client event may be at most {MAX_CLIENT_EVENT_CHARS} characters",
                    param=None,
                    event_id=None,
                )
            ]
        try:
            event = protocol.parse_event(text)
        except protocol.ProtocolError as exc:
            return [_refuse(ClientErrorCode.INVALID_JSON, exc.message, param=exc.param, event_id=None)]
        data, kind, event_id = event.data, event.type, event.data.get("event_id")
        if kind not in CLIENT_EVENTS:
            return [
                _refuse(
                    ClientErrorCode.EVENT_NOT_ALLOWED,
                    f"A client may not send {kind!r} through this relay",
                    param="type",
                    event_id=event_id,
                )
            ]
        if kind in ("session.update", "response.create"):
            key, allowed = (
                ("session", SESSION_FIELDS) if kind == "session.update" else ("response", RESPONSE_FIELDS)
            )
            refusal = self._check_body(data.get(key), key, allowed, kind, event_id)
            if refusal is not None:
                return [refusal]
            if kind == "session.update" and isinstance(data.get("session"), dict):
                self.client_session = merge(self.client_session, data["session"])
        elif kind == "conversation.item.create":
            refusal = self._check_item(data, event_id)
            if refusal is not None:
                return [refusal]
            previous = data.get("previous_item_id")
            if isinstance(previous, str) and previous not in items_on_link:
                data = {k: v for k, v in data.items() if k != "previous_item_id"}
                return [ToModel(data)]
        elif kind in ITEM_REFERENCES:
            item_id = data.get("item_id")
            if isinstance(item_id, str) and item_id not in items_on_link:
                log.debug("client event %s for an item of an earlier model session dropped", kind)
                return []
        return [ToModel(data, text)]

    @staticmethod
    def _check_body(
        body: Any, key: str, allowed: Mapping[str, Any], kind: str, event_id: Any
    ) -> ToClient | None:
        if body is None:
            return None
        if not isinstance(body, dict):
            return _refuse("invalid_type", f"{key} must be an object", param=key, event_id=event_id)
        managed = [f for f in MANAGED_FIELDS if f in body]
        if managed:
            return _refuse(
                ClientErrorCode.INSTRUCTIONS_MANAGED,
                "Instructions and tools are set by the server from the care profile; "
                f"remove {', '.join(managed)} from {kind}",
                param=f"{key}.{managed[0]}",
                event_id=event_id,
            )
        outside = _outside(body, allowed, key)
        if outside:
            return _refuse(
                ClientErrorCode.FIELD_NOT_ALLOWED,
                f"A client may not set {outside} through this relay",
                param=outside,
                event_id=event_id,
            )
        return None

    def _check_item(self, data: dict[str, Any], event_id: Any) -> ToClient | None:
        item = data.get("item")
        if not isinstance(item, dict):
            return None  # the model explains a malformed item better than we would
        kind, role = item.get("type"), item.get("role")
        too_long = _item_text_over(item, MAX_ITEM_TEXT_CHARS)
        if too_long is not None:
            return _refuse(
                ClientErrorCode.TEXT_TOO_LONG,
                f"The item's text may be at most {MAX_ITEM_TEXT_CHARS} characters",
                param=too_long,
                event_id=event_id,
            )
        if kind == "message" and role == "user":
            return None
        if kind == "function_call_output" and item.get("call_id") in self.client_calls:
            return None
        what = f"{role} message" if kind == "message" else f"{kind} item"
        if kind == "function_call_output":
            what = "the output of a tool call it was not given"
        return _refuse(
            ClientErrorCode.ITEM_NOT_ALLOWED,
            f"A client may add only its own user messages and its tool outputs, not a {what}",
            param="item",
            event_id=event_id,
        )

    # ---- model -> client ---------------------------------------------------------------------------

    def client_session_event(self, kind: str, session: dict[str, Any]) -> dict[str, Any]:
        redacted = dict(session)
        if "instructions" in redacted:
            redacted["instructions"] = REDACTED
        if isinstance(redacted.get("tools"), list):
            # the client only needs the tools it answers itself
            redacted["tools"] = [t for t in redacted["tools"] if t.get("name") not in SERVER_TOOLS]
        return {"type": kind, "event_id": protocol.new_event_id(), "session": redacted}

    def from_model(
        self, event: dict[str, Any], *, music: Music | None, age_fraction: float = 0.0
    ) -> list[Decision]:
        """``age_fraction``: how far the model's session is into its cap (0 new, 1 at the cap)."""
        kind = event.get("type", "")
        if kind == "error":
            return self._on_error(event, age_fraction)
        if kind in ("session.created", "session.updated") and isinstance(event.get("session"), dict):
            return [ToClient(self.client_session_event(kind, event["session"]))]
        if kind == "response.done":
            return self._on_response_done(event)
        item = event.get("item") if isinstance(event.get("item"), dict) else None
        if kind == "response.output_item.added" and item and item.get("type") == "function_call":
            name = str(item.get("name", ""))
            item_id = str(item.get("id", ""))
            self.names[item_id] = name
            if name in SERVER_TOOLS:
                self.hidden.add(item_id)
                return []
            if name in GUARDED_TOOLS:
                self.held[item_id] = [event]
                return []
        if item and item.get("type") == "function_call_output" and item.get("call_id") in self.hidden_calls:
            self.hidden.add(str(item.get("id", "")))  # the echo of the relay's own answer
        found = _item_id(event)
        if found is None:
            return [ToClient(event)]
        item_id = found
        if kind == "response.output_item.done" and item and item.get("type") == "function_call":
            return self._on_call_done(item_id, item, event, music)
        if item_id in self.hidden:
            return []
        if item_id in self.held:
            self.held[item_id].append(event)
            return []
        return [ToClient(event)]

    @staticmethod
    def _on_error(event: dict[str, Any], age_fraction: float) -> list[Decision]:
        error = event.get("error") if isinstance(event.get("error"), dict) else {}
        assert isinstance(error, dict)
        if error.get("code") == "session_expired":
            return [ModelExpired("expired")]
        if error.get("type") == "server_error" and age_fraction >= EXPIRY_SUSPECT_AGE:
            return [ModelExpired("expired")]
        return [ToClient(event)]

    def _on_call_done(
        self, item_id: str, item: dict[str, Any], event: dict[str, Any], music: Music | None
    ) -> list[Decision]:
        call = ToolCall(
            name=str(item.get("name") or self.names.get(item_id, "")),
            call_id=str(item.get("call_id", "")),
            item_id=item_id,
            arguments=str(item.get("arguments") or "{}"),
        )
        if item.get("status") == "incomplete":
            # The response was cancelled while the call was being written: its arguments are partial
            # and the person has moved on, so nothing is run or played and the model is not re-asked.
            if item_id in self.hidden or self.held.pop(item_id, None) is not None:
                self.hidden.add(item_id)
                return [ToolOutcome(call.name, "cancelled")]
            return [ToClient(event)]
        if item_id in self.hidden:
            self.hidden_calls.add(call.call_id)
            self.answers_due = True
            return [RunTool(call), ToolOutcome(call.name, "server")]
        held = self.held.pop(item_id, None)
        if held is None:
            self.client_calls.add(call.call_id)
            return [ToClient(event)]
        decision = check_music(music, call.args(), self.songs_played) if music else None
        if decision is not None and decision.allowed:
            self.songs_played += 1
            self.client_calls.add(call.call_id)
            return [*(ToClient(e) for e in held), ToClient(event), ToolOutcome(call.name, "forwarded")]
        self.hidden.add(item_id)
        self.hidden_calls.add(call.call_id)
        self.answers_due = True
        output = decision.output if decision else {"ok": False, "error": "no_profile"}
        return [AnswerTool(call, output), ToolOutcome(call.name, "refused", str(output.get("error")))]

    def _on_response_done(self, event: dict[str, Any]) -> list[Decision]:
        response = event.get("response")
        if isinstance(response, dict) and isinstance(response.get("output"), list):
            kept = [o for o in response["output"] if not (isinstance(o, dict) and o.get("id") in self.hidden)]
            if len(kept) != len(response["output"]):
                event = {**event, "response": {**response, "output": kept}}
        decisions: list[Decision] = [ToClient(event)]
        if self.answers_due:
            self.answers_due = False
            decisions.append(SendAnswers())
        return decisions
