"""Saying a reminder across instances: the owner's outcome comes back as it is, so "said" means said
wherever the conversation runs, and a conversation that was asked and did not say it is not asked
again on another instance. Plain stubs at the directory's seams (manager, registry, command bus)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from companion.cluster.commands import CommandBus
from companion.cluster.directory import SessionDirectory
from companion.cluster.registry import Registry
from companion.events import SayOutcome, say_outcome
from companion.realtime.manager import SessionManager


@dataclass
class Here:
    outcome: SayOutcome
    asked: list[str] = field(default_factory=list)

    async def say_when_quiet(self, user_id: str, note: str) -> SayOutcome:
        self.asked.append(note)
        return self.outcome


@dataclass
class Holders:
    holders: dict[str, int]

    async def holders_of(self, user_id: str) -> dict[str, int]:
        return dict(self.holders)


@dataclass
class Bus:
    answers: dict[str, Any]
    asked: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def call(self, owner: str, op: str, args: dict[str, Any], *, timeout_s: float) -> Any:
        self.asked.append((owner, op, args))
        return self.answers[owner]


def directory(here: Here, answers: dict[str, Any]) -> tuple[SessionDirectory, Bus]:
    bus = Bus(answers)
    found = SessionDirectory(
        cast(SessionManager, here),
        instance="a",
        refresh_timeout_s=1.0,
        registry=cast(Registry, Holders(dict.fromkeys(answers, 1))),
        commands=cast(CommandBus, bus),
    )
    return found, bus


async def test_said_here_is_said_and_nobody_else_is_asked() -> None:
    found, bus = directory(Here("said"), {"b": "said"})
    assert await found.say_when_quiet("u1", "note") == "said"
    assert bus.asked == []


async def test_asked_here_and_not_said_is_not_asked_again_elsewhere() -> None:
    for outcome in ("interrupted", "failed", "no_response", "busy"):
        found, bus = directory(Here(outcome), {"b": "said"})  # type: ignore[arg-type]
        assert await found.say_when_quiet("u1", "note") == outcome
        assert bus.asked == []


async def test_the_owners_outcome_comes_back_as_it_is() -> None:
    found, bus = directory(Here("no_conversation"), {"b": "no_conversation", "c": "interrupted", "d": "said"})
    assert await found.say_when_quiet("u1", "note") == "interrupted", "c held it and it was cut off"
    assert [owner for owner, _, _ in bus.asked] == ["b", "c"]
    assert bus.asked[0][1:] == ("say_when_quiet", {"userId": "u1", "note": "note"})


async def test_nobody_live_anywhere_is_no_conversation() -> None:
    found, _ = directory(Here("no_conversation"), {"b": "no_conversation"})
    assert await found.say_when_quiet("u1", "note") == "no_conversation"


async def test_the_owner_answers_with_its_own_outcome() -> None:
    found, _ = directory(Here("interrupted"), {})
    assert await found.handle("say_when_quiet", {"userId": "u1", "note": "n"}) == "interrupted"


def test_an_older_instances_answer_is_read_as_it_meant() -> None:
    assert say_outcome(True) == "said"
    assert say_outcome(False) == "no_conversation", "sent-or-not told nothing: asked again here"
    assert say_outcome("interrupted") == "interrupted"
    assert say_outcome("shouted") == "no_conversation"
    assert say_outcome(None) == "no_conversation"
