"""Alerts raised by conversations (the ``alert_family`` tool): recorded, listed newest first, resolved."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import StringConstraints, ValidationError

from companion.errors import NotFound
from companion.profiles.models import MEDIUM_TEXT, Model, Severity
from companion.profiles.service import validation_error
from companion.store import DocumentStore

ALERT_KIND = "alert"


class Alert(Model):
    id: str
    severity: Severity
    summary: Annotated[str, StringConstraints(max_length=MEDIUM_TEXT)]
    rule: Annotated[str, StringConstraints(max_length=MEDIUM_TEXT)] = ""
    session_id: str | None = None
    created_at: datetime
    resolved: bool = False
    resolved_at: datetime | None = None
    resolved_by: str | None = None


class AlertInput(Model):
    severity: Severity = Severity.HIGH
    summary: Annotated[str, StringConstraints(min_length=1, max_length=MEDIUM_TEXT)]
    rule: Annotated[str, StringConstraints(max_length=MEDIUM_TEXT)] = ""


class AlertService:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def record(self, user_id: str, body: dict[str, Any], *, session_id: str | None) -> Alert:
        try:
            data = AlertInput.model_validate(body)
        except ValidationError as exc:
            raise validation_error(exc) from None
        alert = Alert(
            id="alert-" + uuid.uuid4().hex[:12],
            severity=data.severity,
            summary=data.summary,
            rule=data.rule,
            session_id=session_id,
            created_at=datetime.now(UTC),
        )
        await self._store.put(
            user_id, ALERT_KIND, alert.id, alert.model_dump(mode="json", by_alias=True), expected_version=None
        )
        return alert

    async def list(self, user_id: str) -> list[Alert]:
        alerts = [Alert.model_validate(d.body) for d in await self._store.list(user_id, ALERT_KIND)]
        return sorted(alerts, key=lambda a: (a.created_at, a.id), reverse=True)

    async def resolve(self, user_id: str, alert_id: str, *, by: str) -> Alert:
        doc = await self._store.get(user_id, ALERT_KIND, alert_id)
        if doc is None:
            raise NotFound(f"Alert {alert_id} not found")
        alert = Alert.model_validate(doc.body)
        if alert.resolved:
            return alert
        alert = alert.model_copy(
            update={"resolved": True, "resolved_at": datetime.now(UTC), "resolved_by": by}
        )
        await self._store.put(
            user_id,
            ALERT_KIND,
            alert_id,
            alert.model_dump(mode="json", by_alias=True),
            expected_version=doc.version,
        )
        return alert
