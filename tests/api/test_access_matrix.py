"""Who may use which route: every route of the app's route table, HTTP and WebSocket, as every role.

The table ``RULES`` below names each route (``METHOD path``, as the router knows it) with its access
rule; the test walks ``app.routes`` (API, dashboard, the elder's page, acknowledgement links, metrics,
health, static files, the live socket), so a route added without a rule fails the suite naming it, and a
rule left behind by a removed route fails too. Every (route, role) pair is a real request through the
ASGI app (httpx's ``ASGITransport``; the live socket through the ASGI interface) against a real SQLite
store with real accounts, tokens, sessions and a paired tablet, made through the service's own routes.

The roles, each presenting everything it legitimately holds (so a route is judged on the credential it
accepts, whatever the caller also carries):

- ``none``: a browser that opened the sign-in page (an anonymous dashboard session with its CSRF token)
  and nothing else;
- ``device``: the person's paired tablet: its device cookie, and a device token of the person, plus an
  anonymous dashboard session like ``none``'s;
- ``other``: a caregiver of another person: a caregiver token and a signed-in dashboard session;
- ``caregiver``: a caregiver of the person the request names: the same two credentials;
- ``admin``: the admin token and a dashboard session signed in with it.

Forms are posted with the role's CSRF token, so that CSRF is never what decides. What each outcome
means:

- ``OK``: the caller got past authorisation: any answer but 401, 403, 404 or a redirect to sign-in (a
  validation 422, a 409, a page, a redirect elsewhere all count), or, on the live socket, the upgrade
  accepted;
- ``MISSING``: as ``OK``, but the thing the path names cannot exist here (no live conversation, no
  music library), so 404 also counts: the point is that the role was not refused;
- ``UNAUTHORIZED`` (401), ``FORBIDDEN`` (403), ``HIDDEN`` (404: a person not theirs is "not found"),
  ``SIGN_IN`` (a redirect to the dashboard's sign-in page), ``REFUSED`` (the live socket closed before
  the upgrade).

Requests that destroy what they name (erasing a person, deleting a caregiver or a token, disconnecting
a tablet, signing out) are each made on a fresh one, made for that request, so that every role meets
the same world.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount, WebSocketRoute

from companion.api.device_auth import DEVICE_COOKIE
from companion.app import create_app
from companion.auth.device_secrets import hash_pairing_code, hash_secret, new_device_id, new_device_secret
from companion.clock import utcnow
from companion.conversations.digests import unsubscribe_hash
from companion.services import Services
from companion.settings import Settings
from companion.store.base import UnsubscribeRecord
from tests.api import payloads
from tests.photos import images

ADMIN: Final = "matrix-admin-token"
PERSON: Final = "person-matrix"
OTHERS_PERSON: Final = "person-not-theirs"
PASSWORD: Final = "long-enough-password-1"
HOST: Final = "matrix.test"
ORIGIN: Final = {"Origin": f"http://{HOST}"}
CSRF: Final = re.compile(r'name="csrf" value="([^"]+)"')
WS_TIMEOUT_S: Final = 10.0  # a live session's start and end on the offline engine take well under this


class Outcome(enum.Enum):
    OK = "allowed"
    MISSING = "allowed; what the path names does not exist here"
    UNAUTHORIZED = "401"
    FORBIDDEN = "403"
    HIDDEN = "404 (not theirs: as if it did not exist)"
    SIGN_IN = "redirect to sign in"
    REFUSED = "live socket refused"


ROLES: Final = ("none", "device", "other", "caregiver", "admin")
OK, MISSING, UNAUTHORIZED, FORBIDDEN, HIDDEN, SIGN_IN, REFUSED = (
    Outcome.OK,
    Outcome.MISSING,
    Outcome.UNAUTHORIZED,
    Outcome.FORBIDDEN,
    Outcome.HIDDEN,
    Outcome.SIGN_IN,
    Outcome.REFUSED,
)


def rule(*outcomes: Outcome) -> dict[str, Outcome]:
    assert len(outcomes) == len(ROLES)
    return dict(zip(ROLES, outcomes, strict=True))


# The rules, by what a route is.
PUBLIC = rule(OK, OK, OK, OK, OK)  # no credential: the same for everyone
OPERATOR = rule(UNAUTHORIZED, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK)  # the metrics token or an admin token
ADMIN_API = rule(UNAUTHORIZED, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK)
CARE_TEAM = rule(UNAUTHORIZED, FORBIDDEN, OK, OK, OK)  # any caregiver; answers only with what is theirs
CARE_TEAM_PERSON = rule(UNAUTHORIZED, FORBIDDEN, HIDDEN, OK, OK)  # the person's caregivers and admins
CARE_TEAM_PERSON_MISSING = rule(UNAUTHORIZED, FORBIDDEN, HIDDEN, MISSING, MISSING)
# Live conversations: a device token may list and refresh its own person's (it is a live-session
# credential); by id, nobody's exists here, so 404 for all who may ask.
SESSIONS = rule(UNAUTHORIZED, OK, OK, OK, OK)
SESSIONS_PERSON = rule(UNAUTHORIZED, OK, HIDDEN, OK, OK)
SESSIONS_MISSING = rule(UNAUTHORIZED, MISSING, MISSING, MISSING, MISSING)
TABLET = rule(UNAUTHORIZED, OK, UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED)  # the paired device's cookie
TABLET_MISSING = rule(UNAUTHORIZED, MISSING, UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED)
LIVE = rule(
    REFUSED, OK, REFUSED, OK, OK
)  # a device token (its own person), a caregiver of the person, an admin
SIGNED_IN = rule(SIGN_IN, SIGN_IN, OK, OK, OK)  # the dashboard, any signed-in caregiver
SIGNED_IN_PERSON = rule(SIGN_IN, SIGN_IN, HIDDEN, OK, OK)
SIGNED_IN_PERSON_MISSING = rule(SIGN_IN, SIGN_IN, HIDDEN, MISSING, MISSING)
SIGNED_IN_MISSING = rule(SIGN_IN, SIGN_IN, MISSING, MISSING, MISSING)
SIGNED_IN_ADMIN = rule(SIGN_IN, SIGN_IN, FORBIDDEN, FORBIDDEN, OK)
SIGN_IN_FORM = rule(
    UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED
)  # the credential is what the form posts: an empty one is 401 for all
SIGNING_OUT = rule(
    SIGN_IN, SIGN_IN, SIGN_IN, SIGN_IN, SIGN_IN
)  # signing out lands on the sign-in page, whoever was signed in

RULES: Final[dict[str, dict[str, Outcome]]] = {
    # the service
    "GET /health": PUBLIC,
    "GET /metrics": OPERATOR,
    # the JSON API: people and their care profiles
    "GET /api/users": CARE_TEAM,
    "POST /api/users": CARE_TEAM,
    "DELETE /api/users/{user_id}": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}/instructions": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}/memories": CARE_TEAM_PERSON,
    "POST /api/users/{user_id}/memories": CARE_TEAM_PERSON,
    "DELETE /api/users/{user_id}/memories/{memory_id}": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}/memories/{memory_id}": CARE_TEAM_PERSON,
    "PATCH /api/users/{user_id}/memories/{memory_id}": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}/conversations": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}/conversations/{conversation_id}": CARE_TEAM_PERSON_MISSING,
    "DELETE /api/users/{user_id}/conversations/{conversation_id}": CARE_TEAM_PERSON_MISSING,
    "GET /api/users/{user_id}/today": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}/export": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}/{section}": CARE_TEAM_PERSON,
    "PUT /api/users/{user_id}/{section}": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}/alerts": CARE_TEAM_PERSON,
    "POST /api/users/{user_id}/alerts/{alert_id}/acknowledge": CARE_TEAM_PERSON,
    "POST /api/users/{user_id}/alerts/{alert_id}/resolve": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}/devices": CARE_TEAM_PERSON,
    "DELETE /api/users/{user_id}/devices/{device_id}": CARE_TEAM_PERSON,
    "POST /api/users/{user_id}/pairings": CARE_TEAM_PERSON,
    "POST /api/users/{user_id}/photos": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}/photos": CARE_TEAM_PERSON,
    "PATCH /api/users/{user_id}/photos/{photo_id}": CARE_TEAM_PERSON,
    "DELETE /api/users/{user_id}/photos/{photo_id}": CARE_TEAM_PERSON,
    "GET /api/users/{user_id}/photos/{photo_id}/image": CARE_TEAM_PERSON,
    # the JSON API: accounts and tokens
    "GET /api/caregivers": ADMIN_API,
    "POST /api/caregivers": ADMIN_API,
    "DELETE /api/caregivers/{caregiver_id}": ADMIN_API,
    "POST /api/caregivers/{caregiver_id}/users/{user_id}": ADMIN_API,
    "DELETE /api/caregivers/{caregiver_id}/users/{user_id}": ADMIN_API,
    "GET /api/tokens": ADMIN_API,
    "POST /api/tokens": ADMIN_API,
    "DELETE /api/tokens/{token_id}": ADMIN_API,
    # live conversations
    "GET /realtime/sessions": SESSIONS,
    "GET /realtime/session/{session_id}": SESSIONS_MISSING,
    "DELETE /realtime/session/{session_id}": SESSIONS_MISSING,
    "POST /realtime/session/{session_id}/refresh": SESSIONS_MISSING,
    "POST /realtime/users/{user_id}/refresh": SESSIONS_PERSON,
    "WEBSOCKET /v1/realtime": LIVE,
    # acknowledgement links in alert messages: the link is the credential (a live one, made per request)
    "GET /ack/{token}": PUBLIC,
    "POST /ack/{token}": PUBLIC,
    "GET /digest/unsubscribe/{token}": PUBLIC,  # a digest's stop link: the link is the credential
    "POST /digest/unsubscribe/{token}": PUBLIC,
    # the elder's page
    "GET /app": PUBLIC,
    "GET /app/manifest.webmanifest": PUBLIC,
    "GET /app/sw.js": PUBLIC,
    "MOUNT /app/static": PUBLIC,
    "GET /app/pair/{code}": PUBLIC,
    "POST /app/pair": PUBLIC,
    "POST /app/session": TABLET,
    "GET /app/music": TABLET,
    "GET /app/music/match": TABLET,
    "GET /app/music/tracks/{track_id}": TABLET_MISSING,
    "GET /app/reminders": TABLET,
    "GET /app/photos/{photo_id}": TABLET,
    "POST /app/reminders/{reminder_id}": TABLET_MISSING,
    # the dashboard
    "MOUNT /dashboard/static": PUBLIC,
    "GET /dashboard/login": PUBLIC,
    "POST /dashboard/login": PUBLIC,
    "POST /dashboard/login/admin": SIGN_IN_FORM,
    "GET /dashboard/lang/{code}": PUBLIC,
    "POST /dashboard/logout": SIGNING_OUT,
    "GET /dashboard": SIGNED_IN,
    "GET /dashboard/people": SIGNED_IN,
    "POST /dashboard/people": SIGNED_IN,
    "GET /dashboard/sessions": SIGNED_IN,
    "GET /dashboard/sessions/rows": SIGNED_IN,
    "POST /dashboard/sessions/refresh-all": SIGNED_IN,
    "POST /dashboard/sessions/{session_id}/refresh": SIGNED_IN_MISSING,
    "GET /dashboard/people/{user_id}": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/erase": SIGNED_IN_PERSON,
    "GET /dashboard/people/{user_id}/instructions": SIGNED_IN_PERSON,
    "GET /dashboard/people/{user_id}/saved": SIGNED_IN_PERSON,
    "GET /dashboard/people/{user_id}/wizard": SIGNED_IN_PERSON,
    "GET /dashboard/people/{user_id}/wizard/{number}": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/wizard/{number}": SIGNED_IN_PERSON,
    "GET /dashboard/people/{user_id}/conflict": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/conflict": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/refresh": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/pairings": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/devices/{device_id}/disconnect": SIGNED_IN_PERSON,
    "GET /dashboard/people/{user_id}/alerts": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/alerts/{alert_id}/acknowledge": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/alerts/{alert_id}/resolve": SIGNED_IN_PERSON,
    "GET /dashboard/people/{user_id}/reminders": SIGNED_IN_PERSON,
    "GET /dashboard/people/{user_id}/conversations": SIGNED_IN_PERSON,
    "GET /dashboard/people/{user_id}/conversations/{conversation_id}": SIGNED_IN_PERSON_MISSING,
    "POST /dashboard/people/{user_id}/conversations/{conversation_id}/delete": SIGNED_IN_PERSON_MISSING,
    "GET /dashboard/people/{user_id}/memories": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/memories/{memory_id}": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/memories/{memory_id}/keep": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/memories/{memory_id}/remove": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/reminders/{reminder_id}/taken": SIGNED_IN_PERSON_MISSING,
    "POST /dashboard/people/{user_id}/photos": SIGNED_IN_PERSON,
    "POST /dashboard/people/{user_id}/photos/{photo_id}": SIGNED_IN_PERSON,
    "GET /dashboard/people/{user_id}/photos/{photo_id}/thumb": SIGNED_IN_PERSON,
    "GET /dashboard/admin": SIGNED_IN_ADMIN,
    "POST /dashboard/admin/caregivers": SIGNED_IN_ADMIN,
    "POST /dashboard/admin/assign": SIGNED_IN_ADMIN,
    "POST /dashboard/admin/unassign": SIGNED_IN_ADMIN,
    "POST /dashboard/admin/caregivers/{caregiver_id}/delete": SIGNED_IN_ADMIN,
    "POST /dashboard/admin/tokens": SIGNED_IN_ADMIN,
    "POST /dashboard/admin/tokens/{token_id}/revoke": SIGNED_IN_ADMIN,
}

# What a request sends, by route (JSON for the API, a form for the dashboard); nothing otherwise.
JSON_BODIES: Final[dict[str, Any]] = {
    "POST /api/users/{user_id}/memories": {"text": "Likes the sea"},
    "PUT /api/users/{user_id}/{section}": payloads.music("Naomi Shemer"),
    "PATCH /api/users/{user_id}/memories/{memory_id}": {"importance": 4},
    "POST /api/caregivers": {"name": "Made", "username": "made-by-matrix", "password": PASSWORD},
    "POST /api/tokens": {"role": "device", "userId": PERSON},
    "POST /app/reminders/{reminder_id}": {"action": "taken"},
    "PATCH /api/users/{user_id}/photos/{photo_id}": {"caption": "At the sea"},
}
# Multipart uploads, by route: one real photo.
FILE_BODIES: Final[dict[str, Callable[[], list[tuple[str, tuple[str, bytes, str]]]]]] = {
    "POST /api/users/{user_id}/photos": lambda: [("files", ("sea.jpg", images.photo("jpeg"), "image/jpeg"))],
}
# The section route's path as the app routes it, and the one section every role asks for.
SECTION: Final = "music"


def route_keys(app: FastAPI) -> list[str]:
    """``METHOD path`` for every route the app serves; ``WEBSOCKET`` and ``MOUNT`` for those kinds."""
    keys = []
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        path = (route.path_format or "").replace("{section:companion_section}", "{section}")
        if isinstance(original, Mount):
            keys.append(f"MOUNT {path.removesuffix('/{path}')}")
        elif isinstance(original, WebSocketRoute) or not route.methods:
            keys.append(f"WEBSOCKET {path}")
        else:
            keys += [f"{method} {path}" for method in sorted(route.methods) if method != "HEAD"]
    return keys


@dataclass
class Role:
    name: str
    client: httpx.AsyncClient
    bearer: str | None = None
    csrf: str = ""
    username: str | None = None  # a caregiver's, to sign in again after signing out
    cookies_at_start: dict[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        headers = dict(ORIGIN)
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        return headers


@dataclass
class World:
    app: FastAPI
    services: Services
    admin: httpx.AsyncClient
    roles: dict[str, Role]
    values: dict[str, str]  # path parameter -> the value every role asks for
    caregiver_id: str = ""

    async def api(self, method: str, url: str, **kw: Any) -> httpx.Response:
        r = await self.admin.request(method, url, headers={"Authorization": f"Bearer {ADMIN}"}, **kw)
        assert r.status_code < 300, (method, url, r.status_code, r.text)
        return r


def client(app: FastAPI, address: str) -> httpx.AsyncClient:
    """One browser (its own address, so that one role's failed sign-ins never lock another's)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=f"http://{HOST}")


