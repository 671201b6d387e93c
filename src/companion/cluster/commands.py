"""Commands between instances over Redis: ask the instance that holds a conversation to act on it.

Each instance listens on its own channel for requests and on another for the answers to its own
requests. A request names an operation and its arguments; the owner runs it and publishes the result,
or the error it raised (status, code, message), which the caller raises again as the same kind of
``CompanionError``. An owner that is not listening (``PUBLISH`` reached nobody) is known at once; one
that does not answer in time is an ``InstanceTimeout``. Never waited on for ever.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from companion.backoff import doubling_delay
from companion.errors import (
    ClusterUnavailable,
    CompanionError,
    Conflict,
    InstanceTimeout,
    InvalidInput,
    NotFound,
    SessionNotActive,
    StoreUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from companion.keyspace import KEY_PREFIX

log = logging.getLogger(__name__)

MAX_RUNNING: Final = 256  # requests from other instances handled at once; more wait for a slot
RESUBSCRIBE_FIRST_S: Final = 0.2
RESUBSCRIBE_CAP_S: Final = 5.0

Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]

# An error from another instance becomes the same kind of error here, so routes answer the same status.
_BY_CODE: dict[str, type[CompanionError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        SessionNotActive,
        Conflict,
        InvalidInput,
        UpstreamError,
        UpstreamTimeout,
        StoreUnavailable,
    )
}


def _channel_prefix(redis: Redis) -> str:
    """Pub/sub channels belong to the whole Redis server, not to a database: services that share one
    server through different databases must not hear each other's commands, so the database is named."""
    database = redis.connection_pool.connection_kwargs.get("db", 0)
    return f"{KEY_PREFIX}db{database}:"


def error_from_reply(reply: dict[str, Any]) -> CompanionError:
    cls = _BY_CODE.get(str(reply.get("code")), CompanionError)
    return cls(str(reply.get("message") or "the other instance failed"))


class CommandBus:
    def __init__(self, redis: Redis, instance: str, handler: Handler) -> None:
        self._redis = redis
        self.instance = instance
        self._handler = handler
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_RUNNING)
        self.listening = asyncio.Event()  # set while subscribed; cleared while Redis is away
        self._prefix = _channel_prefix(redis)

    def _requests(self, instance: str) -> str:
        return f"{self._prefix}cmd:{instance}"

    def _replies(self, instance: str) -> str:
        return f"{self._prefix}reply:{instance}"

    async def call(self, instance: str, op: str, args: dict[str, Any], *, timeout_s: float) -> Any:
        """Run ``op`` on ``instance`` and return its result, or raise its error."""
        if not self.listening.is_set():  # Redis came back and the channel is not subscribed again yet:
            try:  # an answer sent now would reach nobody
                await asyncio.wait_for(self.listening.wait(), timeout_s)
            except TimeoutError:
                raise ClusterUnavailable("cannot hear the other instances: Redis is not reachable") from None
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        message = json.dumps({"id": request_id, "from": self.instance, "op": op, "args": args})
        try:
            try:
                receivers = await self._redis.publish(self._requests(instance), message)
            except RedisError as exc:
                raise ClusterUnavailable(f"cannot reach the other instances: {type(exc).__name__}") from exc
            if receivers == 0:
                raise InstanceTimeout(f"Instance {instance} is not answering (it may have stopped)")
            try:
                reply = await asyncio.wait_for(future, timeout_s)
            except TimeoutError:
                raise InstanceTimeout(f"Instance {instance} did not answer within {timeout_s:g} s") from None
        finally:
            self._waiting.pop(request_id, None)
        if not reply.get("ok"):
            raise error_from_reply(reply)
        return reply.get("result")

    async def run(self) -> None:
        """Listen for requests and replies until cancelled, subscribing again after Redis comes back."""
        attempt = 0
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._requests(self.instance), self._replies(self.instance))
                    self.listening.set()
                    attempt = 0
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._dispatch(str(message["channel"]), str(message["data"]))
            except (RedisError, OSError) as exc:
                self.listening.clear()
                attempt += 1
                delay = doubling_delay(
                    attempt, first_s=RESUBSCRIBE_FIRST_S, cap_s=RESUBSCRIBE_CAP_S, jitter=random.random()
                )
                log.warning(
                    "command channel lost (%s); subscribing again in %.1f s", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)

    def _dispatch(self, channel: str, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("ignored a malformed message on %s", channel)
            return
        if channel == self._replies(self.instance):
            future = self._waiting.get(str(message.get("id")))
            if future is not None and not future.done():
                future.set_result(message)
            return
        task = asyncio.create_task(self._answer(message))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _answer(self, request: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": request.get("id")}
        async with self._slots:
            try:
                reply.update(
                    ok=True,
                    result=await self._handler(str(request.get("op")), dict(request.get("args") or {})),
                )
            except CompanionError as exc:
                reply.update(ok=False, status=exc.status, code=exc.code, message=exc.message)
            except Exception:  # a bug here must still answer, or the caller waits out its timeout
                log.exception("command %s failed", request.get("op"))
                reply.update(ok=False, status=500, code="internal_error", message="the other instance failed")
        try:
            await self._redis.publish(self._replies(str(request.get("from"))), json.dumps(reply))
        except RedisError as exc:
            log.warning("could not answer command %s: %s", request.get("op"), type(exc).__name__)

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        for future in self._waiting.values():
            future.cancel()
