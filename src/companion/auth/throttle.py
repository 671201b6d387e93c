"""Counting failed attempts (sign-ins, pairing codes) per key and locking a key for a while; and
limiting the rate of requests per key (``Rate``: a paired tablet's client secrets).

One mechanism for every guessable secret the service accepts: the dashboard's passwords and admin
tokens, and the tablets' pairing codes. Two implementations of one async interface: in this process's
memory (one instance; a restart forgets it, which costs an attacker a restart they cannot cause), and
in Redis (``throttle_redis``; several instances count together, so limits are global).

An attempt whose check awaits (a database lookup, a password hash) is *reserved* first: counted as a
failure before the await and forgiven if it succeeds. Checking the lock before the await and counting
after it would let a burst of parallel attempts all pass the check. ``reserve`` checks the locks and
counts in one step (one Lua script in Redis), so two instances cannot both let an attempt through.
"""

from __future__ import annotations

import ipaddress
import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from redis.asyncio import Redis

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


@dataclass(frozen=True, slots=True)
class Reservation:
    """One attempt counted in advance. ``locked_for`` > 0: a key was locked already, nothing was
    counted and the attempt must not be made. ``locked_now``: this attempt's failure locked a key (the
    attempt is still checked; if it succeeds, ``forgive`` lifts the lock it set)."""

    keys: tuple[str, ...]
    ticket: str
    locked_for: float = 0.0
    locked_now: bool = False


class Throttle(Protocol):
    """Failed attempts per key (a username, a client address) and the locks they set."""

    async def locked_for(self, *keys: str) -> float:
        """Seconds until every one of ``keys`` is unlocked (0 when none is locked)."""
        ...

    async def reserve(self, limits: Mapping[str, int]) -> Reservation:
        """Unless a key is locked, count one failure under each key (its limit as the value)."""
        ...

    async def forgive(self, reservation: Reservation) -> None:
        """The reserved attempt succeeded: take back its failures (only its own, so that succeeding
        with codes one made oneself does not wipe the count of one's guesses), and a lock it set."""
        ...

    async def succeed(self, key: str) -> None:
        """Forget every failure of ``key`` (a caregiver who signed in is no longer being guessed)."""
        ...


class Rate(Protocol):
    """At most a number of requests per key in a sliding window (not failures: every request counts)."""

    async def take(self, key: str) -> float:
        """Count one request of ``key``: 0 when it may go ahead, else seconds until one may (nothing
        is counted then, so a client that keeps asking does not push its own wait further away)."""
        ...


class Budget(Protocol):
    """At most a number of failures in a sliding window across all clients."""

    async def spend(self) -> tuple[str | None, float]:
        """Spend one attempt: (its ticket for ``refund``, 0), or (None, seconds to wait) when spent."""
        ...

    async def refund(self, ticket: str) -> None: ...


_tickets = itertools.count()


def _ticket(now: float) -> str:
    return f"{now!r}#{next(_tickets)}"


class LoginThrottle:
    """``Throttle`` in this process's memory."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[tuple[float, str]]] = {}
        self._locked: dict[str, tuple[float, str]] = {}  # key -> (until, the ticket that locked it)

    async def locked_for(self, *keys: str) -> float:
        return self._locked_for(keys, self._clock())

    def _locked_for(self, keys: tuple[str, ...], now: float) -> float:
        remaining = 0.0
        for key in keys:
            lock = self._locked.get(key)
            if lock is None:
                continue
            if lock[0] <= now:
                del self._locked[key]
            else:
                remaining = max(remaining, lock[0] - now)
        return remaining

    async def reserve(self, limits: Mapping[str, int]) -> Reservation:
        now = self._clock()
        keys, ticket = tuple(limits), _ticket(now)
        locked = self._locked_for(keys, now)
        if locked:
            return Reservation(keys, ticket, locked_for=locked)
        locked_now = False
        for key, limit in limits.items():
            recent = self._failures.setdefault(key, deque())
            recent.append((now, ticket))
            while recent and now - recent[0][0] > FAILURE_WINDOW_S:
                recent.popleft()
            if len(recent) >= limit:
                self._locked[key] = (now + LOCKOUT_S, ticket)
                locked_now = True
        while len(self._failures) > MAX_KEYS:  # bound memory: forget the stalest key
            self._failures.pop(next(iter(self._failures)))
        return Reservation(keys, ticket, locked_now=locked_now)

    async def forgive(self, reservation: Reservation) -> None:
        for key in reservation.keys:
            recent = self._failures.get(key)
            if recent is not None:
                kept = deque(item for item in recent if item[1] != reservation.ticket)
                self._failures[key] = kept
            lock = self._locked.get(key)
            if lock is not None and lock[1] == reservation.ticket:
                del self._locked[key]

    async def succeed(self, key: str) -> None:
        self._failures.pop(key, None)


class FailureBudget:
    """``Budget`` in this process's memory. Bounds guessing from many addresses at once, which no
    per-address lock can."""

    def __init__(self, limit: int, window_s: float, clock: Clock = time.monotonic) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._spent: deque[tuple[float, str]] = deque()

    async def spend(self) -> tuple[str | None, float]:
        now = self._clock()
        while self._spent and now - self._spent[0][0] >= self._window_s:
            self._spent.popleft()
        if len(self._spent) >= self._limit:
            return None, max(0.001, self._spent[0][0] + self._window_s - now)
        ticket = _ticket(now)
        self._spent.append((now, ticket))
        return ticket, 0.0

    async def refund(self, ticket: str) -> None:
        self._spent = deque(item for item in self._spent if item[1] != ticket)


class RateLimit:
    """``Rate`` in this process's memory, for at most ``MAX_KEYS`` keys (the stalest is forgotten)."""

    def __init__(self, limit: int, window_s: float, clock: Clock = time.monotonic) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._taken: dict[str, deque[float]] = {}

    async def take(self, key: str) -> float:
        now = self._clock()
        taken = self._taken.pop(key, deque())  # put back below: the dict's order is staleness
        while taken and now - taken[0] >= self._window_s:
            taken.popleft()
        self._taken[key] = taken
        if len(taken) >= self._limit:
            return max(0.001, taken[0] + self._window_s - now)
        taken.append(now)
        while len(self._taken) > MAX_KEYS:
            self._taken.pop(next(iter(self._taken)))
        return 0.0


def throttle_for(redis: Redis | None, name: str) -> Throttle:
    """In memory without Redis; in Redis (shared by every instance) with it. ``name`` keeps one
    use's keys apart from another's."""
    if redis is None:
        return LoginThrottle()
    from companion.auth.throttle_redis import RedisThrottle

    return RedisThrottle(redis, name)


def rate_for(redis: Redis | None, name: str, limit: int, window_s: float) -> Rate:
    """Per key, in memory without Redis; in Redis (every instance counts together) with it."""
    if redis is None:
        return RateLimit(limit, window_s)
    from companion.auth.throttle_redis import RedisRate

    return RedisRate(redis, name, limit, window_s)


def budget_for(redis: Redis | None, name: str, limit: int, window_s: float) -> Budget:
    if redis is None:
        return FailureBudget(limit, window_s)
    from companion.auth.throttle_redis import RedisBudget

    return RedisBudget(redis, name, limit, window_s)
