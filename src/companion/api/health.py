"""Liveness and readiness in one answer: is the service up, and can it reach its store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from companion import __version__
from companion.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    store: dict[str, Any] = await services.store.health()
    ok = bool(store.get("ok"))
    body = {"status": "ok" if ok else "degraded", "version": __version__, "store": store}
    return JSONResponse(body, status_code=200 if ok else 503)
