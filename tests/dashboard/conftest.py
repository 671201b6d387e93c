"""The dashboard driven in-process over ASGI (fast tests), with the demo seeded and a form helper."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from companion.app import create_app
from companion.demo import DEMO_USER, DemoCredentials, seed_demo
from companion.realtime.session import Status
from companion.services import Services
from companion.settings import Settings
from tests.live.conftest import USER, Live, eventually, run_live

ADMIN = "dash-admin-token"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match[1]


class _FormReader(HTMLParser):
    """The fields a browser would send for the form with id ``wizard`` (buttons excluded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((name, a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select, self._select_value, self._first_option = name, None, None
        elif tag == "option" and self._select:
            if self._first_option is None:
                self._first_option = a.get("value", "")
            if "selected" in a:
                self._select_value = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select:
            value = self._select_value if self._select_value is not None else self._first_option
            self.fields.append((self._select, value or ""))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append((self._textarea, self._text))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self._text += data


def form_fields(html: str) -> list[tuple[str, str]]:
    reader = _FormReader()
    reader.feed(html)
    return reader.fields


@dataclass
class Dash:
    """A caregiver's browser, without the browser: cookies, the CSRF token, and forms as rendered."""

    services: Services
    client: httpx.AsyncClient
    creds: DemoCredentials
    csrf: str = ""
    last: httpx.Response | None = field(default=None, repr=False)

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        response = await self.client.get(url, **kw)
        if 'name="csrf"' in response.text:
            self.csrf = csrf_of(response.text)
        self.last = response
        return response

    async def post(self, url: str, data: dict[str, Any] | list[tuple[str, str]], **kw: Any) -> httpx.Response:
        """POST a form with the session's CSRF token (fetched from the login page when unknown)."""
        if not self.csrf:
            await self.get("/dashboard/login")
        items = list(data.items()) if isinstance(data, dict) else list(data)
        if not any(k == "csrf" for k, _ in items):
            items.append(("csrf", self.csrf))
        response = await self.client.post(
            url,
            content=httpx.QueryParams(items).__str__().encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
            **kw,
        )
        if 'name="csrf"' in response.text:
            self.csrf = csrf_of(response.text)
        self.last = response
        return response

    async def login(self, username: str = "tiferet", password: str = "demo-password") -> httpx.Response:
        await self.get("/dashboard/login")
        response = await self.post("/dashboard/login", {"username": username, "password": password})
        if response.status_code == 303:
            await self.get("/dashboard/people")  # the session id (and so the CSRF token) changed
        return response

    async def step(
        self,
        number: int,
        changes: dict[str, str] | None = None,
        action: str = "next",
        user: str = DEMO_USER,
    ) -> httpx.Response:
        """Post wizard step ``number`` as rendered, with ``changes`` applied, pressing ``action``."""
        page = await self.get(f"/dashboard/people/{user}/wizard/{number}")
        assert page.status_code == 200, page.text
        fields = [(k, v) for k, v in form_fields(page.text) if k not in (changes or {})]
        fields += list((changes or {}).items())
        return await self.post(f"/dashboard/people/{user}/wizard/{number}", [*fields, ("action", action)])

    async def caregiver(self, username: str, password: str = "another-password") -> str:
        record = await self.services.auth.create_caregiver(
            name=username, username=username, password=password
        )
        return record.id


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[Dash]:
    app = create_app(Settings(data_dir=tmp_path, admin_token=ADMIN))
    async with app.router.lifespan_context(app):
        creds = await seed_demo(app.state.services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Dash(app.state.services, client, creds)


__all__ = ["ADMIN", "DEMO_USER", "Dash", "csrf_of"]


# ---- a caregiver beside a live conversation (the service on a real socket, the offline engine) -------


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async for value in run_live(tmp_path):
        yield value


async def signed_in_with_a_live_session(live: Live) -> Dash:
    """The demo person in a conversation that is active, and their caregiver signed in."""
    await live.connect()
    session = live.services.sessions.of_user(USER)[0]
    await eventually(lambda: session.status is Status.ACTIVE, "the live session is active")
    dash = Dash(live.services, live.http, live.creds)
    assert (await dash.login()).status_code == 303
    return dash
