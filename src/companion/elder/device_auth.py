"""Who a request from the elder's page speaks for: the paired device in its HttpOnly cookie.

The page never holds a long-lived secret in JavaScript. The cookie is HttpOnly and SameSite=Strict, and
every state-changing request from the page is also checked for a same-origin ``Origin`` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import Request, Response

from companion.api.live import origin_allowed
from companion.edge import page_origins
from companion.errors import Forbidden, Unauthorized

if TYPE_CHECKING:  # services imports the elder package
    from companion.services import Services

DEVICE_COOKIE = "companion_device"
DEVICE_COOKIE_AGE = timedelta(days=400)  # the longest browsers keep a cookie: a tablet stays paired


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    device_id: str
    user_id: str
    label: str


def services_of(request: Request) -> Services:
    """The app's services, for the elder's routes (FastAPI's ``ServicesDep`` where a dependency fits)."""
    services: Services = request.app.state.services
    return services


async def device_from_request(request: Request) -> DeviceIdentity | None:
    """The live device whose secret the cookie holds, or None (no cookie, unknown or revoked)."""
    device = await services_of(request).devices.from_cookie(request.cookies.get(DEVICE_COOKIE))
    if device is None:
        return None
    return DeviceIdentity(device_id=device.id, user_id=device.user_id, label=device.label)


async def require_device(request: Request) -> DeviceIdentity:
    """FastAPI dependency: 401 unless the request comes from a paired, unrevoked device."""
    identity = await device_from_request(request)
    if identity is None:
        raise Unauthorized("This browser is not paired (or was disconnected); pair it with a code")
    return identity


def check_same_origin(request: Request) -> None:
    """Forbidden when a browser says the request comes from another site (cross-site forgery)."""
    origin = request.headers.get("origin")
    allowed = page_origins(services_of(request).settings)
    if not origin_allowed(origin, request.headers.get("host"), allowed):
        raise Forbidden("Requests from another site are not accepted here", field="origin")


def set_device_cookie(request: Request, response: Response, secret: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        secret,
        max_age=int(DEVICE_COOKIE_AGE.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
