"""When a long conversation's running summary is asked for. Pure: the session's clock (seconds) in,
the next moment to look out.

A conversation that goes on for hours gets a summary of what was said so far every
:data:`RUNNING_EVERY_S`, so that the family's view of today is never more than about that old and the
summary at the end still covers the whole conversation after the model's context moved on (each one is
asked with the one before it, quoted as data). One is asked only when the person said something since
the last, and only at a quiet moment (the relay waits for one, as a rotation does); a summary that did
not come, or a quiet moment that did not come, is tried again :data:`RETRY_S` later.
"""

from __future__ import annotations

from typing import Final

RUNNING_EVERY_S: Final = 30 * 60.0  # the family's view of a long conversation is at most about this old
RUNNING_WAIT_S: Final = 30.0  # a running summary's answer, at most (the conversation goes on meanwhile)
QUIET_WITHIN_S: Final = 5 * 60.0  # a due summary waits this long for a quiet moment, then tries later
RETRY_S: Final = 5 * 60.0  # after a summary (or a quiet moment) that did not come


class Cadence:
    """One conversation's running summaries: when the next is due, and what counts as new."""

    __slots__ = ("_asked_at", "_asked_turns", "_every_s", "_turns_at_last", "next_at")

    def __init__(self, started: float, every_s: float = RUNNING_EVERY_S) -> None:
        self._every_s = every_s
        self.next_at = started + every_s  # when to look next
        self._turns_at_last = 0  # the person's turns the last summary covered
        self._asked_at: float | None = None  # a summary asked and not yet answered
        self._asked_turns = 0

    @property
    def asking(self) -> bool:
        return self._asked_at is not None

    def wait_s(self, now: float) -> float:
        """How long until the next look (never negative)."""
        return max(0.0, self.next_at - now)

    def due(self, now: float, person_turns: int) -> bool:
        """Its time has come, none is being asked, and the person said something since the last."""
        return not self.asking and now >= self.next_at and person_turns > self._turns_at_last

    def look(self, now: float, person_turns: int) -> bool:
        """The timer fired: True when a summary is to be asked (at the next quiet moment); otherwise
        the next look is set (nothing new said: another period on)."""
        if self.due(now, person_turns):
            return True
        if not self.asking and now >= self.next_at:
            self.next_at = now + self._every_s
        return False

    def asked(self, now: float, person_turns: int) -> None:
        self._asked_at = now
        self._asked_turns = person_turns

    def answered(self, now: float, ok: bool) -> None:
        """The summary came (``ok``) or not: the next is a period after this one was asked, or a
        retry a little later."""
        asked_at = self._asked_at if self._asked_at is not None else now
        self._asked_at = None
        if ok:
            self._turns_at_last = self._asked_turns
            self.next_at = max(asked_at + self._every_s, now)
        else:
            self.next_at = now + RETRY_S

    def no_quiet(self, now: float) -> None:
        """No quiet moment came within :data:`QUIET_WITHIN_S`: try again later."""
        self.next_at = now + RETRY_S