async def csrf_of(role: Role, path: str = "/dashboard/login") -> None:
    page = await role.client.get(path)
    found = CSRF.search(page.text)
    assert found, (role.name, path, page.status_code)
    role.csrf = found.group(1)


async def sign_in(role: Role) -> None:
    await csrf_of(role)
    if role.name == "admin":
        form = {"token": ADMIN, "csrf": role.csrf}
        r = await role.client.post("/dashboard/login/admin", data=form, headers=ORIGIN)
    else:
        form = {"username": role.username or "", "password": PASSWORD, "csrf": role.csrf}
        r = await role.client.post("/dashboard/login", data=form, headers=ORIGIN)
    assert r.status_code == 303, (role.name, r.status_code, r.text[:300])
    await csrf_of(role, "/dashboard/people")  # a sign-in makes a new session and a new token


async def paired_device(services: Services, user_id: str) -> tuple[str, str]:
    """(device id, cookie secret) of a tablet paired with ``user_id`` (a spare, to be disconnected)."""
    pairing = await services.devices.create_pairing(user_id, created_by="matrix")
    secret = new_device_secret()
    redeemed = await services.store.redeem_pairing(
        hash_pairing_code(pairing.code),
        device_id=new_device_id(),
        label="spare",
        secret_hash=hash_secret(secret),
        now=utcnow(),
    )
    assert redeemed.device is not None, redeemed.outcome
    return redeemed.device.id, secret


