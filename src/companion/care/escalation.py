"""Escalation: a critical alert nobody acknowledged goes to the next contact, then to all the others.

``next_stage`` decides, from plain data, whether an alert is due for its next stage; who a stage
reaches is ``care.alerting``'s rule (first contact, next contact, everyone left). The wait is the
person's ``safety.escalationMinutes`` when the family set it, else the service's
``escalation_after_s``, and runs from the moment the previous stage was queued (not delivered: a
message that cannot be delivered is one more reason to try the next person).

``EscalationService.tick(now)`` is called by the care loop every second; it looks at the store every
``SCAN_INTERVAL_S``. Every step is idempotent and safe on several instances at once: the outbox takes
one message per address per alert, and an alert moves to a stage once (compare-and-swap). State lives
in the alert document, so a restart loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from pydantic import ValidationError

from companion.care.alerting import AlertConfig, last_stage
from companion.care.alerts import Alert, AlertService
from companion.errors import CompanionError
from companion.profiles.models import CareContext, EmergencyContact, Safety, Severity

log = logging.getLogger(__name__)

SCAN_INTERVAL_S: Final = 15.0  # waits are counted in minutes (one at least); a quarter-minute late is
# within that, and the scan reads every person's alerts, so not every second


def escalation_after(safety: Safety, config: AlertConfig) -> timedelta:
    if safety.escalation_minutes is not None:
        return timedelta(minutes=safety.escalation_minutes)
    return timedelta(seconds=config.escalation_after_s)


def next_stage(
    alert: Alert,
    now: datetime,
    contacts: Sequence[EmergencyContact],
    after: timedelta,
    config: AlertConfig,
) -> int | None:
    """The stage to queue now, or None: not critical, acknowledged or resolved, brought over from the
    seed system (never sent from here), not yet time (the wait runs from ``alert.stage_at``, the time
    the current stage was queued), or no one left to tell."""
    if alert.severity is not Severity.CRITICAL or not alert.open or alert.imported_at is not None:
        return None
    started = alert.stage_at or alert.created_at
    if now - started < after:
        return None
    following = alert.stage + 1
    return following if following <= last_stage(alert.severity, contacts, config) else None


class EscalationService:
    def __init__(self, alerts: AlertService, *, scan_interval_s: float = SCAN_INTERVAL_S) -> None:
        self._alerts = alerts
        self._interval = timedelta(seconds=scan_interval_s)
        self._next_scan: datetime | None = None

    async def tick(self, now: datetime) -> int:
        """Queue every stage that is due; returns how many messages were new. A scan is skipped until
        ``SCAN_INTERVAL_S`` after the previous one."""
        if self._next_scan is not None and now < self._next_scan:
            return 0
        self._next_scan = now + self._interval
        return await self.scan(now)

    async def scan(self, now: datetime) -> int:
        """One query for every person's open critical alerts (asking each person in turn cost a query
        per registered person every scan), then each waiting person's next stages."""
        added = 0
        for user_id, waiting in (await self._alerts.open_critical()).items():
            try:
                added += await self._escalate_user(user_id, waiting, now)
            except (CompanionError, ValidationError) as exc:
                # One person's bad data must not stop the others; say which person, never the data.
                log.warning("escalation for user %s failed: %s", user_id, type(exc).__name__)
        return added

    async def _escalate_user(self, user_id: str, waiting: list[Alert], now: datetime) -> int:
        context: CareContext = await self._alerts.context(user_id)
        contacts = context.safety.emergency_contacts
        after = escalation_after(context.safety, self._alerts.config)
        added = 0
        for alert in waiting:
            stage = next_stage(alert, now, contacts, after, self._alerts.config)
            if stage is not None:
                new = await self._alerts.queue_stage(user_id, alert.id, stage, context, now)
                log.info("alert %s of user %s: stage %d queued (%d new)", alert.id, user_id, stage, new)
                added += new
        return added
