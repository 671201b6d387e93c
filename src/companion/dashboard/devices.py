"""A person's tablets on the dashboard: "connect a tablet" (code, link, QR code) and "disconnect".

The new code is carried to the person's page in the caregiver's server-side session (never in a URL),
shown once, and gone on the next page view; a caregiver who missed it asks for another. The QR code is
drawn here as inline SVG by segno, so nothing is fetched from the internet.
"""

from __future__ import annotations

from typing import Any

import segno
from fastapi import APIRouter, Response
from markupsafe import Markup

from companion.api.devices import pairing_url
from companion.auth.device_secrets import PAIRING_CODE_TTL
from companion.dashboard.web import PREFIX, DashboardRoute, Page, PostDep
from companion.errors import NotFound
from companion.store import DeviceRecord

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

QR_SCALE = 5  # module size in px: ~185 px for a short link, easy for a tablet's camera at arm's length
QR_ERROR_LEVEL = "m"  # survives a glare or a smudge on the caregiver's screen
CODE_GROUP = 3  # "123 456" is read aloud and typed more easily than "123456"


def qr_svg(url: str, title: str) -> Markup:
    """An accessible inline SVG; segno escapes the title, and the rest is its own markup."""
    svg = segno.make(url, error=QR_ERROR_LEVEL).svg_inline(
        scale=QR_SCALE, title=title, svgclass="qr", lineclass=None, dark="#000", light="#fff"
    )
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704 - segno's own output


def spaced(code: str) -> str:
    return " ".join(code[i : i + CODE_GROUP] for i in range(0, len(code), CODE_GROUP))


async def panel(page: Page, user_id: str) -> dict[str, Any]:
    """What the person page's tablet panel shows: the just-made code (once) and the devices."""
    devices: list[DeviceRecord] = await page.services.devices.devices_of(user_id)
    pairing = None
    flash = page.session.pop_flash() if page.session else None
    if flash and flash.get("pairing") and flash["pairing"]["user_id"] == user_id:
        made = flash["pairing"]
        pairing = {
            "code": spaced(made["code"]),
            "url": made["url"],
            "expires_at": made["expires_at"],
            "qr": qr_svg(made["url"], page.t("devices.qr")),
        }
        flash = None
    return {
        "pairing": pairing,
        "minutes": int(PAIRING_CODE_TTL.total_seconds() // 60),
        "devices": [{"record": d, "live": len(page.services.sessions.of_device(d.id))} for d in devices],
        "flash": flash,
    }


@router.post("/people/{user_id}/pairings")
async def connect_tablet(page: PostDep, user_id: str) -> Response:
    await page.person(user_id)
    principal = page.principal
    made = await page.services.devices.create_pairing(
        user_id, created_by=principal.caregiver_id or principal.token_id
    )
    url = pairing_url(page.request, made.code)
    page.set_flash(
        pairing={"user_id": user_id, "code": made.code, "url": url, "expires_at": made.expires_at.isoformat()}
    )
    return page.redirect(f"{PREFIX}/people/{user_id}#tablets")


@router.post("/people/{user_id}/devices/{device_id}/disconnect")
async def disconnect_tablet(page: PostDep, user_id: str, device_id: str) -> Response:
    await page.person(user_id)
    try:
        await page.services.devices.revoke(user_id, device_id)
    except NotFound:
        page.set_flash(message=page.t("devices.gone"))
    else:
        page.set_flash(message=page.t("devices.disconnected"))
    return page.redirect(f"{PREFIX}/people/{user_id}#tablets")
