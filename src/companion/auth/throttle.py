"""Counting failed attempts (sign-ins, pairing codes) per key and locking a key for a while.

One mechanism for every guessable secret the service accepts: the dashboard's passwords and admin
tokens, and the tablets' pairing codes. State is in this process's memory (a restart forgets it, which
costs an attacker a restart they cannot cause).

An attempt whose check awaits (a database lookup) is *reserved* first: counted as a failure before the
await and forgiven if it succeeds. Checking the lock before the await and counting after it would let a
burst of parallel attempts all pass the check.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Callable

from starlette.requests import HTTPConnection

FAILURE_WINDOW_S = 15 * 60.0  # failures older than this are forgotten
LOCKOUT_S = 15 * 60.0  # long enough to make online guessing useless, short enough for a real user
MAX_KEYS = 10_000  # bounds memory under a flood of distinct keys; the stalest key is forgotten first
# One address may be a whole care home behind NAT, or every client behind a reverse proxy run without
# --proxy-headers: more room than a single person needs, still bounded.
MAX_FAILURES_PER_ADDRESS = 20
IPV6_PREFIX = 64  # one home or phone is given a whole /64 and may pick any address in it at will

Clock = Callable[[], float]


def client_address(request: HTTPConnection) -> str:
    """The key a client's failures are counted under: its IPv4 address, or its IPv6 /64."""
    host = request.client.host if request.client else "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


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
        return self.reserve(key, limit)[1]

    def forgive(self, key: str, ticket: float) -> None:
        """A reserved attempt succeeded: take back its failure (only its own, so that succeeding with
        codes one made oneself does not wipe the count of one's guesses)."""
        recent = self._failures.get(key)
        if recent is not None and ticket in recent:
            recent.remove(ticket)

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)

    def reserve(self, key: str, limit: int) -> tuple[float, bool]:
        """Count an attempt as failed before checking it: (its ticket for ``forgive``, whether it locked
        the key). The caller has checked ``locked_for`` with no await in between."""
        now = self._clock()
        recent = self._failures.setdefault(key, deque())
        recent.append(now)
        while recent and now - recent[0] > FAILURE_WINDOW_S:
            recent.popleft()
        if len(recent) >= limit:
            self._locked_until[key] = now + LOCKOUT_S
            recent.clear()
            return now, True
        if len(self._failures) > MAX_KEYS:  # bound memory: forget the stalest key
            self._failures.pop(next(iter(self._failures)))
        return now, False


class FailureBudget:
    """At most ``limit`` failures in any ``window_s`` seconds across all clients, attempts reserved
    like ``LoginThrottle.reserve``. Bounds guessing from many addresses at once, which no per-address
    lock can."""

    def __init__(self, limit: int, window_s: float, clock: Clock = time.monotonic) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._spent: deque[float] = deque()

    def exhausted_for(self) -> float:
        """Seconds until one more attempt may be made (0 when it may now)."""
        now = self._clock()
        while self._spent and now - self._spent[0] >= self._window_s:
            self._spent.popleft()
        if len(self._spent) < self._limit:
            return 0.0
        return max(0.001, self._spent[0] + self._window_s - now)

    def reserve(self) -> float:
        """Spend one attempt (the caller has checked ``exhausted_for``); its ticket for ``refund``."""
        now = self._clock()
        self._spent.append(now)
        return now

    def refund(self, ticket: float) -> None:
        if ticket in self._spent:
            self._spent.remove(ticket)
