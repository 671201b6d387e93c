"""The errors the offline engine answers with, under the codes the real service uses.

The point of a strict local engine is that passing against it means something, so every code below
was taken from public evidence of what OpenAI's realtime servers actually send, not invented:

=========================================  =====================================================
code                                        evidence
=========================================  =====================================================
invalid_value (param ``type``)              live capture of wss://api.openai.com (``{"type":"nope"}``)
unknown_parameter                           same capture (``session.bogus_field``); livekit/agents#3398
invalid_json, invalid_event                 same capture (non-JSON text; binary frame)
integer_below_min_value                     same capture (``session.audio.input.format.rate``)
beta_api_shape_disabled, missing_model      same capture (close 4000, reason ``<type>.<code>``)
missing_required_parameter                  TanStack/ai#586, microsoft/agent-framework#924 (``session.type``)
cannot_update_voice                         openai/openai-python#2607
conversation_already_has_active_response    openai/openai-agents-python#1466
response_cancel_not_active                  pipecat-ai/pipecat#3960 and many client filters
item_delete_invalid_item_id,                openai-agents-python tests; client filters in many repos
item_truncate_invalid_item_id,
item_retrieve_invalid_item_id
input_audio_buffer_commit_empty             many public logs ("buffer too small. Expected at least 100ms")
session_expired                             livekit/agents#1122; the close is 1001 with the message
=========================================  =====================================================

Chosen here, with no public example found: ``invalid_type`` (wrong JSON type for a field),
``decimal_below_min_value`` / ``decimal_above_max_value`` (by analogy with the integer codes), and
``item_create_invalid_previous_item_id``.
"""

from __future__ import annotations

from collections.abc import Iterable


class EngineError(Exception):
    """A client mistake; the engine turns it into an ``error`` event and keeps the session open."""

    def __init__(
        self, code: str | None, message: str, *, param: str | None = None, type: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.type = type


def _quoted(values: Iterable[str]) -> str:
    items = [f"'{v}'" for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f", and {items[-1]}"


def unknown_parameter(path: str) -> EngineError:
    return EngineError("unknown_parameter", f"Unknown parameter: '{path}'.", param=path)


def missing_parameter(path: str) -> EngineError:
    return EngineError("missing_required_parameter", f"Missing required parameter: '{path}'.", param=path)


def invalid_value(path: str, value: object, supported: Iterable[str] | None = None) -> EngineError:
    message = f"Invalid value: '{value}'."
    if supported is not None:
        message += f" Supported values are: {_quoted(supported)}."
    return EngineError("invalid_value", message, param=path)


def invalid_type(path: str, expected: str, value: object) -> EngineError:
    got = "null" if value is None else type(value).__name__
    return EngineError(
        "invalid_type",
        f"Invalid type for '{path}': expected {expected}, but got {got} instead.",
        param=path,
    )


def out_of_range(
    path: str, value: float, low: float | None, high: float | None, *, kind: str = "decimal"
) -> EngineError:
    """``kind`` is the field's type ("integer" or "decimal"), whatever JSON number was sent."""
    if low is not None and value < low:
        return EngineError(
            f"{kind}_below_min_value",
            f"Invalid '{path}': {kind} below minimum value. "
            f"Expected a value >= {low}, but got {value} instead.",
            param=path,
        )
    return EngineError(
        f"{kind}_above_max_value",
        f"Invalid '{path}': {kind} above maximum value. Expected a value <= {high}, but got {value} instead.",
        param=path,
    )