async def caregiver_account(world: World, username: str, users: list[str]) -> str:
    made = await world.api(
        "POST", "/api/caregivers", json={"name": username, "username": username, "password": PASSWORD}
    )
    caregiver_id: str = made.json()["id"]
    for user in users:
        await world.api("POST", f"/api/caregivers/{caregiver_id}/users/{user}")
    return caregiver_id


async def token_of(world: World, body: dict[str, str]) -> tuple[str, str]:
    made = (await world.api("POST", "/api/tokens", json=body)).json()
    return made["id"], made["token"]


async def build_world(app: FastAPI) -> World:
    services: Services = app.state.services
    admin = client(app, "10.9.0.1")
    world = World(app, services, admin, roles={}, values={})
    for user in (PERSON, OTHERS_PERSON):
        await world.api("POST", "/api/users", json={"userId": user})
        await world.api("PUT", f"/api/users/{user}/profile", json=payloads.profile())
        await world.api("PUT", f"/api/users/{user}/music", json=payloads.music("Arik Einstein"))
    memory = await world.api("POST", f"/api/users/{PERSON}/memories", json={"text": "Grew up in Haifa"})
    alert, _ = await services.alerts.record(PERSON, {"severity": "high", "summary": "Fell"}, session_id=None)
    world.caregiver_id = await caregiver_account(world, "carol", [PERSON])
    photo_id = await a_photo(world)
    other_id = await caregiver_account(world, "oscar", [OTHERS_PERSON])
    _, device_token = await token_of(world, {"role": "device", "userId": PERSON})
    _, carol = await token_of(world, {"role": "caregiver", "caregiverId": world.caregiver_id})
    _, oscar = await token_of(world, {"role": "caregiver", "caregiverId": other_id})
    world.values = {
        "user_id": PERSON,
        "section": SECTION,
        "memory_id": memory.json()["memory"]["id"],
        "alert_id": alert.id,
        "session_id": "sess-nobody",
        "conversation_id": "conversation-nobody",
        "track_id": "track-nobody",
        "reminder_id": "reminder-nobody",
        "code": "123456",
        "number": "1",
        "path": "app.js",
        "photo_id": photo_id,
    }
    for i, (name, bearer, username) in enumerate(
        (
            ("none", None, None),
            ("device", device_token, None),
            ("other", oscar, "oscar"),
            ("caregiver", carol, "carol"),
            ("admin", ADMIN, None),
        )
    ):
        role = Role(name, client(app, f"10.9.1.{i + 1}"), bearer=bearer, username=username)
        if name == "device":  # the person's tablet, paired the way a family pairs one
            code = (await world.api("POST", f"/api/users/{PERSON}/pairings")).json()["code"]
            await csrf_of(role)
            paired = await role.client.post("/app/pair", data={"code": code}, headers=ORIGIN)
            assert paired.status_code == 303, paired.text
            assert role.client.cookies.get(DEVICE_COOKIE)
        if name in ("none", "device"):
            await csrf_of(role)
        else:
            await sign_in(role)
        world.roles[name] = role
    return world


