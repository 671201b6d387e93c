"""The API document itself: real bodies (no ``{"title": "Body"}``), and every route's error statuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from companion.api.deps import PrincipalDep
from companion.api.openapi import describe
from companion.app import create_app
from companion.profiles.models import SECTIONS
from companion.settings import Settings

ERROR = {"$ref": "#/components/schemas/ErrorBody"}
METHODS = {"get", "put", "post", "delete", "patch"}


def _app(tmp_path: Path, *, api_docs: bool = False) -> FastAPI:
    app = create_app(Settings(data_dir=tmp_path, admin_token="document-admin", api_docs=api_docs))
    describe(app)
    return app


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    body = operation.get("requestBody")
    if body is None:
        return None
    content = body["content"]
    schema: dict[str, Any] = (content.get("application/json") or content["multipart/form-data"])["schema"]
    return schema


def test_no_body_is_left_undescribed(tmp_path: Path) -> None:
    doc = _app(tmp_path).openapi()
    for method, path, operation in _operations(doc):
        schema = _body_schema(operation)
        if schema is not None:
            assert schema.get("title") != "Body" and ("$ref" in schema or "type" in schema), (method, path)


def test_each_section_has_its_own_path_and_body(tmp_path: Path) -> None:
    doc = _app(tmp_path).openapi()
    assert "/api/users/{user_id}/{section}" not in doc["paths"]
    for section in SECTIONS:
        item = doc["paths"][f"/api/users/{{user_id}}/{section}"]
        model = {"$ref": f"#/components/schemas/{section.capitalize()}"}
        assert _body_schema(item["put"]) == model
        for method in ("get", "put"):
            answer = item[method]["responses"]["200"]["content"]["application/json"]["schema"]
            assert answer["properties"]["data"] == model
            assert not any(p["name"] == "section" for p in item[method]["parameters"])
        assert {"412", "428"} <= set(item["put"]["responses"])
    memories = doc["paths"]["/api/users/{user_id}/memories"]["post"]
    assert _body_schema(memories) == {"$ref": "#/components/schemas/MemoryInput"}
    assert doc["components"]["schemas"]["MemoryInput"]["required"] == ["text"]


def test_every_route_documents_its_error_statuses(tmp_path: Path) -> None:
    doc = _app(tmp_path).openapi()
    for method, path, operation in _operations(doc):
        responses = operation["responses"]
        where = (method, path)
        if operation.get("security"):
            assert "401" in responses, where
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert {"404", "422"} <= set(responses), where
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(responses), where
        assert any(status.startswith(("4", "5")) for status in responses), where
        for status, answer in responses.items():
            # /health's 503 is its own body; a track's 416 is Starlette's plain-text range answer
            if status.startswith(("4", "5")) and path != "/health" and status != "416":
                assert answer["content"]["application/json"]["schema"] == ERROR, (where, status)
    refresh = doc["paths"]["/realtime/session/{session_id}/refresh"]["post"]["responses"]
    assert {"409", "502", "504"} <= set(refresh)
    assert "HTTPValidationError" not in doc["components"]["schemas"]  # FastAPI's 422 is not our body


def test_a_route_added_later_is_described_without_a_table_entry(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    router = APIRouter()

    @router.delete("/api/widgets/{widget_id}", status_code=204)
    async def delete_widget(widget_id: str, principal: PrincipalDep) -> None:
        """A route no table names."""

    app.include_router(router)
    describe(app)
    operation = app.openapi()["paths"]["/api/widgets/{widget_id}"]["delete"]
    assert {"204", "401", "403", "404", "422", "503"} <= set(operation["responses"])
    assert operation["security"] == [{"bearerToken": []}]


async def test_the_served_document_is_the_complete_one(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, api_docs=True))
    app.openapi()  # asked for before describe: the complete one must still replace it
    describe(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        served = (await client.get("/openapi.json")).json()
    assert served == app.openapi()
    assert "ErrorBody" in served["components"]["schemas"]
    describe(app)  # a second call (the app's own and a test's) leaves the document as it was
    assert app.openapi() == served
