"""The page an alert's acknowledgement link opens (``/ack/{token}``), and its one button.

``GET`` only shows the button (mail scanners and chat previews open links; they must not acknowledge
anything); ``POST`` spends the link and acknowledges the alert, which stops its escalation. The page
names nobody and shows nothing of the alert: whoever holds the link sees it, and the message it came
in already said what happened. The token is the only credential (no cookie, so no cross-site request
can use it); it is kept out of the access log and of referrers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from companion.care.acks import LinkOutcome, LinkState
from companion.services import Services

ACK: Final = "/ack"
TOKEN_PATHS: Final = (ACK, "/digest/unsubscribe")  # paths whose last part is a link's token
PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the path
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}

router = APIRouter(include_in_schema=False)

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
)

# state -> (HTTP status, Hebrew title, Hebrew text, English text)
_PAGES: dict[LinkState | LinkOutcome, tuple[int, str, str, str]] = {
    "valid": (
        200,
        "אישור קבלת ההתראה",
        "לחצו על הכפתור כדי לאשר שראיתם את ההתראה ושאתם מטפלים בה. "
        "אחרי האישור ההתראה לא תישלח לאנשי קשר נוספים.",
        "Press the button to confirm you have seen the alert and are taking care of it. Once confirmed, "
        "it is not sent on to further contacts.",
    ),
    "acknowledged": (
        200,
        "תודה, האישור התקבל",
        "ההתראה סומנה כמטופלת, והמשפחה רואה זאת בלוח הבקרה.",
        "Thank you. The alert is marked as being taken care of, and the family sees it on the dashboard.",
    ),
    "used": (
        410,
        "הקישור כבר שומש",
        "כל קישור מאשר פעם אחת בלבד. אפשר לראות את ההתראה בלוח הבקרה של המשפחה.",
        "This link was already used: each link confirms once. The alert is on the family's dashboard.",
    ),
    "expired": (
        410,
        "תוקף הקישור פג",
        "אפשר לראות את ההתראה ולאשר אותה בלוח הבקרה של המשפחה.",
        "This link has expired. The alert can be seen and confirmed on the family's dashboard.",
    ),
    "unknown": (
        404,
        "הקישור לא נמצא",
        "ייתכן שהקישור הועתק חלקית. נסו לפתוח אותו שוב מההודעה.",
        "This link was not found; it may have been copied only in part. Open it again from the message.",
    ),
}


class _RedactAckPaths(logging.Filter):
    """The access log would otherwise keep every link's token."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        path = args[2] if isinstance(args, tuple) and len(args) >= 3 else None
        for prefix in TOKEN_PATHS:
            if isinstance(args, tuple) and isinstance(path, str) and path.startswith(prefix + "/"):
                record.args = (*args[:2], prefix + "/<token>", *args[3:])
        return True


def _redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactAckPaths) for f in access.filters):
        access.addFilter(_RedactAckPaths())


_redact_access_log()


def ack_page(state: LinkState | LinkOutcome) -> HTMLResponse:
    status, title, hebrew, english = _PAGES[state]
    html = _env.get_template("ack.html").render(state=state, title=title, hebrew=hebrew, english=english)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.get(ACK + "/{token}")
async def show(request: Request, token: str) -> HTMLResponse:
    state = await _services(request).alerts.links.state(token)
    return ack_page(state)


@router.post(ACK + "/{token}")
async def acknowledge(request: Request, token: str) -> HTMLResponse:
    result = await _services(request).alerts.links.use(token)
    return ack_page(result.outcome)
