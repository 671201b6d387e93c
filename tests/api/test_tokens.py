"""Tokens expire, are listed without their secrets, and stop working the moment they are revoked."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from companion.auth import Principal, Role
from companion.auth.service import (
    ADMIN_TOKEN_LIFETIME_S,
    CAREGIVER_TOKEN_LIFETIME_S,
    DEVICE_TOKEN_LIFETIME_S,
    MAX_TOKEN_LIFETIME_S,
)
from companion.clock import utcnow
from tests.api.conftest import ADMIN, Api

USER = "user-tok"


@pytest.fixture
async def caregiver_token(api: Api) -> str:
    assert (await api.admin("POST", "/api/users", json={"userId": USER})).status_code == 201
    return await api.caregiver("carol", [USER])


def lifetime(body: dict[str, str]) -> float:
    return (datetime.fromisoformat(body["expires"]) - datetime.fromisoformat(body["created"])).total_seconds()


async def test_each_role_gets_its_default_lifetime_or_the_one_asked_for(
    api: Api, caregiver_token: str
) -> None:
    cid = (await api.admin("GET", "/api/caregivers")).json()["caregivers"][0]["id"]
    admin = (await api.admin("POST", "/api/tokens", json={"role": "admin"})).json()
    care = (await api.admin("POST", "/api/tokens", json={"role": "caregiver", "caregiverId": cid})).json()
    device = (await api.admin("POST", "/api/tokens", json={"role": "device", "userId": USER})).json()
    assert lifetime(admin) == ADMIN_TOKEN_LIFETIME_S == 30 * 86400
    assert lifetime(care) == CAREGIVER_TOKEN_LIFETIME_S == 180 * 86400
    assert lifetime(device) == DEVICE_TOKEN_LIFETIME_S == 365 * 86400

    short = await api.admin("POST", "/api/tokens", json={"role": "admin", "expiresIn": 3600})
    assert short.status_code == 201 and lifetime(short.json()) == 3600
    for bad in (0, 59, MAX_TOKEN_LIFETIME_S + 1, "soon"):
        r = await api.admin("POST", "/api/tokens", json={"role": "admin", "expiresIn": bad})
        assert r.status_code == 422, bad
        assert r.json()["field"] == "expiresIn"


async def test_the_list_shows_every_token_without_its_secret_to_admins_only(
    api: Api, caregiver_token: str
) -> None:
    made = (
        await api.admin("POST", "/api/tokens", json={"role": "device", "userId": USER, "label": "kitchen"})
    ).json()
    r = await api.admin("GET", "/api/tokens")
    assert r.status_code == 200
    tokens = r.json()["tokens"]
    [listed] = [t for t in tokens if t["id"] == made["id"]]
    assert listed == {
        "id": made["id"],
        "role": "device",
        "userId": USER,
        "caregiverId": None,
        "label": "kitchen",
        "created": made["created"],
        "expires": made["expires"],
        "lastUsed": None,
    }
    assert made["token"] not in r.text and "hash" not in r.text
    assert (await api.client.get("/api/tokens", headers=api.auth(caregiver_token))).status_code == 403
    assert (await api.client.get("/api/tokens")).status_code == 401


async def test_a_revoked_token_stops_working_at_once_and_the_revocation_is_audited(
    api: Api, caregiver_token: str
) -> None:
    headers = api.auth(caregiver_token)
    assert (await api.client.get(f"/api/users/{USER}", headers=headers)).status_code == 200  # used: known
    [care] = [t for t in (await api.admin("GET", "/api/tokens")).json()["tokens"] if t["role"] == "caregiver"]

    assert (await api.client.delete(f"/api/tokens/{care['id']}", headers=headers)).status_code == 403
    r = await api.admin("DELETE", f"/api/tokens/{care['id']}")
    assert r.status_code == 204
    refused = await api.client.get(f"/api/users/{USER}", headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]
    assert (await api.admin("DELETE", f"/api/tokens/{care['id']}")).status_code == 404
    assert care["id"] not in {t["id"] for t in (await api.admin("GET", "/api/tokens")).json()["tokens"]}
    [entry] = await api.services.store.audit_entries()
    assert (entry.actor, entry.action, entry.target) == ("bootstrap-admin", "revoke_token", care["id"])


async def test_an_expired_token_is_refused_with_a_clear_message(api: Api, caregiver_token: str) -> None:
    r = await api.admin("POST", "/api/tokens", json={"role": "admin", "expiresIn": 120})
    token = r.json()["token"]
    assert (await api.client.get("/api/tokens", headers=api.auth(token))).status_code == 200
    api.services.auth.clock = lambda: utcnow() + timedelta(seconds=121)
    refused = await api.client.get("/api/tokens", headers=api.auth(token))
    assert refused.status_code == 401
    assert "expired" in refused.json()["message"] and r.json()["expires"][:16] in refused.json()["message"]
    assert (await api.admin("GET", "/api/tokens")).status_code == 200, "the bootstrap admin does not expire"


async def test_last_use_is_recorded_at_most_once_a_minute(
    api: Api, caregiver_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = api.services.store
    writes: list[datetime] = []
    original = store.touch_token

    async def counting(token_id: str, at: datetime, *, not_since: datetime) -> None:
        writes.append(at)
        await original(token_id, at, not_since=not_since)

    monkeypatch.setattr(store, "touch_token", counting)
    now = utcnow()
    api.services.auth.clock = lambda: now
    headers = api.auth(caregiver_token)
    for _ in range(5):
        assert (await api.client.get("/api/users", headers=headers)).status_code == 200
    assert writes == [now], "five requests within a minute: one write"
    later = now + timedelta(seconds=61)
    api.services.auth.clock = lambda: later
    assert (await api.client.get("/api/users", headers=headers)).status_code == 200
    assert writes == [now, later]
    [care] = [t for t in (await api.admin("GET", "/api/tokens")).json()["tokens"] if t["role"] == "caregiver"]
    assert datetime.fromisoformat(care["lastUsed"]) == later


async def test_a_kept_principal_stands_only_while_its_token_or_account_does(
    api: Api, caregiver_token: str
) -> None:
    """What a dashboard session holds is checked again with ``still_valid``: revoked, expired or deleted
    is no longer valid; the bootstrap admin always is."""
    auth = api.services.auth
    kept = await auth.authenticate(caregiver_token)
    assert await auth.still_valid(kept)
    admin = (await api.admin("POST", "/api/tokens", json={"role": "admin", "expiresIn": 120})).json()
    admin_principal = await auth.authenticate(admin["token"])
    assert await auth.still_valid(await auth.authenticate(ADMIN))

    assert (await api.admin("DELETE", f"/api/tokens/{kept.token_id}")).status_code == 204
    assert not await auth.still_valid(kept)
    auth.clock = lambda: utcnow() + timedelta(seconds=121)
    assert not await auth.still_valid(admin_principal)

    cid = (await api.admin("GET", "/api/caregivers")).json()["caregivers"][0]["id"]
    signed_in = Principal(role=Role.CAREGIVER, token_id="dashboard-" + cid, caregiver_id=cid)
    assert await auth.still_valid(signed_in)
    assert (await api.admin("DELETE", f"/api/caregivers/{cid}")).status_code == 204
    assert not await auth.still_valid(signed_in)
