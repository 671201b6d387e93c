"""How a live conversation ends, and what the client is told: the one table of close codes and codes.

Every WebSocket close the relay sends and every ``error`` code it writes to a client is named here, so
a client author reads one file to learn what the relay can say (the page's reconnect logic keys on
these). The close codes are websockets' ``CloseCode`` values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from websockets.frames import CloseCode

MAX_CLOSE_REASON_BYTES: Final = 123  # the WebSocket protocol's limit on a close frame's reason


def clip_close_reason(reason: str) -> str:
    """``reason`` cut to what a close frame carries, on a whole UTF-8 character."""
    return reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


@dataclass(frozen=True, slots=True)
class Close:
    """A close frame: the code and a short reason a person can read in a log."""

    code: int
    reason: str

    def clipped(self) -> tuple[int, str]:
        """Code and reason, the reason cut to what a close frame carries (whole UTF-8 characters)."""
        return self.code, clip_close_reason(self.reason)


class Ending(Enum):
    """Why a conversation ended; ``error_code`` is the client ``error`` sent first, when there is one."""

    NORMAL = (CloseCode.NORMAL_CLOSURE, None, "session closed")
    SHUTDOWN = (CloseCode.GOING_AWAY, None, "server shutting down")
    DEVICE_REVOKED = (CloseCode.POLICY_VIOLATION, None, "device disconnected by the family")
    TOKEN_REVOKED = (CloseCode.POLICY_VIOLATION, None, "access revoked")
    CREDENTIAL_EXPIRED = (CloseCode.POLICY_VIOLATION, None, "access expired: sign in again")
    PERSON_ERASED = (CloseCode.POLICY_VIOLATION, None, "this person's data was erased")
    REFUSED = (CloseCode.POLICY_VIOLATION, None, "not allowed")  # credentials or origin; reason varies
    UPSTREAM_UNAVAILABLE = (CloseCode.INTERNAL_ERROR, "upstream_unavailable", "realtime model unavailable")
    UPSTREAM_LOST = (CloseCode.INTERNAL_ERROR, "upstream_disconnected", "realtime model disconnected")
    CLIENT_TOO_SLOW = (CloseCode.TRY_AGAIN_LATER, "client_too_slow", "client too slow to keep up")
    # A person or device already has as many live conversations as allowed. 1013, not 1008: the refusal
    # lasts only until one of them ends, so a client retries with its back-off instead of giving up.
    TOO_MANY_SESSIONS = (CloseCode.TRY_AGAIN_LATER, "too_many_sessions", "too many live conversations")
    INTERNAL = (CloseCode.INTERNAL_ERROR, "internal_error", "internal error")

    def __init__(self, code: CloseCode, error_code: str | None, reason: str) -> None:
        self.code = int(code)
        self.error_code = error_code
        self.reason = reason

    def close(self, reason: str | None = None) -> Close:
        return Close(self.code, reason or self.reason)


class ClientErrorCode:
    """``error.code`` values the relay itself writes to a client (the model's own are passed through)."""

    INVALID_JSON: Final = "invalid_json"
    INSTRUCTIONS_MANAGED: Final = "instructions_managed_by_server"  # instructions, tools, tool_choice
    EVENT_NOT_ALLOWED: Final = "event_not_allowed"  # a client event type outside the allow-list
    FIELD_NOT_ALLOWED: Final = "field_not_allowed"  # a field outside what a client may set
    ITEM_NOT_ALLOWED: Final = "item_not_allowed"  # a conversation item a client may not add
    BUSY_RECONNECTING: Final = "session_reconnecting"  # held events overflowed during a switch
    EVENT_TOO_LARGE: Final = "event_too_large"  # a frame longer than the relay reads
    TEXT_TOO_LONG: Final = "string_above_max_length"  # an item's text past the relay's bound
