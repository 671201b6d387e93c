"""Every app a process makes routes to the same route objects, declared once at import; each answers
with its own services."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from companion.api.routing import add_routes
from companion.app import create_app
from tests.api.conftest import ADMIN, make_settings


def test_two_apps_share_the_route_objects_and_keep_their_order(tmp_path: Path) -> None:
    first = create_app(make_settings(tmp_path / "one"))
    second = create_app(make_settings(tmp_path / "two"))
    shared = [r for r in first.router.routes if getattr(r, "path", "").startswith("/api/")]
    assert len(shared) > 20
    assert all(any(r is s for s in second.router.routes) for r in shared)
    paths = [getattr(r, "path", "") for r in first.router.routes]
    # in the order they are added: the device routes before the section routes of the same shape
    sections = next(i for i, p in enumerate(paths) if p.startswith("/api/users/{user_id}/{section"))
    assert paths.index("/api/users/{user_id}/devices") < sections


async def test_each_app_answers_from_its_own_services(tmp_path: Path) -> None:
    apps = [create_app(make_settings(tmp_path / name)) for name in ("one", "two")]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        await apps[0].state.services.store.create_user("only-in-one")
        for app, expected in zip(apps, (["only-in-one"], []), strict=True):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                listed = await client.get("/api/users", headers={"Authorization": f"Bearer {ADMIN}"})
                assert listed.status_code == 200, listed.text
                assert listed.json()["users"] == expected


def test_a_router_with_start_up_handlers_is_refused() -> None:
    router = APIRouter(on_startup=[lambda: None])
    with pytest.raises(ValueError, match="start-up or shut-down"):
        add_routes(FastAPI(), router)
