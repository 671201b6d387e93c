"""Typed events between the parts of the service, and the bus that carries them.

A profile save publishes ``ProfileChanged``; live sessions subscribe and refresh. ``publish`` waits
for the subscribers so that the save's response can say what happened to the live conversations.
The in-process bus serves one instance; with several, ``cluster.bus.ClusterBus`` adds the live sessions
of the other instances to what a save waits for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, cast, get_args

log = logging.getLogger(__name__)


# What became of asking a live conversation to say something (a reminder): ``said`` only when the
# model's response to that very request completed with audio; ``interrupted`` (cancelled: the person
# spoke over it, or the client stopped it), ``failed`` (the response failed or was cut, the request was
# refused, the connection or the conversation ended first), ``no_response`` (none finished in time),
# ``busy`` (no quiet moment came in time) and ``no_conversation`` (none is live) are all "not said".
SayOutcome = Literal["said", "interrupted", "failed", "no_response", "busy", "no_conversation"]
SAY_OUTCOMES: Final[frozenset[str]] = frozenset(get_args(SayOutcome))


def say_outcome(value: object) -> SayOutcome:
    """An outcome as another instance answered it (a string; ``True``/``False`` from an older one)."""
    if value is True:
        return "said"
    if isinstance(value, str) and value in SAY_OUTCOMES:
        return cast(SayOutcome, value)
    return "no_conversation"


@dataclass(frozen=True, slots=True)
class ProfileChanged:
    user_id: str
    sections: tuple[str, ...]
    version: int


@dataclass(slots=True)
class RefreshCounts:
    """How the live sessions of a user took a change: the body of ``liveSessions`` in a save."""

    refreshed: int = 0
    unchanged: int = 0
    failed: int = 0
    details: list[dict[str, object]] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)  # instances that held some but did not answer

    def add(self, other: RefreshCounts) -> None:
        self.refreshed += other.refreshed
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.details.extend(other.details)
        self.unanswered.extend(other.unanswered)

    @property
    def total(self) -> int:
        return self.refreshed + self.unchanged + self.failed

    def as_json(self) -> dict[str, Any]:
        """The counts; ``unanswered`` (counted in ``failed``) only when another instance did not answer."""
        body: dict[str, Any] = {
            "refreshed": self.refreshed,
            "unchanged": self.unchanged,
            "failed": self.failed,
        }
        if self.unanswered:
            body["unanswered"] = list(self.unanswered)
        return body


ProfileChangeHandler = Callable[[ProfileChanged], Awaitable[RefreshCounts]]


class EventBus(Protocol):
    def subscribe(self, handler: ProfileChangeHandler) -> None: ...

    async def publish(self, event: ProfileChanged) -> RefreshCounts: ...

    async def close(self) -> None: ...


class InProcessBus:
    """Delivers to handlers in this process and sums what they report.

    A failing handler is logged and counted as nothing refreshed: a save has already happened and must
    not be reported as failed because a subscriber broke.
    """

    def __init__(self) -> None:
        self._handlers: list[ProfileChangeHandler] = []

    def subscribe(self, handler: ProfileChangeHandler) -> None:
        self._handlers.append(handler)

    async def publish(self, event: ProfileChanged) -> RefreshCounts:
        total = RefreshCounts()
        results = await asyncio.gather(*(h(event) for h in self._handlers), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("profile-change handler failed for user %s: %r", event.user_id, result)
                continue
            total.add(result)
        return total

    async def close(self) -> None:
        self._handlers.clear()
