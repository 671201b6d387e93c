"""Liveness and readiness in one answer: is the service up, can it reach its store, and (with several
instances) which instance answered, whether it reaches Redis, and how far behind the change log it is.
A Redis outage degrades nothing that matters for readiness: saves go on and the change log catches up."""

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
    body: dict[str, Any] = {
        "status": "ok" if ok else "degraded",
        "version": __version__,
        "instance": services.directory.instance,
        "store": store,
    }
    if services.cluster is not None:
        body["cluster"] = await services.cluster.health()
    return JSONResponse(body, status_code=200 if ok else 503)
