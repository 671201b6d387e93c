"""An app on a fresh SQLite file, driven in-process over ASGI, with an admin and two caregivers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from companion.app import create_app
from companion.services import Services
from companion.settings import Settings

ADMIN = "test-admin-token"


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def admin(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **kw: object
    ) -> httpx.Response:
        merged = {**self.auth(ADMIN), **(headers or {})}
        return await self.client.request(method, url, headers=merged, **kw)  # type: ignore[arg-type]

    async def caregiver(self, name: str, users: list[str]) -> str:
        r = await self.admin(
            "POST", "/api/caregivers", json={"name": name, "username": name, "password": "long-enough-1"}
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        for user in users:
            r = await self.admin("POST", f"/api/caregivers/{cid}/users/{user}")
            assert r.status_code == 200, r.text
        r = await self.admin("POST", "/api/tokens", json={"role": "caregiver", "caregiverId": cid})
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token


def make_settings(tmp_path: Path, database_url: str | None = None) -> Settings:
    return Settings(data_dir=tmp_path, admin_token=ADMIN, database_url=database_url)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    app = create_app(make_settings(tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(app, client)


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """The same app on SQLite and on the real PostgreSQL server (an empty database of its own)."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_empty_url")
    app = create_app(make_settings(tmp_path, url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(app, client)
