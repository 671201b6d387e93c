"""Pure parts: the session table, the lock-out clock, the strings, the save outcome."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from companion.auth import Principal, Role
from companion.dashboard import websessions
from companion.dashboard.i18n import LANGUAGES, strings
from companion.dashboard.saving import outcome
from companion.dashboard.websessions import (
    FAILURE_WINDOW_S,
    IDLE_TIMEOUT_S,
    LOCKOUT_S,
    LoginThrottle,
    SessionTable,
)
from companion.events import RefreshCounts
from companion.profiles.models import SECTION_MODELS, MemoryInput

TEMPLATES = Path(websessions.__file__).parent / "templates"
CAREGIVER = Principal(role=Role.CAREGIVER, token_id="t", caregiver_id="cg-1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_sessions_expire_when_idle() -> None:
    clock = Clock()
    table = SessionTable(clock)
    member = table.new(CAREGIVER, "תפארת")
    clock.now += IDLE_TIMEOUT_S - 1
    assert await table.get(member.id) is member
    clock.now += IDLE_TIMEOUT_S + 1
    assert await table.get(member.id) is None


async def test_a_flood_of_anonymous_sessions_does_not_sign_anyone_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(websessions, "MAX_SESSIONS", 5)
    table = SessionTable(Clock())
    member = table.new(CAREGIVER, "x")
    for _ in range(50):
        table.new()
    assert await table.get(member.id) is member
    assert len(table) == 6


async def test_the_lock_lasts_its_time_and_old_failures_are_forgotten() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(4):
        assert not (await throttle.reserve({"user:a": 5})).locked_now
    clock.now += FAILURE_WINDOW_S + 1  # these four are too old to count now
    for _ in range(4):
        assert not (await throttle.reserve({"user:a": 5})).locked_now
    assert (await throttle.reserve({"user:a": 5})).locked_now
    assert await throttle.locked_for("user:a", "ip:x") == LOCKOUT_S
    clock.now += LOCKOUT_S
    assert await throttle.locked_for("user:a") == 0


def test_both_languages_have_the_same_words() -> None:
    he, en = strings("he"), strings("en")
    assert LANGUAGES == ("he", "en")
    assert set(he) == set(en)
    assert all(value.strip() for value in [*he.values(), *en.values()])


def test_every_key_the_templates_name_exists() -> None:
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(["']([a-z_]+\.[A-Za-z_.]*[A-Za-z_])["']""", template.read_text()))
    assert used
    assert sorted(used - set(strings("he"))) == []


def _aliases(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for arg in (info.annotation, *getattr(info.annotation, "__args__", ())):
            for inner in (arg, *getattr(arg, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    names |= _aliases(inner)
    return names


def test_every_profile_field_has_a_label_in_both_languages() -> None:
    fields = set().union(*(_aliases(m) for m in SECTION_MODELS.values())) | _aliases(MemoryInput)
    for lang in LANGUAGES:
        assert sorted(f for f in fields if f"field.{f}" not in strings(lang)) == [], lang


def test_the_message_after_a_save_follows_the_live_sessions() -> None:
    assert outcome(RefreshCounts(refreshed=1)) == "live"
    assert outcome(RefreshCounts(unchanged=1)) == "live"
    assert outcome(RefreshCounts()) == "next"
    assert outcome(RefreshCounts(refreshed=2, failed=1)) == "failed"
    assert outcome(RefreshCounts(), saved=False) == "nothing"
    he = strings("he")
    assert he["saved.live"] == "פרופיל נשמר בהצלחה! השינויים עודכנו באפליקציה הפעילה."
    assert he["saved.next"] == "פרופיל נשמר בהצלחה! השינויים יחולו בשיחה הבאה."
    assert he["wizard.submit"] == "שלח והשלם"
