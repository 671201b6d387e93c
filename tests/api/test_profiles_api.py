"""The profile API: sections with ETags, If-Match rules, validation, memories, instructions."""

from __future__ import annotations

import asyncio

import pytest

from tests.api import payloads
from tests.api.conftest import Api

USER = "user-tiferet-001"


async def create_user(api: Api, user: str = USER) -> None:
    r = await api.admin("POST", "/api/users", json={"userId": user})
    assert r.status_code == 201, r.text


async def test_health_reports_store(api: Api) -> None:
    r = await api.admin("GET", "/health")  # the store's details are an operator's
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["store"]["backend"] == "sqlite"
    assert body["store"]["ok"] is True


async def test_no_token_is_401_with_json_error(api: Api) -> None:
    r = await api.client.get(f"/api/users/{USER}")
    assert r.status_code == 401
    assert r.json()["statusCode"] == 401
    assert "token" in r.json()["message"].lower()
    r = await api.client.get(f"/api/users/{USER}", headers=api.auth("nonsense"))
    assert r.status_code == 401


async def test_create_get_and_etag(any_api: Api) -> None:
    api = any_api
    await create_user(api)
    r = await api.admin("PUT", f"/api/users/{USER}/profile", json=payloads.profile())
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"1"'
    assert r.json()["liveSessions"] == {"refreshed": 0, "unchanged": 0, "failed": 0}
    r = await api.admin("GET", f"/api/users/{USER}/profile")
    assert r.status_code == 200
    assert r.headers["etag"] == '"1"'
    assert r.json()["data"]["familyMembers"][0]["phone"] == "+972-50-123-4567"
    r = await api.admin("GET", f"/api/users/{USER}")
    body = r.json()
    assert body["sections"]["profile"]["version"] == 1
    assert body["sections"]["music"] == {"data": None, "version": None, "updatedAt": None}


async def test_update_requires_if_match_and_rejects_stale(api: Api) -> None:
    await create_user(api)
    url = f"/api/users/{USER}/music"
    assert (await api.admin("PUT", url, json=payloads.music("נעמי שמר"))).status_code == 200
    r = await api.admin("PUT", url, json=payloads.music("אריק איינשטיין"))
    assert r.status_code == 428
    assert "If-Match" in r.json()["message"]
    r = await api.admin(
        "PUT", url, json=payloads.music("x"), headers={**api.auth("test-admin-token"), "If-Match": '"7"'}
    )
    assert r.status_code == 412
    assert r.json()["currentVersion"] == 1
    r = await api.admin("GET", url)
    assert r.json()["data"]["preferredArtists"] == ["נעמי שמר"], "a refused save must change nothing"
    r = await api.client.put(
        url,
        json=payloads.music("אריק איינשטיין"),
        headers={**api.auth("test-admin-token"), "If-Match": '"1"'},
    )
    assert r.status_code == 200
    assert r.headers["etag"] == '"2"'


async def test_two_saves_from_the_same_version_one_wins(any_api: Api) -> None:
    api = any_api
    await create_user(api)
    url = f"/api/users/{USER}/music"
    await api.admin("PUT", url, json=payloads.music("A"))
    headers = {**api.auth("test-admin-token"), "If-Match": '"1"'}
    for round_no in range(10):
        headers["If-Match"] = f'"{round_no + 1}"'
        first, second = await asyncio.gather(
            api.client.put(url, json=payloads.music(f"first-{round_no}"), headers=headers),
            api.client.put(url, json=payloads.music(f"second-{round_no}"), headers=headers),
        )
        codes = sorted([first.status_code, second.status_code])
        assert codes == [200, 412], (first.text, second.text)
        winner = first if first.status_code == 200 else second
        stored = (await api.admin("GET", url)).json()["data"]["preferredArtists"]
        assert stored == winner.json()["data"]["preferredArtists"]


