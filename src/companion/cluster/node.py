"""This instance as a member of the cluster: it keeps its registry entry fresh, answers commands from
the other instances, and follows the change log. Three supervised loops; a failing round is logged
and the loop goes on, so a Redis or database outage is survived, not fatal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from companion.cluster.commands import CommandBus
from companion.cluster.follower import CATCH_UP_S, ChangeFollower
from companion.cluster.registry import Registry, Snapshot, total_load
from companion.errors import CompanionError
from companion.realtime.manager import SessionManager

log = logging.getLogger(__name__)

RECENT_CLOSED: Final = 100  # ended conversations each instance keeps listing (409 answers, dashboards)
MIN_PUBLISH_GAP_S: Final = 0.05  # many conversations opening at once make one registry write, not many


class ClusterNode:
    def __init__(
        self,
        redis: Redis,
        manager: SessionManager,
        registry: Registry,
        commands: CommandBus,
        follower: ChangeFollower,
    ) -> None:
        self.redis = redis
        self._manager = manager
        self.registry = registry
        self.commands = commands
        self.follower = follower
        self._tasks: list[asyncio.Task[None]] = []
        self.redis_ok = False

    async def start(self) -> None:
        await self.follower.start_at_end()
        self._tasks = [
            asyncio.create_task(self._supervise("registry", self._heartbeats), name="cluster-registry"),
            asyncio.create_task(self._supervise("commands", self.commands.run), name="cluster-commands"),
            asyncio.create_task(self._supervise("change log", self._follow), name="cluster-follower"),
        ]
        try:  # listed and reachable before the first request, when Redis is there
            await asyncio.wait_for(self.commands.listening.wait(), 2.0)
        except TimeoutError:
            log.warning("cluster: Redis not reachable at start; following the change log meanwhile")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.commands.close()
        with contextlib.suppress(RedisError):
            await self.registry.withdraw()

    def snapshot(self) -> Snapshot:
        return Snapshot(
            live=[s.as_json() for s in self._manager.live()],
            closed=[s.as_json() for s in self._manager.recently_closed(RECENT_CLOSED)],
            load=self._manager.load(),
        )

    async def _heartbeats(self) -> None:
        while True:
            self._manager.changed.clear()
            if not self.commands.listening.is_set():
                # listed only while it can be asked: after Redis comes back, once its channel is
                # subscribed again (the others would get no answer from it before)
                self._set_redis(False)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.commands.listening.wait(), self.registry.heartbeat_s)
                continue
            try:
                await self.registry.publish(self.snapshot())
                # what the others hold, for the person and device limits (as of their last heartbeat)
                self._manager.count_elsewhere(total_load(await self.registry.entries(others_only=True)))
                self._set_redis(True)
            except (RedisError, OSError) as exc:
                self._set_redis(False, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._manager.changed.wait(), self.registry.heartbeat_s)
            await asyncio.sleep(MIN_PUBLISH_GAP_S)

    async def _follow(self) -> None:
        while True:
            try:
                await self.follower.catch_up()
            except CompanionError as exc:
                log.warning("change log not read: %s", exc.message)
            await asyncio.sleep(CATCH_UP_S)

    def _set_redis(self, ok: bool, exc: BaseException | None = None) -> None:
        if ok != self.redis_ok:
            if ok:
                log.info("cluster: Redis reachable; instance registered")
            else:
                log.warning("cluster: Redis not reachable (%s)", type(exc).__name__ if exc else "?")
        self.redis_ok = ok

    async def _supervise(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        while True:
            started = time.monotonic()
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster %s loop failed; starting it again", name)
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    async def health(self) -> dict[str, Any]:
        try:
            await self.redis.ping()
            redis_state = "ok"
        except (RedisError, OSError):
            redis_state = "unreachable"
        return {"redis": redis_state, "changeLog": self.follower.lag()}
