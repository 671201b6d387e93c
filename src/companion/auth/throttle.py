"""Counting failed attempts (sign-ins, pairing codes) per key and locking a key for a while.

One mechanism for every guessable secret the service accepts: the dashboard's passwords and admin
tokens, and the tablets' pairing codes. State is in this process's memory (a restart forgets it, which
costs an attacker a restart they cannot cause).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

FAILURE_WINDOW_S = 15 * 60.0  # failures older than this are forgotten
LOCKOUT_S = 15 * 60.0  # long enough to make online guessing useless, short enough for a real user
MAX_KEYS = 10_000  # bounds memory under a flood of distinct keys; the stalest key is forgotten first

Clock = Callable[[], float]


class LoginThrottle:
    """Counts failed sign-ins per key (a username, a client address) and locks a key for a while."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked_for(self, *keys: str) -> float:
        """Seconds until every one of ``keys`` is unlocked (0 when none is locked)."""
        now = self._clock()
        remaining = 0.0
        for key in keys:
            until = self._locked_until.get(key)
            if until is None:
                continue
            if until <= now:
                del self._locked_until[key]
            else:
                remaining = max(remaining, until - now)
        return remaining

    def fail(self, key: str, limit: int) -> bool:
        """Record a failure; True when this failure locks the key."""
        now = self._clock()
        recent = self._failures.setdefault(key, deque())
        recent.append(now)
        while recent and now - recent[0] > FAILURE_WINDOW_S:
            recent.popleft()
        if len(recent) >= limit:
            self._locked_until[key] = now + LOCKOUT_S
            recent.clear()
            return True
        if len(self._failures) > MAX_KEYS:  # bound memory: forget the stalest key
            self._failures.pop(next(iter(self._failures)))
        return False

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)
