"""An app per test on SQLite and on the real PostgreSQL server, with one person, their caregiver and
a caregiver of someone else; photo limits small enough to reach in a test where a test asks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from companion.app import create_app
from companion.services import Services
from companion.settings import Settings

ADMIN = "photos-admin-token"
PERSON = "person-photos-1"
OTHER = "person-photos-2"


@dataclass
class PhotoApi:
    app: FastAPI
    client: httpx.AsyncClient
    carol: str = ""  # a caregiver token of PERSON
    oscar: str = ""  # a caregiver token of OTHER only

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def admin(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return await self.client.request(method, url, headers={"Authorization": f"Bearer {ADMIN}"}, **kw)

    async def as_carol(self, method: str, url: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.carol}", **kw.pop("headers", {})}
        return await self.client.request(method, url, headers=headers, **kw)

    async def upload(self, *files: tuple[str, bytes, str], user: str = PERSON) -> httpx.Response:
        parts = [("files", (name, data, media)) for name, data, media in files]
        return await self.as_carol("POST", f"/api/users/{user}/photos", files=parts)

    async def caregiver(self, name: str, users: list[str]) -> str:
        made = await self.admin(
            "POST", "/api/caregivers", json={"name": name, "username": name, "password": "long-enough-1"}
        )
        cid = made.json()["id"]
        for user in users:
            await self.admin("POST", f"/api/caregivers/{cid}/users/{user}")
        token = await self.admin("POST", "/api/tokens", json={"role": "caregiver", "caregiverId": cid})
        value: str = token.json()["token"]
        return value


MakeApi = Callable[..., Any]


@pytest.fixture(params=["sqlite", "postgresql"])
async def photo_api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await photo_api(**settings)``: the app with those settings, on the parameter's database."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_empty_url")
    opened: list[tuple[FastAPI, Any, httpx.AsyncClient]] = []

    async def make(**settings: Any) -> PhotoApi:
        app = create_app(Settings(data_dir=tmp_path, admin_token=ADMIN, database_url=url, **settings))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        opened.append((app, lifespan, client))
        api = PhotoApi(app, client)
        for user in (PERSON, OTHER):
            await api.admin("POST", "/api/users", json={"userId": user})
        api.carol = await api.caregiver("carol", [PERSON])
        api.oscar = await api.caregiver("oscar", [OTHER])
        return api

    yield make
    for _, lifespan, client in reversed(opened):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