# Requests that destroy what they name: each gets a fresh one (path parameter -> maker).
Maker = Callable[[World, str], Awaitable[dict[str, str]]]
FRESH_NAMES: Final = itertools.count()


async def fresh_person(world: World, role: str) -> dict[str, str]:
    user = f"person-erased-{next(FRESH_NAMES)}-by-{role}"
    await world.api("POST", "/api/users", json={"userId": user})
    await world.api("POST", f"/api/caregivers/{world.caregiver_id}/users/{user}")
    return {"user_id": user}


async def fresh_device(world: World, role: str) -> dict[str, str]:
    device_id, _ = await paired_device(world.services, PERSON)
    return {"device_id": device_id}


async def fresh_caregiver(world: World, role: str) -> dict[str, str]:
    return {"caregiver_id": await caregiver_account(world, f"spare-{next(FRESH_NAMES)}-{role}", [PERSON])}


async def fresh_token(world: World, role: str) -> dict[str, str]:
    token_id, _ = await token_of(world, {"role": "device", "userId": PERSON})
    return {"token_id": token_id}


async def fresh_ack_link(world: World, role: str) -> dict[str, str]:
    alert, _ = await world.services.alerts.record(
        PERSON, {"severity": "high", "summary": f"Asked for {role}"}, session_id=None
    )
    return {"token": await world.services.alerts.links.issue(user_id=PERSON, alert_id=alert.id, contact=None)}


