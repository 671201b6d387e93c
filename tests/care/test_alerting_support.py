"""Shared by the alert tests: a settable clock, predictable link tokens, and a person with three contacts
(the store on SQLite and PostgreSQL is ``care_store`` from ``conftest.py``). No tests here."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from receivers import USER, CareStore

from companion.care.alerting import AlertConfig
from companion.care.alerts import AlertService
from companion.profiles.models import CareContext, EmergencyContact, Profile, Safety, Severity

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PUBLIC = "https://care.example.org"
WEBHOOK = "https://hooks.example.net/family/abc"


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def tokens(prefix: str = "tok") -> Any:
    """Predictable acknowledgement tokens: tok-0001-xxxxxxxxxxxx, ... (well formed, distinct)."""
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter):04d}-abcdefghijkl"


def contact(
    name: str, email: str | None, notify: list[Severity] | None = None, **kw: Any
) -> EmergencyContact:
    values: dict[str, Any] = {
        "name": name,
        "relationship": "daughter",
        "phone": "050-123-4567",
        "email": email,
    }
    if notify is not None:
        values["notify_for"] = notify
    return EmergencyContact(**values)


DANA = contact("Dana", "dana@example.com")
YOSSI = contact("Yossi", "yossi@example.com")
MIRI = contact("Miri", "miri@example.com")
THREE = [DANA, YOSSI, MIRI]


def context(
    contacts: list[EmergencyContact] | None = None,
    *,
    user_id: str = USER,
    escalation_minutes: int | None = None,
) -> CareContext:
    profile = Profile.model_validate(
        {
            "personalInfo": {
                "fullName": "Rivka Levi",
                "preferredName": "Savta",
                "gender": "female",
                "language": "en",
                "timezone": "Asia/Jerusalem",
            }
        }
    )
    safety = Safety.model_validate(
        {
            "emergencyContacts": [
                c.model_dump(by_alias=True) for c in (THREE if contacts is None else contacts)
            ],
            "medications": [{"name": "Aricept", "dosage": "5 mg", "times": ["08:00"]}],
            "escalationMinutes": escalation_minutes,
        }
    )
    return CareContext(user_id=USER, profile=profile, safety=safety)


CONFIG = AlertConfig(webhook_url=WEBHOOK, email=True, public_url=PUBLIC, escalation_after_s=600)


class Contexts:
    """A loader whose answer a test can change (the family edits the profile)."""

    def __init__(self, value: CareContext | None = None) -> None:
        self.value = value or context()

    async def __call__(self, user_id: str) -> CareContext:
        return self.value.model_copy(update={"user_id": user_id})


def service(
    store: CareStore, clock: Clock, contexts: Contexts | None = None, config: AlertConfig = CONFIG
) -> AlertService:
    return AlertService(store, contexts or Contexts(), config, clock=clock, new_token=tokens())