@pytest.mark.parametrize(
    ("section", "body", "field"),
    [
        ("profile", {"personalInfo": {"fullName": "x"}}, "personalInfo.gender"),
        ("profile", {"personalInfo": {"fullName": "x", "gender": "other"}}, "personalInfo.gender"),
        ("profile", {"personalInfo": {"fullName": "", "gender": "male"}}, "personalInfo.fullName"),
        ("profile", {"personalInfo": {"fullName": "x" * 81, "gender": "male"}}, "personalInfo.fullName"),
        ("profile", {"personalInfo": {"fullName": "x", "gender": "male", "age": 200}}, "personalInfo.age"),
        (
            "profile",
            {"personalInfo": {"fullName": "x", "gender": "male", "language": "fr"}},
            "personalInfo.language",
        ),
        (
            "profile",
            {"personalInfo": {"fullName": "x", "gender": "male"}, "cognitiveMode": "x"},
            "cognitiveMode",
        ),
        ("profile", {"personalInfo": {"fullName": "x", "gender": "male"}, "isAdmin": True}, "isAdmin"),
        (
            "profile",
            {"personalInfo": {"fullName": "x", "gender": "male"}, "routine": {"wake": "7am"}},
            "routine.wake",
        ),
        (
            "profile",
            {
                "personalInfo": {"fullName": "x", "gender": "male"},
                "familyMembers": [{"name": "a", "relationship": "b", "phone": "12ab"}],
            },
            "familyMembers.0.phone",
        ),
        (
            "safety",
            {"medications": [{"name": "a", "dosage": "1", "times": ["25:00"]}]},
            "medications.0.times.0",
        ),
        ("safety", {"medications": [{"name": "a", "dosage": "1", "times": []}]}, "medications.0.times"),
        (
            "safety",
            {"emergencyContacts": [{"name": "a", "relationship": "b", "phone": "050-123-4567"}] * 4},
            "emergencyContacts",
        ),
        ("safety", {"crisisTriggers": [{"phrase": "x", "severity": "low"}]}, "crisisTriggers.0.severity"),
        ("music", {"maxSongsPerSession": 6}, "maxSongsPerSession"),
        ("music", {"preferredArtists": ["a"] * 31}, "preferredArtists"),
        ("music", {"enabled": "maybe"}, "enabled"),
    ],
)
async def test_field_validation_is_a_clear_422(
    api: Api, section: str, body: dict[str, object], field: str
) -> None:
    await create_user(api)
    r = await api.admin("PUT", f"/api/users/{USER}/{section}", json=body)
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["statusCode"] == 422
    assert err["field"] == field
    assert field in err["message"]
    assert (await api.admin("GET", f"/api/users/{USER}/{section}")).status_code == 404, "nothing was stored"


async def test_non_object_body_and_unknown_section(api: Api) -> None:
    await create_user(api)
    r = await api.admin("PUT", f"/api/users/{USER}/music", json=["a"])
    assert r.status_code == 422
    r = await api.admin("PUT", f"/api/users/{USER}/secrets", json={})
    assert r.status_code == 404  # no such address: only the sections are paths of this shape
    assert r.json()["statusCode"] == 404


async def test_unknown_user_is_404(api: Api) -> None:
    r = await api.admin("GET", "/api/users/nobody")
    assert r.status_code == 404
    assert r.json()["message"] == "User nobody not found"
    r = await api.admin("PUT", "/api/users/nobody/music", json=payloads.music("A"))
    assert r.status_code == 404


async def test_duplicate_user_is_409(api: Api) -> None:
    await create_user(api)
    r = await api.admin("POST", "/api/users", json={"userId": USER})
    assert r.status_code == 409
    r = await api.admin("POST", "/api/users", json={"userId": "bad id!"})
    assert r.status_code == 422
    assert r.json()["field"] == "userId"


async def test_memories_add_list_delete(api: Api) -> None:
    await create_user(api)
    url = f"/api/users/{USER}/memories"
    r = await api.admin("POST", url, json={"text": "נולד בחיפה", "type": "life-story", "importance": 4})
    assert r.status_code == 201, r.text
    memory = r.json()["memory"]
    assert memory["source"] == "caregiver"
    assert memory["id"].startswith("mem-")
    r = await api.admin("POST", url, json={"text": "x", "importance": 9})
    assert r.status_code == 422
    assert r.json()["field"] == "importance"
    r = await api.admin("POST", url, json={"text": "x", "id": "forged"})
    assert r.status_code == 422
    assert [m["text"] for m in (await api.admin("GET", url)).json()["memories"]] == ["נולד בחיפה"]
    assert (await api.admin("DELETE", f"{url}/{memory['id']}")).status_code == 200
    assert (await api.admin("DELETE", f"{url}/{memory['id']}")).status_code == 404
    assert (await api.admin("GET", url)).json()["memories"] == []


async def test_instructions_endpoint(api: Api) -> None:
    await create_user(api)
    await api.admin("PUT", f"/api/users/{USER}/profile", json=payloads.profile())
    await api.admin("PUT", f"/api/users/{USER}/music", json=payloads.music("נעמי שמר", "אריק איינשטיין"))
    r = await api.admin("GET", f"/api/users/{USER}/instructions")
    assert r.status_code == 200
    body = r.json()
    assert body["language"] == "he"
    assert "«נעמי שמר»" in body["text"]
    assert body["tokensEstimate"] > 0
    names = [s["name"] for s in body["sections"]]
    assert "music" in names and "identity" in names
    again = (await api.admin("GET", f"/api/users/{USER}/instructions")).json()
    assert again["version"] == body["version"]


async def test_save_publishes_profile_changed(api: Api) -> None:
    from companion.events import ProfileChanged, RefreshCounts

    seen: list[ProfileChanged] = []

    async def handler(event: ProfileChanged) -> RefreshCounts:
        seen.append(event)
        return RefreshCounts(refreshed=2)

    api.services.bus.subscribe(handler)
    await create_user(api)
    r = await api.admin("PUT", f"/api/users/{USER}/music", json=payloads.music("A"))
    assert r.json()["liveSessions"] == {"refreshed": 2, "unchanged": 0, "failed": 0}
    assert seen == [ProfileChanged(USER, ("music",), 1)]
