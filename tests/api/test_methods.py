"""The routes answer as the API document lists them: a path it lists with a method it does not is 405
with an ``Allow`` that names every method of that path; a path it does not list is 404. Before, the
section route ``/api/users/{user_id}/{section}`` took any last segment, so ``PUT .../alerts`` reached it
and answered 422 for its body instead of 405."""

from __future__ import annotations

from typing import Final

import httpx
import pytest

from companion.profiles.models import SECTIONS
from tests.api import payloads
from tests.api.conftest import Api

USER: Final = "user-methods-1"


@pytest.fixture
async def person(api: Api) -> Api:
    assert (await api.admin("POST", "/api/users", json={"userId": USER})).status_code == 201
    return api


def allow(response: httpx.Response) -> set[str]:
    header = response.headers.get("allow", "")
    return {method.strip() for method in header.split(",") if method.strip()}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", f"/api/users/{USER}/alerts", {"GET"}),
        ("DELETE", f"/api/users/{USER}/profile", {"GET", "PUT"}),
        ("OPTIONS", f"/api/users/{USER}/music", {"GET", "PUT"}),
        ("PUT", f"/api/users/{USER}/memories", {"GET", "POST"}),
        ("PUT", f"/api/users/{USER}/devices", {"GET"}),
        ("PUT", f"/api/users/{USER}/instructions", {"GET"}),
        ("POST", f"/api/users/{USER}", {"GET", "DELETE"}),
        ("OPTIONS", "/api/users", {"GET", "POST"}),
        ("GET", "/app/session", {"POST"}),
    ],
)
async def test_a_method_the_path_lacks_is_405_naming_every_method_it_has(
    person: Api, method: str, path: str, allowed: set[str]
) -> None:
    r = await person.admin(method, path, json={})
    assert r.status_code == 405, r.text
    assert allow(r) == allowed
    assert r.json()["statusCode"] == 405 and r.json()["error"] == "http_error"


async def test_an_unknown_section_is_404_whatever_the_method(person: Api) -> None:
    for method in ("GET", "PUT"):
        r = await person.admin(method, f"/api/users/{USER}/secrets", json={"a": 1})
        assert r.status_code == 404, (method, r.text)
        assert "allow" not in r.headers


async def test_the_sections_themselves_still_answer(person: Api) -> None:
    bodies = {"profile": payloads.profile(), "safety": payloads.safety(), "music": payloads.music("A")}
    assert set(bodies) == set(SECTIONS)
    for section, body in bodies.items():
        saved = await person.admin("PUT", f"/api/users/{USER}/{section}", json=body)
        assert saved.status_code == 200, saved.text
        read = await person.admin("GET", f"/api/users/{USER}/{section}")
        assert read.status_code == 200 and read.json()["version"] == saved.json()["version"]
