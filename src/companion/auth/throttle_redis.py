"""``Throttle`` and ``Budget`` in Redis: every instance counts the same failures, so a lock-out is
global and a guesser gains nothing by spreading attempts over instances.

Each step is one Lua script (atomic in Redis): ``reserve`` checks the locks and counts under every key
at once, so two instances reserving in parallel cannot both pass a limit. Failures are sorted sets
(score: the time in ms, member: the attempt's ticket), a lock is a string "<until ms> <ticket>"; every
key expires by itself once it can no longer matter. Times come from the instances' clocks (kept in
step by NTP): a second of skew moves a 15-minute window by a second.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping

from redis.asyncio import Redis

from companion.auth.shared_state import redis_guard, state_key
from companion.auth.throttle import FAILURE_WINDOW_S, LOCKOUT_S, Clock, Reservation

TICKET_BYTES = 8  # unique among the attempts of one window

# KEYS: failures_1, lock_1, ..., failures_n, lock_n. ARGV: now_ms, window_ms, lockout_ms, ticket, limit_1..n
# Returns {locked_ms, locked_now}: locked_ms > 0 means a key was locked and nothing was counted.
_RESERVE = """
local now, window, lockout, ticket = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local n = #KEYS / 2
local wait = 0
for i = 1, n do
  local lock = redis.call('GET', KEYS[2 * i])
  if lock then
    local left = tonumber(string.match(lock, '^(%d+)')) - now
    if left > wait then wait = left end
  end
end
if wait > 0 then return {wait, 0} end
local locked_now = 0
for i = 1, n do
  local failures, limit = KEYS[2 * i - 1], tonumber(ARGV[4 + i])
  redis.call('ZREMRANGEBYSCORE', failures, '-inf', '(' .. (now - window))
  redis.call('ZADD', failures, now, ticket)
  redis.call('PEXPIRE', failures, window)
  if redis.call('ZCARD', failures) >= limit then
    redis.call('SET', KEYS[2 * i], (now + lockout) .. ' ' .. ticket, 'PX', lockout)
    locked_now = 1
  end
end
return {0, locked_now}
"""

# KEYS: failures_1, lock_1, ... ARGV: ticket. Takes back the ticket's failures and the locks it set.
_FORGIVE = """
for i = 1, #KEYS / 2 do
  redis.call('ZREM', KEYS[2 * i - 1], ARGV[1])
  local lock = redis.call('GET', KEYS[2 * i])
  if lock and string.match(lock, ' (.*)$') == ARGV[1] then redis.call('DEL', KEYS[2 * i]) end
end
return 0
"""

# KEYS: spent. ARGV: now_ms, window_ms, limit, ticket. Returns ms to wait (0: spent now).
_SPEND = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
  return math.max(1, oldest + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class RedisThrottle:
    """Failures under ``companion:throttle:<name>:fail:<hash of the key>``, locks under ``...:lock:``."""

    def __init__(self, redis: Redis, name: str, clock: Clock = time.time) -> None:
        self._redis = redis
        self._name = name
        self._clock = clock
        self._reserve = redis.register_script(_RESERVE)
        self._forgive = redis.register_script(_FORGIVE)

    def _keys(self, keys: tuple[str, ...]) -> list[str]:
        pairs = []
        for key in keys:
            pairs += [
                state_key(f"throttle:{self._name}:fail", key),
                state_key(f"throttle:{self._name}:lock", key),
            ]
        return pairs

    async def locked_for(self, *keys: str) -> float:
        if not keys:
            return 0.0
        now = _ms(self._clock())
        with redis_guard("lock-out"):
            locks = await self._redis.mget(self._keys(keys)[1::2])
        until = [int(str(lock).split(" ", 1)[0]) for lock in locks if lock]
        return max([0, *(u - now for u in until)]) / 1000

    async def reserve(self, limits: Mapping[str, int]) -> Reservation:
        keys = tuple(limits)
        ticket = secrets.token_hex(TICKET_BYTES)
        args: list[str | int] = [_ms(self._clock()), _ms(FAILURE_WINDOW_S), _ms(LOCKOUT_S), ticket]
        args += limits.values()
        with redis_guard("lock-out"):
            wait_ms, locked_now = await self._reserve(keys=self._keys(keys), args=args)
        return Reservation(keys, ticket, locked_for=int(wait_ms) / 1000, locked_now=bool(locked_now))

    async def forgive(self, reservation: Reservation) -> None:
        with redis_guard("lock-out"):
            await self._forgive(keys=self._keys(reservation.keys), args=[reservation.ticket])

    async def succeed(self, key: str) -> None:
        with redis_guard("lock-out"):
            await self._redis.delete(self._keys((key,))[0])


class RedisRate:
    """One sorted set of the window's requests per key, ``companion:throttle:<name>:rate:<hash>``; the
    same atomic script as ``RedisBudget``, so two instances cannot both let the last request through."""

    def __init__(
        self, redis: Redis, name: str, limit: int, window_s: float, clock: Clock = time.time
    ) -> None:
        self._redis = redis
        self._name = name
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._spend = redis.register_script(_SPEND)

    async def take(self, key: str) -> float:
        ticket = secrets.token_hex(TICKET_BYTES)
        args: list[str | int] = [_ms(self._clock()), _ms(self._window_s), self._limit, ticket]
        with redis_guard("rate limit"):
            wait_ms = int(await self._spend(keys=[state_key(f"throttle:{self._name}:rate", key)], args=args))
        return wait_ms / 1000


class RedisBudget:
    """The spent attempts of the last window, one sorted set ``companion:throttle:<name>:budget``."""

    def __init__(
        self, redis: Redis, name: str, limit: int, window_s: float, clock: Clock = time.time
    ) -> None:
        self._redis = redis
        self._key = state_key(f"throttle:{name}", "budget")
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._spend = redis.register_script(_SPEND)

    async def spend(self) -> tuple[str | None, float]:
        ticket = secrets.token_hex(TICKET_BYTES)
        args: list[str | int] = [_ms(self._clock()), _ms(self._window_s), self._limit, ticket]
        with redis_guard("lock-out"):
            wait_ms = int(await self._spend(keys=[self._key], args=args))
        return (None, wait_ms / 1000) if wait_ms else (ticket, 0.0)

    async def refund(self, ticket: str) -> None:
        with redis_guard("lock-out"):
            await self._redis.zrem(self._key, ticket)
