"""FastAPI dependencies: the services, and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from companion.auth import Principal
from companion.services import Services


async def get_services(request: Request) -> Services:
    """Async so that FastAPI calls it on the loop instead of hopping to a worker thread."""
    services: Services = request.app.state.services
    return services


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def get_principal(request: Request, services: Annotated[Services, Depends(get_services)]) -> Principal:
    return await services.auth.authenticate(bearer_token(request))


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
