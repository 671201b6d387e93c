"""The alerts API: each alert with its deliveries (masked addresses, every attempt), acknowledging and
resolving, and who may do either."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from companion.app import create_app
from companion.settings import Settings
from tests.api import payloads
from tests.api.conftest import ADMIN, Api

PERSON = "user-rivka"
OTHER = "user-other"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks specification's example


def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        admin_token=ADMIN,
        webhook_url="http://127.0.0.1:9/family",  # nothing listens: deliveries only ever retry
        webhook_secret=SECRET,  # type: ignore[arg-type]
        smtp_host="127.0.0.1",
        smtp_port=9,
        smtp_from="companion@example.org",
        smtp_tls="none",
        public_url="https://care.example.org",
    )


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    app = create_app(settings(tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(app, client)


@pytest.fixture
async def world(api: Api) -> dict[str, str]:
    for user in (PERSON, OTHER):
        assert (await api.admin("POST", "/api/users", json={"userId": user})).status_code == 201
    safety = payloads.safety()
    safety["emergencyContacts"] = [
        {"name": "Dana", "relationship": "daughter", "phone": "050-123-4567", "email": "dana@example.com"},
        {"name": "Yossi", "relationship": "son", "phone": "050-765-4321", "email": "yossi@example.com"},
    ]
    assert (await api.admin("PUT", f"/api/users/{PERSON}/safety", json=safety)).status_code == 200
    me = await api.caregiver("alice", [PERSON])
    device = await api.admin("POST", "/api/tokens", json={"role": "device", "userId": PERSON})
    return {"me": me, "device": device.json()["token"]}


async def test_alerts_come_with_their_deliveries(api: Api, world: dict[str, str]) -> None:
    alert, jobs = await api.services.alerts.record(
        PERSON, {"severity": "critical", "summary": "נפלתי במטבח"}, session_id=None
    )
    assert [j.contact for j in jobs] == [None, "Dana"]  # critical: the service, then the first contact
    r = await api.client.get(f"/api/users/{PERSON}/alerts", headers=api.auth(world["me"]))
    assert r.status_code == 200
    [shown] = r.json()["alerts"]
    assert shown["id"] == alert.id and shown["acknowledgedAt"] is None and shown["stage"] == 0
    deliveries = shown["deliveries"]
    assert [(d["channel"], d["to"], d["address"], d["stage"]) for d in deliveries] == [
        ("webhook", "family service", "127.0.0.1/…", 0),
        ("email", "Dana", "d***@example.com", 0),
    ]
    assert all(d["status"] in ("pending", "sending") and isinstance(d["attempts"], list) for d in deliveries)
    assert "dana@example.com" not in r.text


async def test_acknowledge_keeps_the_first_and_resolve_implies_it(api: Api, world: dict[str, str]) -> None:
    me = api.auth(world["me"])
    alert, _ = await api.services.alerts.record(
        PERSON, {"severity": "critical", "summary": "x"}, session_id=None
    )
    url = f"/api/users/{PERSON}/alerts/{alert.id}"
    r = await api.client.post(f"{url}/acknowledge", headers=me)
    assert r.status_code == 200, r.text
    first = r.json()["alert"]
    assert first["acknowledgedVia"] == "api" and first["acknowledgedAt"] and first["acknowledgedBy"]
    assert [d["to"] for d in first["deliveries"]] == ["family service", "Dana"]
    again = await api.admin("POST", f"{url}/acknowledge")
    assert again.json()["alert"]["acknowledgedBy"] == first["acknowledgedBy"]

    other, _ = await api.services.alerts.record(PERSON, {"severity": "high", "summary": "y"}, session_id=None)
    r = await api.client.post(f"/api/users/{PERSON}/alerts/{other.id}/resolve", headers=me)
    resolved = r.json()["alert"]
    assert resolved["resolved"] is True and resolved["acknowledgedAt"] == resolved["resolvedAt"]


async def test_who_may_acknowledge(api: Api, world: dict[str, str]) -> None:
    alert, _ = await api.services.alerts.record(PERSON, {"summary": "x"}, session_id=None)
    theirs, _ = await api.services.alerts.record(OTHER, {"summary": "y"}, session_id=None)
    me = api.auth(world["me"])
    r = await api.client.post(f"/api/users/{OTHER}/alerts/{theirs.id}/acknowledge", headers=me)
    assert r.status_code == 404  # another family's person: as if it did not exist
    r = await api.client.post(f"/api/users/{PERSON}/alerts/alert-nope/acknowledge", headers=me)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await api.client.post(
        f"/api/users/{PERSON}/alerts/{alert.id}/acknowledge", headers=api.auth(world["device"])
    )
    assert r.status_code == 403
    assert (await api.services.alerts.get(PERSON, alert.id)).open
