"""This instance's asking of live conversations to say reminders: what is in flight, when each may be
asked again, how many attempts were not said (bounded, then the page's card takes over), and which
reminders a greeting is saying. In memory on purpose: it bounds retries and keeps one instance from
asking twice; the store records only what happened (see :mod:`companion.care.reminders`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

SAY_AGAIN: Final = timedelta(seconds=30)  # after "not said", let the person finish before asking again
MAX_SAY_ATTEMPTS: Final = 3  # then the card (after the conversation) and the timeout take over
GREETING_HOLD: Final = timedelta(minutes=3)  # a greeting's answer is followed for less than this


@dataclass(slots=True)
class Saying:
    """This instance's asking: says in flight, when each may be asked again, attempts not said, the
    reminders a greeting is saying, and those the conversation is no longer asked to say."""

    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    not_before: dict[str, datetime] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    greeting: dict[str, datetime] = field(default_factory=dict)  # held by a greeting, until
    given_up: set[str] = field(default_factory=set)

    def busy(self, reminder_id: str, now: datetime) -> bool:
        """Being asked of a conversation right now (by the tick, or a greeting whose hold has not
        lapsed: a conversation that ended before it could report lets go of it in the end)."""
        until = self.greeting.get(reminder_id)
        if until is not None and now >= until:
            del self.greeting[reminder_id]
            until = None
        return reminder_id in self.tasks or until is not None

    def forget(self, reminder_id: str) -> None:
        self.not_before.pop(reminder_id, None)
        self.attempts.pop(reminder_id, None)
        self.given_up.discard(reminder_id)

    def not_said(self, reminder_id: str, now: datetime) -> int:
        """Count an attempt that was not said; how many so far. The last one gives up."""
        count = self.attempts.get(reminder_id, 0) + 1
        self.attempts[reminder_id] = count
        self.not_before[reminder_id] = now + SAY_AGAIN
        if count >= MAX_SAY_ATTEMPTS:
            self.given_up.add(reminder_id)
        return count
