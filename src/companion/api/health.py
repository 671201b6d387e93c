"""Liveness and readiness in one answer, and who may read the service's inner details.

Anyone (a load balancer, an uptime probe) learns whether the service is up: ``{"status": "ok"}`` with
200, or ``"degraded"`` with 503 when the store cannot be reached. The rest (the version, which instance
answered, the store's backend and its errors, Redis and how far behind the change log this instance is)
tells an attacker what to aim at, so it is only for an operator: a bearer admin token or the
``metrics_token``, the same callers as ``/metrics``. A Redis outage degrades nothing that matters for
readiness: saves go on and the change log catches up.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from companion import __version__
from companion.api.deps import ServicesDep
from companion.api.headers import NO_STORE
from companion.errors import CompanionError, Forbidden, Unauthorized
from companion.services import Services

router = APIRouter(tags=["health"])


async def require_operator(services: Services, authorization: str) -> None:
    """The ``metrics_token`` setting or an admin token; Unauthorized without a known token, Forbidden
    for a known one that is neither."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if not token:
        raise Unauthorized("This needs a token: send 'Authorization: Bearer <metrics or admin token>'")
    expected = services.settings.metrics_token
    if expected is not None and hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        return
    principal = await services.auth.authenticate(token)
    if not principal.is_admin:
        raise Forbidden("This is for the metrics token or an admin token")


async def is_operator(services: Services, authorization: str | None) -> bool:
    """Whether the caller may see the details; never an error (a probe without a token is normal)."""
    if not authorization:
        return False
    try:
        await require_operator(services, authorization)
    except CompanionError:  # an unknown token, a caregiver's, or a store that cannot check it
        return False
    return True


@router.get("/health")
async def health(request: Request, services: ServicesDep) -> JSONResponse:
    """The token is read from the request, not declared: the answer never refuses a probe for it."""
    store: dict[str, Any] = await services.store.health()
    ok = bool(store.get("ok"))
    status = 200 if ok else 503
    body: dict[str, Any] = {"status": "ok" if ok else "degraded"}
    if not await is_operator(services, request.headers.get("authorization")):
        return JSONResponse(body, status_code=status)
    body |= {"version": __version__, "instance": services.directory.instance, "store": store}
    if services.cluster is not None:
        body["cluster"] = await services.cluster.health()
    return JSONResponse(body, status_code=status, headers=NO_STORE)
