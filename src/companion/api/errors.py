"""The one place where errors become HTTP answers: ``{"statusCode", "message", "error", "field"?}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException

from companion.errors import CompanionError

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """One invalid field of a 422 answer."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """The shape ``error_body`` builds, for the API document: every error answer has it."""

    model_config = ConfigDict(extra="allow", title="Error")

    statusCode: int = Field(description="the HTTP status again, for clients that lose it")
    message: str = Field(description="for people: what went wrong and what to do")
    error: str = Field(description="for programs: a stable code, e.g. not_found, version_mismatch")
    field: str | None = Field(None, description="the request field at fault, when there is one")
    errors: list[ErrorDetail] | None = Field(None, description="422: every invalid field")
    currentVersion: int | None = Field(None, description="412, 428: the version the document has now")


def error_body(
    status: int, message: str, code: str, field: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"statusCode": status, "message": message, "error": code}
    if field:
        body["field"] = field
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


async def _companion_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CompanionError)
    if exc.status >= 500:
        log.warning("%s: %s", exc.code, exc.message)
    retry = exc.extra.get("retryAfter")  # e.g. the instances' Redis is away: when to try again
    return JSONResponse(
        error_body(exc.status, exc.message, exc.code, exc.field, **exc.extra),
        status_code=exc.status,
        headers={"Retry-After": str(retry)} if retry is not None else None,
    )


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        details.append({"field": ".".join(loc), "message": err.get("msg", "invalid")})
    first = details[0] if details else {"field": "", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return JSONResponse(
        error_body(422, message, "invalid_input", first["field"] or None, errors=details), status_code=422
    )


def allowed_methods(app: Starlette, path: str) -> list[str]:
    """Every method some route of ``path`` answers. Starlette's 405 names only the first route that
    matched the path, but one path is often several routes (``GET`` and ``PUT`` of a section)."""
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        regex, route_methods = getattr(route, "path_regex", None), route.methods
        if route_methods and regex is not None and regex.match(path):
            methods.update(route_methods)
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
    return JSONResponse(
        error_body(exc.status_code, str(exc.detail), "http_error"),
        status_code=exc.status_code,
        headers=headers or None,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(CompanionError, _companion_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
