"""Who is told about an alert, in what order, and exactly what they are sent. Pure: no I/O, no clock.

The rules, as the family sees them:

- **The family's service** (the webhook, when the service has one configured with its secret) hears of
  every alert at once, at stage 0. It is one address, and one address is told about an alert at most
  once, so it is not told again when an alert escalates; its acknowledgement link works for the whole
  alert.
- **High and medium alerts** go at once (stage 0) to every emergency contact with an e-mail address
  whose ``notifyFor`` lists the alert's severity. They do not escalate.
- **Critical alerts** go down the contact list instead of to everyone at once, as the issue asks ("not
  acknowledged within a set time goes to the next contact, then to all"). The order is: the first
  contact with an e-mail address (always, whatever their ``notifyFor`` says: the profile promises that
  a critical alert reaches the first contact), then the other contacts with an e-mail address whose
  ``notifyFor`` lists ``critical``, in the order the family listed them. Stage 0 is the first of them,
  stage 1 the next one, stage 2 everyone left. A contact who took ``critical`` off their list is never
  e-mailed about a critical alert: the family decided who is called on, and an e-mail nobody reads
  helps no one. Escalation stops once someone acknowledges (or resolves) the alert.

The payload is the same for every channel and carries only what a receiver needs to act: who (id,
name, and gender, which Hebrew text about the person needs), how serious, what was said (the alert's
summary), when, and where to acknowledge. Nothing else from the profile (no medication, memories or
contacts' details).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from companion.edge import public_base_url
from companion.profiles.models import EmergencyContact, Severity

Channel = Literal["webhook", "email"]
EventType = Literal["alert.created", "alert.escalated"]

FAMILY_SERVICE: Final = "family service"  # how the webhook is named to the model and on the dashboard
SINGLE_STEPS: Final = 2  # critical: stages 0 and 1 reach one contact each; stage 2 all the others


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """The service-wide half of the rules (the per-person half is the profile's safety section)."""

    webhook_url: str | None = None  # only when its signing secret is configured too
    email: bool = False  # an SMTP server and a sender address are configured
    public_url: str | None = None  # edge.public_base_url; without it messages carry no ack link
    escalation_after_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Any, channels: Collection[str] | None = None) -> AlertConfig:
        """From ``companion.settings.Settings``. Pass the names of the channels the service actually
        built (``care.channels.channels_from_settings``) so that only those are planned; without them
        the settings are read the way that function reads them."""
        if channels is None:
            sender = settings.smtp_from or (settings.smtp_username and "@" in settings.smtp_username)
            signed = bool(settings.webhook_url) and settings.webhook_secret is not None
            channels = [
                name for name, on in (("webhook", signed), ("email", settings.smtp_host and sender)) if on
            ]
        return cls(
            webhook_url=settings.webhook_url if "webhook" in channels else None,
            email="email" in channels,
            public_url=public_base_url(settings),
            escalation_after_s=float(settings.escalation_after_s),
        )


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What of the alert itself is sent (the ``Alert`` document has more)."""

    id: str
    severity: Severity
    summary: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Person:
    """Who the alert is about, as the family's messages name them."""

    id: str
    name: str
    language: str = "he"
    timezone: str = "Asia/Jerusalem"
    gender: str | None = None  # "male" / "female": Hebrew messages inflect what the person did