async def a_photo(world: World) -> str:
    made = await world.api(
        "POST", f"/api/users/{PERSON}/photos", files=[("files", ("a.png", images.photo("png"), "image/png"))]
    )
    photo_id: str = made.json()["photos"][0]["id"]
    return photo_id


async def fresh_photo(world: World, role: str) -> dict[str, str]:
    return {"photo_id": await a_photo(world)}


async def fresh_unsubscribe_link(world: World, role: str) -> dict[str, str]:
    token = f"matrix-unsubscribe-{next(FRESH_NAMES)}-{role}-0123456789"
    now = utcnow()
    link = UnsubscribeRecord(
        unsubscribe_hash(token), PERSON, "dana@example.com", now, now + timedelta(days=1)
    )
    await world.services.store.add_unsubscribe(link)
    return {"token": token}


async def fresh_memory(world: World, role: str) -> dict[str, str]:
    made = await world.api("POST", f"/api/users/{PERSON}/memories", json={"text": f"Told {role}"})
    return {"memory_id": made.json()["memory"]["id"]}


FRESH: Final[dict[str, Maker]] = {
    "GET /ack/{token}": fresh_ack_link,  # a link is used up by acknowledging
    "POST /ack/{token}": fresh_ack_link,
    "GET /digest/unsubscribe/{token}": fresh_unsubscribe_link,  # a link is used up by stopping
    "POST /digest/unsubscribe/{token}": fresh_unsubscribe_link,
    "DELETE /api/users/{user_id}": fresh_person,
    "POST /dashboard/people/{user_id}/erase": fresh_person,
    "DELETE /api/users/{user_id}/devices/{device_id}": fresh_device,
    "POST /dashboard/people/{user_id}/devices/{device_id}/disconnect": fresh_device,
    "DELETE /api/caregivers/{caregiver_id}": fresh_caregiver,
    "POST /dashboard/admin/caregivers/{caregiver_id}/delete": fresh_caregiver,
    "DELETE /api/caregivers/{caregiver_id}/users/{user_id}": fresh_caregiver,
    "POST /api/caregivers/{caregiver_id}/users/{user_id}": fresh_caregiver,
    "DELETE /api/tokens/{token_id}": fresh_token,
    "POST /dashboard/admin/tokens/{token_id}/revoke": fresh_token,
    "DELETE /api/users/{user_id}/memories/{memory_id}": fresh_memory,
    "DELETE /api/users/{user_id}/photos/{photo_id}": fresh_photo,
    "POST /dashboard/people/{user_id}/memories/{memory_id}/remove": fresh_memory,
}
SIGNS_OUT: Final = frozenset({"POST /dashboard/logout"})


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def classify_http(response: httpx.Response) -> Outcome:
    status = response.status_code
    if status == 401:
        return Outcome.UNAUTHORIZED
    if status == 403:
        return Outcome.FORBIDDEN
    if status == 404:
        return Outcome.HIDDEN
    if status in (302, 303, 307) and response.headers.get("location", "").startswith("/dashboard/login"):
        return Outcome.SIGN_IN
    assert status < 500, (status, response.text[:300])
    return Outcome.OK


