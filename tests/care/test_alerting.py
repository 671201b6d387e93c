"""Who is told about an alert, in what order, and what they are sent: plain data, no store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from companion.care.alerting import (
    FAMILY_SERVICE,
    AlertConfig,
    AlertFacts,
    Person,
    critical_order,
    last_stage,
    mask_address,
    plan_notices,
    recipients,
)
from companion.profiles.models import EmergencyContact, Severity
from companion.realtime.tools import NOBODY_TOLD, alert_answer
from companion.settings import Settings
from companion.store.base import JobRecord
from tests.care.test_alerting_support import (
    CONFIG,
    DANA,
    MIRI,
    PUBLIC,
    T0,
    THREE,
    WEBHOOK,
    YOSSI,
    contact,
    tokens,
)

CRITICAL = AlertFacts("alert-1", Severity.CRITICAL, "I fell in the kitchen", T0)
HIGH = AlertFacts("alert-2", Severity.HIGH, "Wants to drive to Haifa", T0)
PERSON = Person("user-rivka-001", "Rivka Levi", "en", "Asia/Jerusalem", "female")


def addresses(
    severity: Severity, stage: int, contacts: Sequence[EmergencyContact] = THREE, config: AlertConfig = CONFIG
) -> list[str]:
    return [r.address for r in recipients(severity, contacts, config, stage)]


def test_high_goes_at_once_to_the_service_and_every_contact_who_asked_for_it() -> None:
    no_email = contact("Avi", None)
    only_critical = contact("Noa", "noa@example.com", [Severity.CRITICAL])
    contacts = [no_email, DANA, only_critical, YOSSI]
    assert addresses(Severity.HIGH, 0, contacts) == [WEBHOOK, "dana@example.com", "yossi@example.com"]
    assert addresses(Severity.HIGH, 1, contacts) == []  # high alerts do not escalate
    assert last_stage(Severity.HIGH, contacts, CONFIG) == 0


def test_medium_reaches_only_contacts_who_listed_medium() -> None:
    # every severity is the default (a missed medication is medium): Dana took medium off her list
    no_medium = contact("Dana", "dana@example.com", [Severity.CRITICAL, Severity.HIGH])
    wants_all = contact("Noa", "noa@example.com")
    assert addresses(Severity.MEDIUM, 0, [no_medium, wants_all]) == [WEBHOOK, "noa@example.com"]


def test_critical_goes_down_the_list_one_then_the_next_then_all_the_others() -> None:
    fourth = contact("Eli", "eli@example.com")
    contacts = [DANA, YOSSI, MIRI, fourth]
    assert addresses(Severity.CRITICAL, 0, contacts) == [WEBHOOK, "dana@example.com"]
    assert addresses(Severity.CRITICAL, 1, contacts) == ["yossi@example.com"]  # the webhook was told once
    assert addresses(Severity.CRITICAL, 2, contacts) == ["miri@example.com", "eli@example.com"]
    assert addresses(Severity.CRITICAL, 3, contacts) == []
    assert last_stage(Severity.CRITICAL, contacts, CONFIG) == 2


def test_critical_always_reaches_the_first_contact_with_an_email_and_never_one_who_opted_out() -> None:
    no_email = contact("Avi", None)
    first = contact("Dana", "dana@example.com", [Severity.MEDIUM])  # took critical off: still called first
    opted_out = contact("Yossi", "yossi@example.com", [Severity.HIGH])
    contacts = [no_email, first, opted_out, MIRI]
    assert [c.name for c in critical_order(contacts)] == ["Dana", "Miri"]
    assert addresses(Severity.CRITICAL, 0, contacts) == [WEBHOOK, "dana@example.com"]
    assert addresses(Severity.CRITICAL, 1, contacts) == ["miri@example.com"]
    assert last_stage(Severity.CRITICAL, contacts, CONFIG) == 1


def test_two_contacts_sharing_an_address_get_one_message() -> None:
    twin = contact("Dana again", "DANA@example.com")
    assert addresses(Severity.HIGH, 0, [DANA, twin]) == [WEBHOOK, "dana@example.com"]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (AlertConfig(webhook_url=WEBHOOK, email=False), [WEBHOOK]),
        (AlertConfig(webhook_url=None, email=True), ["dana@example.com"]),
        (AlertConfig(), []),
    ],
)
def test_only_configured_channels_are_planned(config: AlertConfig, expected: list[str]) -> None:
    assert addresses(Severity.CRITICAL, 0, config=config) == expected
    assert last_stage(Severity.CRITICAL, THREE, config) == (2 if config.email else 0)


def test_config_from_settings_plans_only_channels_that_can_send(tmp_path: Path) -> None:
    unsigned = AlertConfig.from_settings(Settings(data_dir=tmp_path, webhook_url=WEBHOOK))
    assert unsigned.webhook_url is None
    full_settings = Settings(
        data_dir=tmp_path,
        webhook_url=WEBHOOK,
        webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # type: ignore[arg-type]
        smtp_host="127.0.0.1",
        smtp_from="companion@example.org",
        public_url=PUBLIC,
        escalation_after_s=120,
    )
    full = AlertConfig.from_settings(full_settings)
    assert full == AlertConfig(webhook_url=WEBHOOK, email=True, public_url=PUBLIC, escalation_after_s=120)
    assert not AlertConfig.from_settings(Settings(data_dir=tmp_path, smtp_host="127.0.0.1")).email
    login = Settings(data_dir=tmp_path, smtp_host="127.0.0.1", smtp_username="alerts@example.org")
    assert AlertConfig.from_settings(login).email  # the login is the sender, as the e-mail channel does
    # Given the channels the service built, exactly those are planned.
    assert AlertConfig.from_settings(full_settings, channels=["email"]) == AlertConfig(
        email=True, public_url=PUBLIC, escalation_after_s=120
    )


def test_each_recipient_gets_its_own_link_and_nothing_but_the_alert() -> None:
    specs = plan_notices(CRITICAL, THREE, PERSON, CONFIG, 0, new_token=tokens())
    assert [s.recipient.label for s in specs] == [FAMILY_SERVICE, "Dana"]
    assert [s.ack_token for s in specs] == ["tok-0001-abcdefghijkl", "tok-0002-abcdefghijkl"]
    assert specs[1].payload == {
        "type": "alert.created",
        "alertId": "alert-1",
        "person": {"id": "user-rivka-001", "name": "Rivka Levi", "gender": "female"},
        "severity": "critical",
        "summary": "I fell in the kitchen",
        "createdAt": "2026-03-01T09:00:00+00:00",
        "timezone": "Asia/Jerusalem",
        "language": "en",
        "stage": 0,
        "ackUrl": f"{PUBLIC}/ack/tok-0002-abcdefghijkl",
    }
    escalated = plan_notices(CRITICAL, THREE, PERSON, CONFIG, 1, new_token=tokens("esc"))
    assert escalated[0].payload["type"] == "alert.escalated" and escalated[0].payload["stage"] == 1
    sent = json.dumps([s.payload for s in specs + escalated])
    for private in ("Aricept", "050", "+972", "dana@", "yossi@", "daughter"):
        assert private not in sent
    assert "tok-" not in repr(specs)  # the raw token stays out of reprs (logs)


def test_without_a_public_address_messages_carry_no_link_and_no_token() -> None:
    config = AlertConfig(webhook_url=WEBHOOK, email=True, public_url=None)
    specs = plan_notices(HIGH, THREE, PERSON, config, 0, new_token=tokens())
    assert specs and all(s.payload["ackUrl"] is None and s.ack_token is None for s in specs)


def test_addresses_are_masked_for_the_dashboard() -> None:
    assert mask_address("email", "dana@example.com") == "d***@example.com"
    assert mask_address("webhook", WEBHOOK) == "hooks.example.net/…"
    assert mask_address("email", "nonsense") == "***"


def _job(contact_name: str | None, channel: str) -> JobRecord:
    return JobRecord(
        id="job-1",
        user_id="u",
        alert_id="alert-1",
        stage=0,
        channel=channel,  # type: ignore[arg-type]
        address="x",
        contact=contact_name,
        payload={},
        status="pending",
        attempts=0,
        next_attempt_at=T0,
        created_at=T0,
    )


def test_the_model_is_told_exactly_who_was_queued_a_message() -> None:
    answer = alert_answer("alert-1", [_job(None, "webhook"), _job("Dana", "email")])
    assert answer["ok"] is True and answer["alertId"] == "alert-1"
    assert answer["notified"] == [
        {"name": "family service", "channel": "webhook", "status": "queued"},
        {"name": "Dana", "channel": "email", "status": "queued"},
    ]
    assert "family service, Dana" in answer["message"]
    assert "Do not promise that anyone is coming" in answer["message"]


def test_when_no_one_could_be_told_the_model_hears_so() -> None:
    assert alert_answer("alert-1", []) == {
        "ok": True,
        "alertId": "alert-1",
        "notified": [],
        "message": "The alert is recorded on the family's dashboard, but no one was sent a message. "
        "Do not say anyone is coming.",
    }
    assert NOBODY_TOLD.endswith("Do not say anyone is coming.")
