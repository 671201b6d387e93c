"""The person page's tablets panel: connect a tablet (code, link, QR), the device list, disconnect."""

from __future__ import annotations

import re

import httpx

from companion.api.device_auth import DEVICE_COOKIE
from tests.dashboard.conftest import DEMO_USER, Dash

PERSON = f"/dashboard/people/{DEMO_USER}"
_CODE = re.compile(r'id="pair-code" dir="ltr">(\d{3}) (\d{3})<')
_LINK = re.compile(r'id="pair-link" dir="ltr" href="([^"]+)"')


async def connect_tablet(dash: Dash) -> tuple[str, str, str]:
    """Press "connect a tablet"; returns (the person page's html, code, link)."""
    r = await dash.post(f"{PERSON}/pairings", {})
    assert r.status_code == 303
    assert r.headers["location"] == f"{PERSON}#tablets"
    page = await dash.get(PERSON)
    assert page.status_code == 200
    code, link = _CODE.search(page.text), _LINK.search(page.text)
    assert code and link, "the page shows the code and the link"
    return page.text, code[1] + code[2], link[1]


async def test_connect_a_tablet_shows_code_link_and_qr(dash: Dash) -> None:
    await dash.login()
    before = await dash.get(PERSON)
    assert "חיבור טאבלט" in before.text
    assert "אין טאבלטים מחוברים." in before.text
    assert 'id="pair-code"' not in before.text

    html, code, link = await connect_tablet(dash)
    assert link == f"http://test/app/pair/{code}"
    svg = re.search(r'<svg [^>]*class="qr"[^>]*>.*?</svg>', html, re.S)
    assert svg, "a QR code drawn as inline SVG"
    assert 'role="img"' in svg[0]
    assert "<title>קוד QR לחיבור הטאבלט</title>" in svg[0]
    assert "http" not in svg[0].replace(link, ""), "nothing fetched from anywhere"
    assert "תקף 10 דקות" in html

    again = await dash.get(PERSON)
    assert 'id="pair-code"' not in again.text, "shown once; the code is not kept in the page"


async def test_the_code_from_the_dashboard_pairs_a_tablet_that_is_then_listed(dash: Dash) -> None:
    await dash.login()
    _, code, _ = await connect_tablet(dash)
    transport = dash.client._transport
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as tablet:
        r = await tablet.post(
            "/app/pair",
            data={"code": f"{code[:3]}-{code[3:]}"},
            headers={"User-Agent": "Mozilla/5.0 (iPad; CPU OS 17_0) Version/17.0 Safari/604.1"},
        )
        assert r.status_code == 303
        assert DEVICE_COOKIE in tablet.cookies
        page = await dash.get(PERSON)
        assert "Safari on iPad" in page.text
        [device] = await dash.services.devices.devices_of(DEMO_USER)
        assert f'data-device="{device.id}"' in page.text
        assert f"{PERSON}/devices/{device.id}/disconnect" in page.text

        no_csrf = await dash.client.post(f"{PERSON}/devices/{device.id}/disconnect", data={})
        assert no_csrf.status_code == 403
        assert await dash.services.devices.devices_of(DEMO_USER) != []

        r = await dash.post(f"{PERSON}/devices/{device.id}/disconnect", {})
        assert r.status_code == 303
        after = await dash.get(PERSON)
        assert "הטאבלט נותק" in after.text
        assert "אין טאבלטים מחוברים." in after.text
        assert (await tablet.post("/app/session")).status_code == 401, "the tablet's cookie is void"

        gone = await dash.post(f"{PERSON}/devices/{device.id}/disconnect", {})
        assert gone.status_code == 303
        assert "כבר לא מחובר" in (await dash.get(PERSON)).text


async def test_another_family_cannot_connect_or_disconnect_tablets(dash: Dash) -> None:
    await dash.login()
    _, code, _ = await connect_tablet(dash)
    async with httpx.AsyncClient(transport=dash.client._transport, base_url="http://test") as tablet:
        assert (await tablet.post("/app/pair", data={"code": code})).status_code == 303
    [device] = await dash.services.devices.devices_of(DEMO_USER)

    await dash.caregiver("dana")
    other = Dash(
        dash.services, httpx.AsyncClient(transport=dash.client._transport, base_url="http://test"), dash.creds
    )
    async with other.client:
        assert (await other.login("dana", "another-password")).status_code == 303
        assert (await other.post(f"{PERSON}/pairings", {})).status_code == 404
        assert (await other.post(f"{PERSON}/devices/{device.id}/disconnect", {})).status_code == 404
    assert [d.id for d in await dash.services.devices.devices_of(DEMO_USER)] == [device.id]


async def test_the_panel_speaks_english_too(dash: Dash) -> None:
    await dash.login()
    await dash.get("/dashboard/lang/en")
    html, _, _ = await connect_tablet(dash)
    assert "Connect a tablet" in html
    assert "valid for 10 minutes" in html
    assert "<title>QR code to connect the tablet</title>" in html
