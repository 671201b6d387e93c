"""The service's edge: /metrics behind a token, the API docs off by default, no-store on every API
answer and on /metrics, nosniff on every answer and HSTS on every https one, /health's details for
operators only, and no existence oracle when a caregiver adds a person."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from companion.api.limits import DEFAULT_LIMIT
from companion.app import create_app
from companion.settings import Settings
from tests.api.conftest import ADMIN, Api

METRICS_TOKEN = "scrape-me-please"


@asynccontextmanager
async def app_with(tmp_path: Path, **settings: Any) -> AsyncIterator[Api]:
    app = create_app(Settings(data_dir=tmp_path, admin_token=ADMIN, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(app, client)


# ---- /metrics ---------------------------------------------------------------------------------------


async def test_metrics_refuse_a_caller_without_a_token(api: Api) -> None:
    r = await api.client.get("/metrics")
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized" and r.json()["statusCode"] == 401
    assert "token" in r.json()["message"]
    assert "companion_" not in r.text


async def test_metrics_refuse_a_wrong_token_and_a_caregiver(api: Api) -> None:
    assert (await api.client.get("/metrics", headers=api.auth("not-a-token"))).status_code == 401
    caregiver = await api.caregiver("alice", [])
    r = await api.client.get("/metrics", headers=api.auth(caregiver))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


async def test_metrics_answer_the_admin_token(api: Api) -> None:
    r = await api.admin("GET", "/metrics")
    assert r.status_code == 200 and "live_sessions" in r.text


async def test_metrics_answer_the_metrics_token(tmp_path: Path) -> None:
    async with app_with(tmp_path, metrics_token=METRICS_TOKEN) as api:
        r = await api.client.get("/metrics", headers=api.auth(METRICS_TOKEN))
        assert r.status_code == 200 and "live_sessions" in r.text
        assert (await api.client.get("/metrics", headers=api.auth(METRICS_TOKEN + "x"))).status_code == 401


# ---- API docs ---------------------------------------------------------------------------------------


async def test_api_docs_are_off_by_default(api: Api) -> None:
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        r = await api.client.get(path)
        assert r.status_code == 404, path


async def test_api_docs_can_be_turned_on(tmp_path: Path) -> None:
    async with app_with(tmp_path, api_docs=True) as api:
        r = await api.client.get("/openapi.json")
        assert r.status_code == 200 and "/api/users" in r.json()["paths"]
        assert (await api.client.get("/docs")).status_code == 200


# ---- Cache-Control: no-store ------------------------------------------------------------------------


async def test_every_api_answer_is_no_store(api: Api) -> None:
    assert (await api.admin("POST", "/api/users", json={"userId": "user-a"})).status_code == 201
    caregiver = await api.caregiver("alice", ["user-a"])
    answers = {
        "list": await api.admin("GET", "/api/users"),
        "person": await api.admin("GET", "/api/users/user-a"),
        "instructions": await api.client.get("/api/users/user-a/instructions", headers=api.auth(caregiver)),
        "sessions": await api.admin("GET", "/realtime/sessions"),
        "not found": await api.admin("GET", "/api/users/user-nobody"),
        "no route": await api.admin("GET", "/api/nothing-here"),
        "no session": await api.admin("GET", "/realtime/session/sess-nobody"),
        "unauthorized": await api.client.get("/api/users"),
        "invalid": await api.admin("POST", "/api/users", json={"userId": "!"}),
        "conflict": await api.admin("POST", "/api/users", json={"userId": "user-a"}),
    }
    assert [a.status_code for a in answers.values()] == [200, 200, 200, 200, 404, 404, 404, 401, 422, 409]
    for name, answer in answers.items():
        assert answer.headers.get("cache-control") == "no-store", name


async def test_health_stays_cacheable(api: Api) -> None:
    r = await api.client.get("/health")
    assert r.status_code == 200 and "cache-control" not in r.headers


async def test_metrics_are_no_store(api: Api) -> None:
    r = await api.admin("GET", "/metrics")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    refused = await api.client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"


# ---- X-Content-Type-Options, Strict-Transport-Security -------------------------------------------------


async def test_every_answer_is_nosniff(api: Api) -> None:
    """Pages, JSON, errors, redirects, static files, and answers made before any route ran."""
    oversized = json.dumps({"userId": "user-a", "padding": "x" * DEFAULT_LIMIT})
    answers = {
        "health": await api.client.get("/health"),
        "api": await api.admin("GET", "/api/users"),
        "no route": await api.client.get("/nothing-here"),
        "unauthorized": await api.client.get("/api/users"),
        "dashboard redirect": await api.client.get("/dashboard"),
        "sign-in page": await api.client.get("/dashboard/login"),
        "elder page": await api.client.get("/app"),
        "metrics": await api.admin("GET", "/metrics"),
        "body limit": await api.client.post(
            "/api/users", content=oversized, headers={"Content-Type": "application/json"}
        ),
        "wrong method": await api.admin("PUT", "/api/users"),
    }
    statuses = [a.status_code for a in answers.values()]
    assert statuses == [200, 200, 404, 401, 303, 200, 200, 200, 413, 405], statuses
    for name, answer in answers.items():
        assert answer.headers.get("x-content-type-options") == "nosniff", name
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"], name  # never twice


async def test_a_crash_is_nosniff_too(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, admin_token=ADMIN))

    async def crash() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/crash", crash)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.get("/crash")
    assert r.status_code == 500
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_hsts_only_over_https(api: Api) -> None:
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://test") as secure:
        for path in ("/health", "/app", "/dashboard/login", "/api/users", "/nothing-here"):
            r = await secure.get(path)
            assert r.headers.get("strict-transport-security") == "max-age=31536000", path
    for path in ("/health", "/app", "/dashboard/login", "/api/users"):
        r = await api.client.get(path)  # plain http: a header there would be ignored, and is not sent
        assert "strict-transport-security" not in r.headers, path


# ---- /health: up or not for anyone, details for an operator --------------------------------------------


async def test_health_tells_anyone_only_whether_the_service_is_up(api: Api) -> None:
    caregiver = await api.caregiver("alice", [])
    for headers in ({}, api.auth(caregiver), api.auth("not-a-token"), {"Authorization": "Basic eA=="}):
        r = await api.client.get("/health", headers=headers)
        assert r.status_code == 200, headers  # a probe is never refused for its token
        assert r.json() == {"status": "ok"}, headers


async def test_health_details_are_for_an_admin_or_the_metrics_token(tmp_path: Path) -> None:
    async with app_with(tmp_path, metrics_token=METRICS_TOKEN, instance_id="edge-1") as api:
        for headers in (api.auth(ADMIN), api.auth(METRICS_TOKEN)):
            r = await api.client.get("/health", headers=headers)
            body = r.json()
            assert r.status_code == 200 and body["status"] == "ok"
            assert body["instance"] == "edge-1" and body["version"]
            assert body["store"]["backend"] == "sqlite" and body["store"]["ok"] is True
            assert r.headers["cache-control"] == "no-store"


async def test_health_says_degraded_without_details_when_the_store_is_away(api: Api) -> None:
    async def unreachable() -> dict[str, object]:
        return {"ok": False, "backend": "sqlite", "error": "database is locked"}

    api.services.store.health = unreachable  # type: ignore[method-assign]
    r = await api.client.get("/health")
    assert r.status_code == 503 and r.json() == {"status": "degraded"}
    detailed = await api.admin("GET", "/health")
    assert detailed.status_code == 503 and detailed.json()["store"]["error"] == "database is locked"


# ---- POST /api/users: no existence oracle -------------------------------------------------------------


async def test_a_caregiver_cannot_learn_that_another_familys_person_exists(api: Api) -> None:
    assert (await api.admin("POST", "/api/users", json={"userId": "user-theirs"})).status_code == 201
    me = await api.caregiver("alice", [])
    headers = api.auth(me)
    taken = await api.client.post("/api/users", json={"userId": "user-theirs"}, headers=headers)
    unknown = await api.client.get("/api/users/user-theirs", headers=headers)
    assert taken.status_code == 404
    assert taken.json() == unknown.json()  # exactly what a read of a person who does not exist answers
    assert taken.json() == {"statusCode": 404, "message": "User user-theirs not found", "error": "not_found"}
    # and nothing was assigned on the way
    assert (await api.client.get("/api/users", headers=headers)).json() == {"users": []}


async def test_creating_people_still_works_and_conflicts_stay_for_those_who_can_see(api: Api) -> None:
    me = await api.caregiver("alice", [])
    headers = api.auth(me)
    r = await api.client.post("/api/users", json={"userId": "user-new"}, headers=headers)
    assert r.status_code == 201 and r.json() == {"userId": "user-new"}
    assert (await api.client.get("/api/users", headers=headers)).json() == {"users": ["user-new"]}
    again = await api.client.post("/api/users", json={"userId": "user-new"}, headers=headers)
    assert again.status_code == 409 and again.json()["error"] == "already_exists"
    admin = await api.admin("POST", "/api/users", json={"userId": "user-new"})
    assert admin.status_code == 409 and admin.json()["error"] == "already_exists"