@dataclass(frozen=True, slots=True)
class Recipient:
    channel: Channel
    address: str
    contact: str | None  # the contact's name; None for the family's service (the webhook)

    @property
    def label(self) -> str:
        return self.contact or FAMILY_SERVICE


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One message to queue: a recipient, the stage it belongs to, and the exact payload.

    ``ack_token`` is the raw acknowledgement token in the payload's link; the caller stores only its
    hash. It is kept out of the repr, which may reach a log.
    """

    stage: int
    recipient: Recipient
    payload: dict[str, Any] = field(repr=False)
    ack_token: str | None = field(default=None, repr=False)


def _with_email(contacts: Sequence[EmergencyContact]) -> list[EmergencyContact]:
    return [c for c in contacts if c.email]


def _email(contact: EmergencyContact) -> Recipient:
    assert contact.email is not None
    return Recipient("email", contact.email, contact.name)


def critical_order(contacts: Sequence[EmergencyContact]) -> list[EmergencyContact]:
    """Who is called on for a critical alert, in order (see the module's docstring)."""
    reachable = _with_email(contacts)
    if not reachable:
        return []
    first, rest = reachable[0], reachable[1:]
    return [first, *(c for c in rest if Severity.CRITICAL in c.notify_for)]


def critical_stages(contacts: Sequence[EmergencyContact]) -> list[list[EmergencyContact]]:
    """The contacts of each stage of a critical alert: one, the next one, then all the others."""
    order = critical_order(contacts)
    stages = [[c] for c in order[:SINGLE_STEPS]]
    if order[SINGLE_STEPS:]:
        stages.append(order[SINGLE_STEPS:])
    return stages


def recipients(
    severity: Severity, contacts: Sequence[EmergencyContact], config: AlertConfig, stage: int
) -> list[Recipient]:
    """Who gets a message at ``stage`` (empty when that stage reaches no one)."""
    found: list[Recipient] = []
    if stage == 0 and config.webhook_url:
        found.append(Recipient("webhook", config.webhook_url, None))
    if not config.email:
        return found
    if severity is Severity.CRITICAL:
        stages = critical_stages(contacts)
        if stage < len(stages):
            found.extend(_email(c) for c in stages[stage])
    elif stage == 0:
        found.extend(_email(c) for c in _with_email(contacts) if severity in c.notify_for)
    return _unique(found)


def last_stage(severity: Severity, contacts: Sequence[EmergencyContact], config: AlertConfig) -> int:
    """The highest stage that reaches anyone (0 when the alert never escalates)."""
    if severity is not Severity.CRITICAL or not config.email:
        return 0
    return max(0, len(critical_stages(contacts)) - 1)


def _unique(found: list[Recipient]) -> list[Recipient]:
    """One message per address: two contacts sharing an address get one (the outbox would refuse two)."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for r in found:
        key = (r.channel, r.address.casefold())
        if key not in seen:
            seen.add(key)
            kept.append(r)
    return kept


def ack_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/ack/{token}"


def payload(alert: AlertFacts, person: Person, stage: int, *, ack_link: str | None) -> dict[str, Any]:
    """Exactly what one recipient is sent (JSON-ready)."""
    event: EventType = "alert.created" if stage == 0 else "alert.escalated"
    return {
        "type": event,
        "alertId": alert.id,
        "person": {"id": person.id, "name": person.name, "gender": person.gender},
        "severity": alert.severity.value,
        "summary": alert.summary,
        "createdAt": alert.created_at.isoformat(),
        "timezone": person.timezone,
        "language": person.language,
        "stage": stage,
        "ackUrl": ack_link,
    }


def plan_notices(
    alert: AlertFacts,
    contacts: Sequence[EmergencyContact],
    person: Person,
    config: AlertConfig,
    stage: int,
    *,
    new_token: Callable[[], str],
) -> list[JobSpec]:
    """The messages to queue for ``stage`` of ``alert``, each with its own acknowledgement link when
    the service knows its public address. ``new_token`` makes one random token per recipient."""
    planned = []
    for recipient in recipients(alert.severity, contacts, config, stage):
        token = new_token() if config.public_url else None
        link = ack_url(config.public_url, token) if config.public_url and token else None
        planned.append(JobSpec(stage, recipient, payload(alert, person, stage, ack_link=link), token))
    return planned


def mask_address(channel: str, address: str) -> str:
    """An address as the dashboard shows it: ``d***@example.com``; a webhook by its host only (its
    path may hold the receiver's own secret)."""
    if channel == "email":
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}" if domain else "***"
    host = urlsplit(address).hostname
    return f"{host}/…" if host else "***"