async def websocket_outcome(app: FastAPI, path: str, role: Role) -> Outcome:
    """Open the live socket through the ASGI interface: accepted, or closed before the upgrade."""
    headers = [(k.lower().encode(), v.encode()) for k, v in {**role.headers(), "host": HOST}.items()]
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": path,
        "raw_path": path.encode(),
        "query_string": f"user={PERSON}".encode(),
        "headers": headers,
        "scheme": "ws",
        "server": (HOST, 80),
        "client": ("10.9.2.1", 40000),
        "subprotocols": [],
        "state": {},
    }
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outgoing: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    await incoming.put({"type": "websocket.connect"})
    task = asyncio.create_task(app(scope, incoming.get, outgoing.put))
    try:
        first = await asyncio.wait_for(outgoing.get(), WS_TIMEOUT_S)
        if first["type"] == "websocket.accept":
            await incoming.put({"type": "websocket.disconnect", "code": 1000})
            await asyncio.wait_for(task, WS_TIMEOUT_S)
            return Outcome.OK
        assert first["type"] in ("websocket.close", "websocket.http.response.start"), first
        return Outcome.REFUSED
    finally:
        if not task.done():
            await incoming.put({"type": "websocket.disconnect", "code": 1000})
            await asyncio.wait_for(task, WS_TIMEOUT_S)


