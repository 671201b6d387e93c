"""Every live conversation, wherever it runs: this instance's through its ``SessionManager``, the
others' through the registry and commands routed to their owner.

Routes and the save path use this and never ask where a conversation lives. Without Redis (one
instance) it is the manager and nothing else. The owner builds every answer itself, so a refresh routed
from another instance answers exactly what it would have answered locally, with the same statuses
(404 unknown, 409 not active, 502/504 the model failed, 504 the owner did not answer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

from redis.exceptions import RedisError

from companion.cluster.commands import CommandBus
from companion.cluster.registry import Registry
from companion.errors import (
    ClusterUnavailable,
    CompanionError,
    InstanceTimeout,
    InvalidInput,
    NotFound,
    SessionNotActive,
)
from companion.events import RefreshCounts, SayOutcome, say_outcome
from companion.realtime.endings import Ending
from companion.realtime.manager import SessionManager, SessionMatch
from companion.realtime.records import ClosedSession, RefreshRecord
from companion.realtime.saying import FOLLOW_WITHIN_S
from companion.realtime.session import SAY_WITHIN_S, LiveSession

log = logging.getLogger(__name__)

REDIS_DOWN = (RedisError, OSError)  # what reading the registry raises while Redis is away
ROUTE_MARGIN_S: Final = 1.0  # on top of the refresh timeout: the hop to the owner and back
# a reminder waits for a quiet moment, then its answer is followed to its end; plus the hop
SAY_TIMEOUT_S: Final = SAY_WITHIN_S + FOLLOW_WITHIN_S + 5.0


def refresh_body(session_id: str, record: RefreshRecord) -> dict[str, Any]:
    message = {
        "refreshed": "The model confirmed the new instructions.",
        "unchanged": "The instructions are already current; nothing was sent.",
    }.get(record.result.value, record.message)
    return {
        "success": True,
        "message": message,
        "sessionId": session_id,
        "result": record.result.value,
        "instructionsVersion": record.version,
        "latencyMs": round(record.latency_ms, 3),
    }


def failure_body(session_id: str | None, exc: CompanionError, **extra: Any) -> dict[str, Any]:
    return {
        "success": False,
        "sessionId": session_id,
        "statusCode": exc.status,
        "message": exc.message,
        **extra,
    }


class SessionDirectory:
    def __init__(
        self,
        manager: SessionManager,
        *,
        instance: str,
        refresh_timeout_s: float,
        registry: Registry | None = None,
        commands: CommandBus | None = None,
    ) -> None:
        self.manager = manager
        self.instance = instance
        self.registry = registry
        self.commands = commands
        self._route_timeout_s = refresh_timeout_s + ROUTE_MARGIN_S
        # Told when another instance ends a person's conversations because the person was erased: this
        # instance's caches of them go too (set at wiring; the services own the caches).
        self.on_person_erased: Callable[[str], None] | None = None

    # ---- finding -----------------------------------------------------------------------------------

    def _local(self, session_id: str) -> LiveSession | ClosedSession | None:
        try:
            return self.manager.get(session_id)
        except NotFound:
            return None

    async def _remote(self, session_id: str) -> tuple[str, dict[str, Any], bool] | None:
        """(owner, summary, live) of a conversation another instance holds (found through the registry's
        index: one round trip) or recently held (found in the instances' entries)."""
        if self.registry is None:
            return None
        try:
            owner = await self.registry.owner_of(session_id)
            if owner is not None:
                return owner[0], {"id": session_id, "userId": owner[1]}, True
            entries = await self.registry.entries(others_only=True)
        except REDIS_DOWN as exc:
            raise ClusterUnavailable(f"cannot reach the other instances: {type(exc).__name__}") from exc
        for entry in entries:
            for summary in entry.closed:
                if summary.get("id") == session_id:
                    return entry.instance, summary, False
        return None

    async def user_of(self, session_id: str) -> str:
        """The person a conversation (live or recently ended, on any instance) belongs to; 404 if none."""
        local = self._local(session_id)
        if local is not None:
            return local.user_id
        remote = await self._remote(session_id)
        if remote is None:
            raise NotFound(f"Session {session_id} not found")
        return str(remote[1]["userId"])

    # ---- one conversation --------------------------------------------------------------------------

    async def get(self, session_id: str) -> dict[str, Any]:
        local = self._local(session_id)
        if local is not None:
            return self._mark(local.as_json())
        owner, summary, live = await self._found(session_id)
        if not live:
            return {**summary, "instance": owner}
        return dict(await self._call(owner, "get", {"sessionId": session_id}))

    async def refresh(self, session_id: str) -> dict[str, Any]:
        if self._local(session_id) is not None:
            return refresh_body(session_id, await self.manager.refresh(session_id))
        owner, _, live = await self._found(session_id)
        if not live:
            raise SessionNotActive(f"Session {session_id} has no active WebSocket connection")
        return dict(await self._call(owner, "refresh", {"sessionId": session_id}))

    async def close(self, session_id: str, reason: str) -> dict[str, Any]:
        local = self._local(session_id)
        if local is not None:
            await local.close(Ending.NORMAL, reason)
            return {"success": True, "sessionId": session_id, "status": local.status.value}
        owner, _, live = await self._found(session_id)
        if not live:
            return {"success": True, "sessionId": session_id, "status": "closed"}
        return dict(await self._call(owner, "close", {"sessionId": session_id, "reason": reason}))

    async def _found(self, session_id: str) -> tuple[str, dict[str, Any], bool]:
        remote = await self._remote(session_id)
        if remote is None:
            raise NotFound(f"Session {session_id} not found")
        return remote

    # ---- many --------------------------------------------------------------------------------------

    async def all(self, *, include_closed: bool = False) -> tuple[list[dict[str, Any]], bool]:
        """Every instance's live conversations (and with ``include_closed`` the recently ended), oldest
        first, and whether the list is complete. Another instance's are as of its last heartbeat (a few
        seconds at most); while Redis cannot be read, only this instance's (incomplete)."""
        sessions = [self._mark(s.as_json()) for s in self.manager.all(include_closed=include_closed)]
        complete = True
        if self.registry is not None:
            try:
                entries = await self.registry.entries(others_only=True)
            except REDIS_DOWN as exc:
                log.warning(
                    "listing this instance's sessions only: Redis unreachable (%s)", type(exc).__name__
                )
                entries, complete = [], False
            for entry in entries:
                sessions += [{**s, "instance": entry.instance} for s in entry.live]
                if include_closed:
                    sessions += [{**s, "instance": entry.instance} for s in entry.closed]
        return sorted(sessions, key=lambda s: str(s.get("startedAt"))), complete

    async def refresh_user(self, user_id: str) -> list[dict[str, Any]]:
        """Refresh every live conversation of a person on every instance: one answer per conversation,
        and one per owner that did not answer (naming it and how many it holds)."""
        results: list[dict[str, Any]] = [
            refresh_body(s.id, outcome)
            if not isinstance(outcome, CompanionError)
            else failure_body(s.id, outcome)
            for s, outcome in await self.manager.refresh_user(user_id)
        ]
        for owner, held, answer in await self._fan_out(user_id, "refresh_user"):
            if isinstance(answer, CompanionError):
                results.append(failure_body(None, answer, instance=owner, sessions=held))
            else:
                results += list(answer)
        return results

    async def refresh_counts(self, user_id: str) -> RefreshCounts:
        """How every live conversation of a person took a change: this instance's, then the others'."""
        counts = await self.manager.refresh_user_counts(user_id)
        counts.add(await self.remote_counts(user_id))
        return counts

    async def remote_counts(self, user_id: str) -> RefreshCounts:
        counts = RefreshCounts()
        for owner, held, answer in await self._fan_out(user_id, "refresh_counts"):
            if isinstance(answer, CompanionError):
                counts.failed += held
                counts.unanswered.append(owner)
            else:
                counts.refreshed += int(answer["refreshed"])
                counts.unchanged += int(answer["unchanged"])
                counts.failed += int(answer["failed"])
        return counts

    async def _holders(self, user_id: str) -> dict[str, int]:
        """Other instances holding the person's conversations (how many each). When Redis cannot be
        reached there are none to ask: the others follow the change log instead."""
        if self.registry is None:
            return {}
        try:
            return await self.registry.holders_of(user_id)
        except REDIS_DOWN as exc:
            log.warning("cannot reach the registry (%s); other instances will catch up", type(exc).__name__)
            return {}

    async def _fan_out(self, user_id: str, op: str) -> list[tuple[str, int, Any]]:
        """Ask each other instance holding the person's conversations to run ``op``, in parallel."""
        holders = await self._holders(user_id)

        async def ask(owner: str) -> Any:
            try:
                return await self._call(owner, op, {"userId": user_id})
            except CompanionError as exc:
                return exc

        answers = await asyncio.gather(*(ask(o) for o in holders))
        return [(o, holders[o], a) for o, a in zip(holders, answers, strict=True)]

    async def close_matching(self, ending: Ending, match: SessionMatch) -> int:
        """End the matching conversations here and on every other live instance; how many ended."""
        ended = await self.manager.close_matching(ending, match)
        if self.registry is None:
            return ended
        args = {"ending": ending.name, **match.as_json()}
        try:
            others = [i for i in await self.registry.live_instances() if i != self.instance]
        except REDIS_DOWN as exc:
            log.warning("cannot reach the other instances to end sessions: %s", type(exc).__name__)
            return ended

        async def ask(owner: str) -> int:
            try:
                return int(await self._call(owner, "close_matching", args))
            except CompanionError as exc:
                log.warning("instance %s did not end its sessions: %s", owner, exc.message)
                return 0

        return ended + sum(await asyncio.gather(*(ask(o) for o in others)))

    async def close_device(self, device_id: str) -> int:
        """End a revoked tablet's conversations on every instance; how many ended."""
        return await self.close_matching(Ending.DEVICE_REVOKED, SessionMatch(device_id=device_id))

    async def say_when_quiet(self, user_id: str, note: str) -> SayOutcome:
        """Have the person's conversation speak at its next quiet moment, wherever it runs: here first,
        then each other holder in turn until one has a live conversation. The owner follows the answer
        and sends back its outcome (a string), so ``said`` means said wherever it was said, and a
        conversation that was asked and did not say it is not asked again on another instance now."""
        outcome = await self.manager.say_when_quiet(user_id, note)
        if outcome != "no_conversation":
            return outcome
        for owner in await self._holders(user_id):
            try:
                args = {"userId": user_id, "note": note}
                answer = await self._call(owner, "say_when_quiet", args, say=True)
            except CompanionError as exc:
                log.info("instance %s did not say the reminder: %s", owner, exc.message)
                continue
            outcome = say_outcome(answer)
            if outcome != "no_conversation":
                return outcome
        return "no_conversation"

    # ---- plumbing ----------------------------------------------------------------------------------

    def _mark(self, summary: dict[str, Any]) -> dict[str, Any]:
        return {**summary, "instance": self.instance}

    async def _call(self, owner: str, op: str, args: dict[str, Any], *, say: bool = False) -> Any:
        if self.commands is None:
            raise InstanceTimeout(f"Instance {owner} cannot be reached without the cluster")
        timeout = SAY_TIMEOUT_S if say else self._route_timeout_s
        return await self.commands.call(owner, op, args, timeout_s=timeout)

    async def handle(self, op: str, args: dict[str, Any]) -> Any:
        """Run a command another instance sent about this instance's conversations."""
        if op == "get":
            session = self.manager.get(str(args["sessionId"]))
            return self._mark(session.as_json())
        if op == "refresh":
            return refresh_body(str(args["sessionId"]), await self.manager.refresh(str(args["sessionId"])))
        if op == "close":
            session = self.manager.get(str(args["sessionId"]))
            await session.close(Ending.NORMAL, str(args.get("reason") or "closed by the care team"))
            return {"success": True, "sessionId": session.id, "status": session.status.value}
        if op == "refresh_user":
            return [
                refresh_body(s.id, o) if not isinstance(o, CompanionError) else failure_body(s.id, o)
                for s, o in await self.manager.refresh_user(str(args["userId"]))
            ]
        if op == "refresh_counts":
            return (await self.manager.refresh_user_counts(str(args["userId"]))).as_json()
        if op == "close_matching":
            ending, match = Ending[str(args["ending"])], SessionMatch.from_json(args)
            ended = await self.manager.close_matching(ending, match)
            if ending is Ending.PERSON_ERASED and match.user_id and self.on_person_erased is not None:
                self.on_person_erased(match.user_id)
            return ended
        if op == "say_when_quiet":
            return await self.manager.say_when_quiet(str(args["userId"]), str(args["note"]))
        raise InvalidInput(f"unknown command {op!r}", field="op")
