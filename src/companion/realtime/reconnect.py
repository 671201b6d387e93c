"""When and how a live conversation changes model sessions: pure decisions, tested with numbers.

The model ends every session at its cap (OpenAI 60 minutes, Azure OpenAI 30), and networks drop. A
conversation outlives both: *rotation* opens the next model session before the cap, at a quiet moment;
*reconnection* replaces a lost one with backoff and jitter until a bounded time has passed. While the
switch happens the client's events wait in :class:`HeldEvents`, where audio older than
:data:`HOLD_AUDIO_S` is let go (the person hears nothing stale answered; what was said just now is kept).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from companion.backoff import doubling_delay
from companion.errors import CompanionError, UpstreamRejected

# The caps, less a margin for the quiet moment to come: rotation starts looking for one this early.
DEFAULT_MAX_SESSION_S: Final = {"openai": 55 * 60.0, "azure": 25 * 60.0, "local": 55 * 60.0}
EXPIRY_MARGIN_S: Final = 300.0  # from a session.created expires_at: rotate no later than 5 min before it
# and no later than 2 s before it, whatever a tenth of a short session is: the switch (a handshake, the
# conversation replayed) takes that long on a slow link or a busy machine, and a smaller margin is none
MIN_EXPIRY_MARGIN_S: Final = 2.0
MIN_LIFETIME_S: Final = 1.0  # never plan a rotation sooner than this after opening (a clock gone wrong)
FIRST_RETRY_S: Final = 0.25  # the first retry after a failed attempt; doubling from there
MAX_RETRY_S: Final = 5.0  # a long outage is retried every few seconds, not hammered
HOLD_AUDIO_S: Final = 2.0  # audio the person spoke during a switch older than this is dropped
MAX_HELD_EVENTS: Final = 1_000  # 2 s of 20 ms audio is 100 events: the rest is for the odd control event


class ConnectReason(StrEnum):
    """Why a live session opened a model connection (``GET /realtime/sessions`` lists them)."""

    START = "start"
    ROTATION = "rotation"  # proactive, before the model's cap
    EXPIRED = "expired"  # the model ended its session (session_expired, close 1001)
    DROPPED = "dropped"  # the connection was lost
    ERROR = "error"  # the connection's reader failed unexpectedly


def default_max_session_s(upstream: str) -> float:
    return DEFAULT_MAX_SESSION_S.get(upstream, DEFAULT_MAX_SESSION_S["openai"])


def rotate_after_s(max_session_s: float, *, expires_in_s: float | None) -> float:
    """Seconds after a model session opened when rotation starts looking for a quiet moment.

    ``expires_in_s``: what ``session.created``'s ``expires_at`` says is left, when it says anything.
    """
    after = max_session_s
    if expires_in_s is not None:
        margin = min(EXPIRY_MARGIN_S, max(expires_in_s / 10, MIN_EXPIRY_MARGIN_S))
        after = min(after, expires_in_s - margin)
    return max(after, MIN_LIFETIME_S)


def retry_delay_s(attempt: int, jitter: float) -> float:
    """Wait before attempt ``attempt`` (0 is the first, at once). ``jitter`` in [0, 1) spreads many
    sessions that lost the same model at once over the second half of each step."""
    if attempt <= 0:
        return 0.0
    return doubling_delay(attempt, first_s=FIRST_RETRY_S, cap_s=MAX_RETRY_S, jitter=jitter)


def worth_retrying(error: CompanionError | TimeoutError) -> bool:
    """A refused configuration is refused again on the next connection; anything else may pass."""
    return not isinstance(error, UpstreamRejected)


@dataclass(frozen=True, slots=True)
class Held:
    event: dict[str, object]
    frame: str | None
    at: float
    audio: bool


class HeldEvents:
    """The client's events while the model connection is being replaced; bounded; clock injected."""

    def __init__(self) -> None:
        self._events: deque[Held] = deque()
        self.audio_dropped = 0  # in the whole conversation
        self._reported = 0

    def __len__(self) -> int:
        return len(self._events)

    def hold(self, event: dict[str, object], frame: str | None, now: float) -> bool:
        """Keep one event; False when full (the caller tells the client)."""
        self._expire(now)
        if len(self._events) >= MAX_HELD_EVENTS:
            return False
        audio = event.get("type") == "input_audio_buffer.append"
        self._events.append(Held(event, frame, now, audio))
        return True

    def release(self, now: float) -> list[Held]:
        """Everything still fresh, in order, and empty."""
        self._expire(now)
        events = list(self._events)
        self._events.clear()
        return events

    def newly_dropped(self) -> int:
        """Audio dropped since the last call (for a counter shared by all sessions)."""
        count, self._reported = self.audio_dropped - self._reported, self.audio_dropped
        return count

    def _expire(self, now: float) -> None:
        if not any(h.audio and now - h.at > HOLD_AUDIO_S for h in self._events):
            return
        kept = deque(h for h in self._events if not (h.audio and now - h.at > HOLD_AUDIO_S))
        self.audio_dropped += len(self._events) - len(kept)
        self._events = kept
