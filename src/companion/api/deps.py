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
    """On a route that names a person (``{user_id}``), a caregiver's assignment to them is read in the
    same query as the token."""
    for_user = request.path_params.get("user_id")
    return await services.auth.authenticate(
        bearer_token(request), for_user=for_user if isinstance(for_user, str) else None
    )


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