async def attempt(world: World, key: str, role: Role) -> Outcome:
    method, path = key.split(" ", 1)
    values = dict(world.values)
    if key in FRESH:
        values.update(await FRESH[key](world, role.name))
    if method == "WEBSOCKET":
        return await websocket_outcome(world.app, path, role)
    if method == "MOUNT":
        method, path = "GET", path + "/{path}"
        values["path"] = "app.js" if path.startswith("/app") else "dashboard.css"
    url = fill(path, values)
    kwargs: dict[str, Any] = {"headers": role.headers()}
    if path.startswith("/dashboard") and method == "POST":
        kwargs["data"] = {"csrf": role.csrf}
    elif key == "POST /api/users":
        kwargs["json"] = {"userId": f"person-made-by-{role.name}"}  # one each: a taken id is a 404 or 409
    elif key in JSON_BODIES:
        kwargs["json"] = JSON_BODIES[key]
    elif key in FILE_BODIES:
        kwargs["files"] = FILE_BODIES[key]()
    if key == "PUT /api/users/{user_id}/{section}":
        kwargs["headers"] = {**kwargs["headers"], "If-Match": "*"}
    response = await role.client.request(method, url, **kwargs)
    if key in SIGNS_OUT and role.name in ("other", "caregiver", "admin"):
        await sign_in(role)
    return classify_http(response)


def matches(expected: Outcome, actual: Outcome) -> bool:
    if expected is Outcome.MISSING:
        return actual in (Outcome.OK, Outcome.HIDDEN)
    return expected is actual


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    app = create_app(Settings(data_dir=tmp_path, admin_token=ADMIN, allowed_origins=[f"http://{HOST}"]))
    async with app.router.lifespan_context(app):
        built = await build_world(app)
        try:
            yield built
        finally:
            for role in built.roles.values():
                await role.client.aclose()
            await built.admin.aclose()


async def test_every_route_has_a_rule(world: World) -> None:
    keys = route_keys(world.app)
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    unruled = sorted(set(keys) - set(RULES))
    assert not unruled, "routes without an access rule (add each to RULES): " + ", ".join(unruled)
    stale = sorted(set(RULES) - set(keys))
    assert not stale, "rules for routes that no longer exist: " + ", ".join(stale)


async def test_every_route_answers_every_role_as_its_rule_says(world: World) -> None:
    wrong = []
    keys = route_keys(world.app)
    for key in keys:
        for name in ROLES:
            actual = await attempt(world, key, world.roles[name])
            expected = RULES[key][name]
            if not matches(expected, actual):
                wrong.append(f"{key} as {name}: expected {expected.value}, got {actual.value}")
    assert not wrong, f"{len(wrong)} of {len(keys) * len(ROLES)} answers:\n" + "\n".join(wrong)
