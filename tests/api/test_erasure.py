"""Erasing a person (admins, or their own caregivers) and a caregiver account (admins) through the API."""

from __future__ import annotations

import pytest

from companion.prompt.draft import clean_all
from companion.realtime.protocol import _json_string, instructions_update_frame
from tests.api import payloads
from tests.api.conftest import Api

GONE = "user-gone"
KEPT = "user-kept"


@pytest.fixture
async def world(any_api: Api) -> dict[str, str]:
    api = any_api
    for user in (GONE, KEPT):
        assert (await api.admin("POST", "/api/users", json={"userId": user})).status_code == 201
        assert (
            await api.admin("PUT", f"/api/users/{user}/music", json=payloads.music("A"))
        ).status_code == 200
        r = await api.admin("POST", f"/api/users/{user}/memories", json={"text": "likes tea"})
        assert r.status_code == 201
        assert (await api.admin("POST", f"/api/users/{user}/pairings")).status_code == 201
    mine = await api.caregiver("alice", [GONE])
    other = await api.caregiver("bob", [KEPT])
    device = await api.admin("POST", "/api/tokens", json={"role": "device", "userId": GONE})
    kept_device = await api.admin("POST", "/api/tokens", json={"role": "device", "userId": KEPT})
    return {
        "mine": mine,
        "other": other,
        "device": device.json()["token"],
        "kept_device": kept_device.json()["token"],
    }


async def test_an_admin_erases_a_person_and_everything_about_them(
    any_api: Api, world: dict[str, str]
) -> None:
    api = any_api
    kept_before = (await api.admin("GET", f"/api/users/{KEPT}")).json()

    assert (await api.admin("DELETE", f"/api/users/{GONE}")).status_code == 204

    assert (await api.admin("GET", f"/api/users/{GONE}")).status_code == 404
    assert GONE not in (await api.admin("GET", "/api/users")).json()["users"]
    assert await api.services.store.load_user(GONE) == []
    assert (await api.client.get("/api/users", headers=api.auth(world["device"]))).status_code == 401
    assert (await api.client.get(f"/api/users/{GONE}", headers=api.auth(world["mine"]))).status_code == 404
    assert (await api.admin("GET", f"/api/users/{KEPT}")).json() == kept_before, "nothing else is lost"
    assert (await api.client.get("/api/users", headers=api.auth(world["kept_device"]))).status_code == 403
    [entry] = await api.services.store.audit_entries()
    assert (entry.actor, entry.action, entry.target) == ("bootstrap-admin", "erase_person", GONE)
    assert "tea" not in repr(entry)
    assert (await api.admin("DELETE", f"/api/users/{GONE}")).status_code == 404, "already erased"


async def test_a_caregiver_erases_their_own_person_only(any_api: Api, world: dict[str, str]) -> None:
    api = any_api
    theirs = await api.client.delete(f"/api/users/{KEPT}", headers=api.auth(world["mine"]))
    assert theirs.status_code == 404 and theirs.json()["message"] == f"User {KEPT} not found"
    assert (await api.admin("GET", f"/api/users/{KEPT}")).status_code == 200
    device = await api.client.delete(f"/api/users/{GONE}", headers=api.auth(world["device"]))
    assert device.status_code == 403

    assert (await api.client.delete(f"/api/users/{GONE}", headers=api.auth(world["mine"]))).status_code == 204
    assert (await api.admin("GET", f"/api/users/{GONE}")).status_code == 404
    [entry] = await api.services.store.audit_entries()
    cid = {c["username"]: c["id"] for c in (await api.admin("GET", "/api/caregivers")).json()["caregivers"]}
    assert (entry.actor, entry.target) == (cid["alice"], GONE), "a caregiver is audited by their account"


async def test_erasing_an_unknown_person_is_404(any_api: Api) -> None:
    r = await any_api.admin("DELETE", "/api/users/user-nobody")
    assert r.status_code == 404 and r.json()["message"] == "User user-nobody not found"


async def test_an_admin_deletes_a_caregiver_account(any_api: Api, world: dict[str, str]) -> None:
    api = any_api
    caregivers = {c["username"]: c for c in (await api.admin("GET", "/api/caregivers")).json()["caregivers"]}
    alice = caregivers["alice"]["id"]
    bob_refused = await api.client.delete(f"/api/caregivers/{alice}", headers=api.auth(world["other"]))
    assert bob_refused.status_code == 403

    assert (await api.admin("DELETE", f"/api/caregivers/{alice}")).status_code == 204

    assert (await api.client.get("/api/users", headers=api.auth(world["mine"]))).status_code == 401
    left = (await api.admin("GET", "/api/caregivers")).json()["caregivers"]
    assert [c["username"] for c in left] == ["bob"] and left[0]["users"] == [KEPT]
    assert (await api.admin("GET", f"/api/users/{GONE}")).status_code == 200, "their person stays"
    assert (await api.admin("DELETE", f"/api/caregivers/{alice}")).status_code == 404
    [entry] = await api.services.store.audit_entries()
    assert (entry.action, entry.target) == ("erase_caregiver", alice)


async def test_a_caregiver_is_created_with_their_people_or_not_at_all(
    any_api: Api, world: dict[str, str]
) -> None:
    api = any_api
    body = {"name": "Cy", "username": "cyd", "password": "long-enough-1"}
    r = await api.admin("POST", "/api/caregivers", json={**body, "users": [KEPT, "user-ghost"]})
    assert r.status_code == 404, r.text
    assert "cyd" not in {
        c["username"] for c in (await api.admin("GET", "/api/caregivers")).json()["caregivers"]
    }
    r = await api.admin("POST", "/api/caregivers", json={**body, "users": [KEPT]})
    assert r.status_code == 201 and r.json()["users"] == [KEPT]


async def test_an_erasure_empties_the_caches_that_held_the_person(api: Api) -> None:
    """The reminder service's person cache and the prompt's text caches (keyed by text, so emptied
    whole) keep nothing of an erased person; a person who was not erased is simply read again."""
    services = api.services
    assert services.reminders is not None
    for user in (GONE, KEPT):
        assert (await api.admin("POST", "/api/users", json={"userId": user})).status_code == 201
        assert (
            await api.admin("POST", f"/api/users/{user}/memories", json={"text": "tea"})
        ).status_code == 201
        await services.reminders.person(user)
    await services.instructions(GONE)
    instructions_update_frame("e1", "instructions with the person's profile")
    assert clean_all.cache_info().currsize > 0 and _json_string.cache_info().currsize > 0
    assert GONE in services.reminders._people

    assert (await api.admin("DELETE", f"/api/users/{GONE}")).status_code == 204

    assert GONE not in services.reminders._people and KEPT in services.reminders._people
    assert clean_all.cache_info().currsize == 0
    assert _json_string.cache_info().currsize == 0
