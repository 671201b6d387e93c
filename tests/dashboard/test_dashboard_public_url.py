"""With ``COMPANION_PUBLIC_URL`` set, the tablet panel's link and QR code name it, not the address the
caregiver's browser happened to reach the dashboard by (``http://test`` here, as ``127.0.0.1`` or a
proxy's inside address would be in real life)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from companion.app import create_app
from companion.dashboard.devices import qr_svg
from companion.demo import seed_demo
from companion.settings import Settings
from tests.dashboard.conftest import ADMIN, DEMO_USER, Dash
from tests.dashboard.test_dashboard_devices import connect_tablet

PUBLIC = "https://companion.home.arpa:8443"


@pytest.fixture
async def public_dash(tmp_path: Path) -> AsyncIterator[Dash]:
    app = create_app(Settings(data_dir=tmp_path, admin_token=ADMIN, public_url=PUBLIC + "/"))
    async with app.router.lifespan_context(app):
        creds = await seed_demo(app.state.services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Dash(app.state.services, client, creds)


async def test_the_pairing_link_and_qr_code_name_the_public_address(public_dash: Dash) -> None:
    await public_dash.login()
    html, code, link = await connect_tablet(public_dash)
    assert link == f"{PUBLIC}/app/pair/{code}"
    svg = re.search(r'<svg [^>]*class="qr"[^>]*>.*?</svg>', html, re.S)
    assert svg, "a QR code drawn as inline SVG"
    title = re.search(r"<title>([^<]+)</title>", svg[0])
    assert title
    assert svg[0] == str(qr_svg(link, title[1])), "the QR code is exactly the code of that link"
    assert "http://test" not in html


async def test_the_api_pairing_answer_names_the_public_address(public_dash: Dash) -> None:
    r = await public_dash.client.post(
        f"/api/users/{DEMO_USER}/pairings", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["url"] == f"{PUBLIC}/app/pair/{r.json()['code']}"
