"""Who may see and change what: the authorization matrix."""

from __future__ import annotations

import pytest

from tests.api import payloads
from tests.api.conftest import Api

MINE = "user-mine"
THEIRS = "user-theirs"


@pytest.fixture
async def world(api: Api) -> dict[str, str]:
    for user in (MINE, THEIRS):
        assert (await api.admin("POST", "/api/users", json={"userId": user})).status_code == 201
        r = await api.admin("PUT", f"/api/users/{user}/music", json=payloads.music("A"))
        assert r.status_code == 200
    me = await api.caregiver("alice", [MINE])
    r = await api.admin("POST", "/api/tokens", json={"role": "device", "userId": MINE})
    return {"me": me, "device": r.json()["token"]}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/users/{u}", None),
        ("GET", "/api/users/{u}/music", None),
        ("PUT", "/api/users/{u}/music", payloads.music("B")),
        ("GET", "/api/users/{u}/memories", None),
        ("POST", "/api/users/{u}/memories", {"text": "x"}),
        ("DELETE", "/api/users/{u}/memories/mem-x", None),
        ("GET", "/api/users/{u}/instructions", None),
    ],
)
async def test_caregiver_cannot_detect_another_caregivers_user(
    api: Api, world: dict[str, str], method: str, path: str, body: object
) -> None:
    headers = {**api.auth(world["me"]), "If-Match": '"1"'}
    theirs = await api.client.request(method, path.format(u=THEIRS), json=body, headers=headers)
    missing = await api.client.request(method, path.format(u="user-nobody"), json=body, headers=headers)
    assert theirs.status_code == 404
    assert theirs.json()["message"] == f"User {THEIRS} not found"
    assert missing.status_code == 404
    # the answer for another family's person has the same shape as for no person at all
    assert theirs.json()["message"].replace(THEIRS, "X") == missing.json()["message"].replace(
        "user-nobody", "X"
    )
    r = await api.admin("GET", f"/api/users/{THEIRS}/music")
    assert r.json()["data"]["preferredArtists"] == ["A"] and r.json()["version"] == 1


async def test_caregiver_reads_and_writes_own_user(api: Api, world: dict[str, str]) -> None:
    headers = api.auth(world["me"])
    assert (await api.client.get(f"/api/users/{MINE}", headers=headers)).status_code == 200
    r = await api.client.put(
        f"/api/users/{MINE}/music", json=payloads.music("B"), headers={**headers, "If-Match": '"1"'}
    )
    assert r.status_code == 200
    assert (await api.client.get("/api/users", headers=headers)).json() == {"users": [MINE]}


async def test_caregiver_creating_a_person_is_assigned_to_it(api: Api, world: dict[str, str]) -> None:
    headers = api.auth(world["me"])
    assert (
        await api.client.post("/api/users", json={"userId": "user-new"}, headers=headers)
    ).status_code == 201
    assert (await api.client.get("/api/users", headers=headers)).json() == {"users": [MINE, "user-new"]}


async def test_device_token_cannot_read_profiles(api: Api, world: dict[str, str]) -> None:
    r = await api.client.get(f"/api/users/{MINE}", headers=api.auth(world["device"]))
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/tokens", {"role": "admin"}),
        ("/api/caregivers", {"name": "x", "username": "xyz", "password": "long-enough-1"}),
        ("/api/caregivers/cg-x/users/user-mine", None),
    ],
)
async def test_admin_only_routes(api: Api, world: dict[str, str], path: str, body: object) -> None:
    for token in (world["me"], world["device"]):
        r = await api.client.post(path, json=body, headers=api.auth(token))
        assert r.status_code == 403, (path, r.text)


async def test_tokens_are_stored_hashed_and_shown_once(api: Api) -> None:
    r = await api.admin("POST", "/api/tokens", json={"role": "admin", "label": "ops"})
    assert r.status_code == 201
    token = r.json()["token"]
    records = await api.services.store.list_tokens()
    assert all(token not in (rec.token_hash or "") for rec in records)
    assert (await api.client.get("/api/users", headers=api.auth(token))).status_code == 200


async def test_token_validation(api: Api) -> None:
    r = await api.admin("POST", "/api/tokens", json={"role": "device"})
    assert r.status_code == 422 and r.json()["field"] == "userId"
    r = await api.admin("POST", "/api/tokens", json={"role": "device", "userId": "user-ghost"})
    assert r.status_code == 404
    r = await api.admin("POST", "/api/tokens", json={"role": "root"})
    assert r.status_code == 422 and r.json()["field"] == "role"


async def test_caregiver_passwords_hashed_with_argon2(api: Api) -> None:
    r = await api.admin(
        "POST", "/api/caregivers", json={"name": "B", "username": "bob", "password": "s3cret-pass"}
    )
    assert r.status_code == 201
    assert "password" not in r.json()
    record = await api.services.store.find_caregiver_by_username("bob")
    assert record is not None and record.password_hash.startswith("$argon2")
    assert await api.services.auth.verify_caregiver("bob", "s3cret-pass") is not None
    assert await api.services.auth.verify_caregiver("bob", "wrong-pass") is None
    r = await api.admin(
        "POST", "/api/caregivers", json={"name": "B", "username": "bob", "password": "s3cret-pass"}
    )
    assert r.status_code == 409
    r = await api.admin("POST", "/api/caregivers", json={"name": "B", "username": "bo", "password": "short"})
    assert r.status_code == 422
