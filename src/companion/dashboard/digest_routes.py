"""The page a digest e-mail's "stop these e-mails" link opens (``/digest/unsubscribe/{token}``).

As with the alert links: ``GET`` only shows the button (mail scanners open links), ``POST`` spends
the link and stops that contact's digest. No sign-in: the link is the credential, used once. The page
names only the address the e-mails go to, which its holder already knows.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from companion.conversations.digests import UNSUBSCRIBE, Unsubscribed
from companion.dashboard.ack_routes import PAGE_HEADERS, _env
from companion.services import Services

router = APIRouter(include_in_schema=False)

# state -> (HTTP status, Hebrew title, Hebrew text, English text); {contact} is the address
_PAGES: dict[str, tuple[int, str, str, str]] = {
    "valid": (
        200,
        "הפסקת הודעות הסיכום",
        "להפסיק לשלוח את הודעות הסיכום אל {contact}?",
        "Stop sending the summary e-mails to {contact}?",
    ),
    "done": (
        200,
        "ההודעות הופסקו",
        "בוצע: {contact} לא יקבל עוד הודעות סיכום. המשפחה יכולה להפעיל אותן שוב בפרופיל.",
        "Done: {contact} will get no more summary e-mails. The family can turn them on again in the profile.",
    ),
    "used": (
        410,
        "הקישור כבר שומש",
        "ההודעות כבר הופסקו.",
        "This link was already used; the e-mails are stopped.",
    ),
    "expired": (
        410,
        "תוקף הקישור פג",
        "אפשר להפסיק את ההודעות בפרופיל, בלוח הבקרה של המשפחה.",
        "This link has expired. The e-mails can be stopped in the profile, on the family's dashboard.",
    ),
    "unknown": (
        404,
        "הקישור לא נמצא",
        "ייתכן שהקישור הועתק חלקית.",
        "This link was not found; it may be incomplete.",
    ),
}


def page(result: Unsubscribed) -> HTMLResponse:
    status, title, hebrew, english = _PAGES[result.state]
    html = _env.get_template("unsubscribe.html").render(
        state=result.state,
        title=title,
        hebrew=hebrew.format(contact=result.contact),
        english=english.format(contact=result.contact),
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.get(UNSUBSCRIBE + "/{token}")
async def show(request: Request, token: str) -> HTMLResponse:
    return page(await _services(request).digests.state(token))


@router.post(UNSUBSCRIBE + "/{token}")
async def unsubscribe(request: Request, token: str) -> HTMLResponse:
    return page(await _services(request).digests.unsubscribe(token))
