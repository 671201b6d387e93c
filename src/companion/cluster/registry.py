"""The shared registry of live conversations, in Redis.

Each instance writes, every few seconds and whenever a conversation opens or ends, one entry of its
own: the summaries of its live conversations (and of those that ended recently), plus two small
indexes (session -> person, person -> sessions) for routing. Every entry expires unless renewed, so the
conversations of an instance that died leave every list within its time to live
(``COMPANION_INSTANCE_TTL_S``, default ``ENTRY_TTL_S``). Nothing here holds conversation content: the
summaries carry ids, states, counts and timings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from redis.asyncio import Redis

from companion.keyspace import KEY_PREFIX
from companion.realtime.manager import Load
from companion.settings import Settings

# the setting's default: three missed heartbeats, and the instance is gone and its conversations leave
ENTRY_TTL_S: Final[int] = Settings.model_fields["instance_ttl_s"].default
HEARTBEATS_PER_TTL: Final = 3  # an instance renews its entry this many times within its time to live
INSTANCES_KEY: Final = KEY_PREFIX + "instances"  # sorted set: instance id -> last heartbeat (unix time)
FORGET_INSTANCE_S: Final = 3600.0  # a long-dead instance's heartbeat is removed from the set


def _entry(instance: str) -> str:
    return f"{KEY_PREFIX}instance:{instance}"


def _where(instance: str) -> str:
    return f"{KEY_PREFIX}instance:{instance}:where"  # hash: session id -> person


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What an instance publishes: live and recently closed conversations, each its ``as_json()``."""

    live: Sequence[dict[str, Any]]
    closed: Sequence[dict[str, Any]]
    load: Load = field(default_factory=Load)  # live sessions per person and device key, for the limits


@dataclass(frozen=True, slots=True)
class InstanceEntry:
    instance: str
    heartbeat: float
    live: list[dict[str, Any]]
    closed: list[dict[str, Any]]
    load: Load = field(default_factory=Load)


def total_load(entries: Sequence[InstanceEntry]) -> Load:
    """Sessions per person and per device key summed over ``entries``."""
    people: dict[str, int] = {}
    devices: dict[str, int] = {}
    for entry in entries:
        for user_id, n in entry.load.people.items():
            people[user_id] = people.get(user_id, 0) + n
        for key, n in entry.load.devices.items():
            devices[key] = devices.get(key, 0) + n
    return Load(people, devices)


class Registry:
    def __init__(
        self,
        redis: Redis,
        instance: str,
        *,
        ttl_s: int = ENTRY_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self.instance = instance
        self.ttl_s = ttl_s
        self.heartbeat_s = ttl_s / HEARTBEATS_PER_TTL  # how often the instance renews its entry
        self._clock = clock

    async def publish(self, snapshot: Snapshot) -> None:
        now = self._clock()
        body = json.dumps(
            {
                "instance": self.instance,
                "at": now,
                "live": list(snapshot.live),
                "closed": list(snapshot.closed),
                "load": {"people": snapshot.load.people, "devices": snapshot.load.devices},
            },
            separators=(",", ":"),
        )
        where = {s["id"]: s["userId"] for s in snapshot.live}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_entry(self.instance), body, ex=self.ttl_s)
            pipe.delete(_where(self.instance))
            if where:
                pipe.hset(_where(self.instance), mapping=where)
                pipe.expire(_where(self.instance), self.ttl_s)
            pipe.zadd(INSTANCES_KEY, {self.instance: now})
            pipe.zremrangebyscore(INSTANCES_KEY, "-inf", now - FORGET_INSTANCE_S)
            await pipe.execute()

    async def withdraw(self) -> None:
        """A clean stop: this instance's conversations leave the lists at once."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(_entry(self.instance), _where(self.instance))
            pipe.zrem(INSTANCES_KEY, self.instance)
            await pipe.execute()

    async def live_instances(self) -> list[str]:
        """Instances whose heartbeat is recent enough that their entry has not expired."""
        members = await self._redis.zrangebyscore(INSTANCES_KEY, self._clock() - self.ttl_s, "+inf")
        return [str(m) for m in members]

    async def entries(self, *, others_only: bool = False) -> list[InstanceEntry]:
        instances = [i for i in await self.live_instances() if not (others_only and i == self.instance)]
        if not instances:
            return []
        bodies = await self._redis.mget([_entry(i) for i in instances])
        entries = []
        for raw in bodies:
            if raw is None:
                continue  # expired between the two reads
            data = json.loads(raw)
            load = data.get("load") or {}
            entries.append(
                InstanceEntry(
                    str(data["instance"]),
                    float(data["at"]),
                    list(data["live"]),
                    list(data["closed"]),
                    Load(dict(load.get("people") or {}), dict(load.get("devices") or {})),
                )
            )
        return entries

    async def owner_of(self, session_id: str) -> tuple[str, str] | None:
        """(instance, person) of a live conversation held by another instance, or None."""
        instances = [i for i in await self.live_instances() if i != self.instance]
        if not instances:
            return None
        async with self._redis.pipeline(transaction=False) as pipe:
            for instance in instances:
                pipe.hget(_where(instance), session_id)
            found = await pipe.execute()
        for instance, user_id in zip(instances, found, strict=True):
            if user_id is not None:
                return instance, str(user_id)
        return None

    async def holders_of(self, user_id: str) -> dict[str, int]:
        """Other instances holding live conversations of ``user_id``, with how many each holds."""
        instances = [i for i in await self.live_instances() if i != self.instance]
        if not instances:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for instance in instances:
                pipe.hvals(_where(instance))
            found = await pipe.execute()
        held = {i: sum(1 for u in people if u == user_id) for i, people in zip(instances, found, strict=True)}
        return {i: n for i, n in held.items() if n}
