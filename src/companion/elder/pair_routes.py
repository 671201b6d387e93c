"""Pairing a browser as a device of one person (``/app/pair``) and the page's client secrets
(``/app/session``).

A code is redeemed only by ``POST /app/pair`` (form field ``code``): typed on ``/app``, or sent by the
one big button of the page its link shows (``GET /app/pair/{code}``, what the QR code opens). Opening
the link never uses the code: chat apps' link previews and browsers' prefetchers fetch links, and would
otherwise use the code up and carry off a long-lived device cookie. That page names nobody (whoever
has the link sees it) and does not say whether the code is live (it would be a guessing oracle outside
the lock-out). Success sets the device cookie and lands on ``/app``; a failure pairs nobody and answers
a short page in Hebrew and English with the way back to ``/app``. Codes are in the link's path, so the
access log's copy of such paths is redacted here. When the shared failure counters (Redis, in cluster
mode) cannot be reached, no code is tried: the answer is 503 with the usual JSON error body and
``Retry-After``.
"""

from __future__ import annotations

import logging
import math
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from companion.api.device_auth import (
    DEVICE_COOKIE,
    DeviceIdentity,
    check_same_origin,
    require_device,
    services_of,
    set_device_cookie,
)
from companion.api.errors import error_body
from companion.api.headers import NO_STORE, PRIVATE_PAGE
from companion.api.live import REALTIME_PATH
from companion.api.paths import APP, PAIR, SESSION
from companion.auth.device_secrets import (
    PAIRING_CODE_DIGITS,
    PAIRING_CODE_TTL,
    normalise_pairing_code,
)
from companion.auth.shared_state import UNAVAILABLE_RETRY_S
from companion.auth.throttle import client_address
from companion.errors import ClusterUnavailable, Forbidden

log = logging.getLogger(__name__)
router = APIRouter(tags=["elder"])  # the pages stay out of the API document; /app/session is in it

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
TTL_MINUTES = int(PAIRING_CODE_TTL.total_seconds() // 60)
# /app/session's answer, for the API document (the route builds a plain dict).
SESSION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A single-use client secret for one live conversation at realtimeUrl",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["clientSecret", "expiresAt", "realtimeUrl", "userId", "deviceId"],
                    "properties": {
                        "clientSecret": {"type": "string"},
                        "expiresAt": {"type": "string", "format": "date-time"},
                        "realtimeUrl": {"type": "string"},
                        "userId": {"type": "string"},
                        "deviceId": {"type": "string"},
                    },
                }
            }
        },
    }
}

# outcome -> (HTTP status, Hebrew title, Hebrew text, English text)
_FAILURES: dict[str, tuple[int, str, str, str]] = {
    "unknown": (
        404,
        "הקוד לא נמצא",
        "בדקו את הספרות, או בקשו מהמשפחה קוד חדש.",
        "This code was not found. Check the digits, or ask the family for a new code.",
    ),
    "used": (
        410,
        "הקוד כבר שומש",
        "כל קוד מחבר מכשיר אחד בלבד. בקשו מהמשפחה קוד חדש.",
        "This code was already used: a code connects one device only. Ask the family for a new code.",
    ),
    "expired": (
        410,
        "תוקף הקוד פג",
        f"קוד תקף {TTL_MINUTES} דקות. בקשו מהמשפחה קוד חדש.",
        f"This code has expired (a code lasts {TTL_MINUTES} minutes). Ask the family for a new code.",
    ),
    "invalid": (
        422,
        "הקוד לא תקין",
        f"קוד מורכב מ-{PAIRING_CODE_DIGITS} ספרות.",
        f"A code has {PAIRING_CODE_DIGITS} digits.",
    ),
    "locked": (
        429,
        "יותר מדי ניסיונות",
        "הוקלדו יותר מדי קודים שגויים. נסו שוב בעוד {minutes} דקות.",
        "Too many wrong codes were tried from here. Try again in {minutes} minutes.",
    ),
    "forbidden": (
        403,
        "הבקשה נדחתה",
        "אפשר לחבר את המכשיר רק מהדף של השירות עצמו.",
        "A device can be connected only from this service's own page.",
    ),
}


class _RedactPairingPaths(logging.Filter):
    """The access log would otherwise keep every pairing link's code."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        path = args[2] if isinstance(args, tuple) and len(args) >= 3 else None
        if isinstance(args, tuple) and isinstance(path, str) and path.startswith(PAIR + "/"):
            record.args = (*args[:2], PAIR + "/<code>", *args[3:])
        return True


def _redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactPairingPaths) for f in access.filters):
        access.addFilter(_RedactPairingPaths())


_redact_access_log()


_STYLE = """
body { font: 1.4rem/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 36rem; padding: 0 1rem;
  background: #fff; color: #111; }
h1 { font-size: 2.2rem; }
a.back, button.connect { display: inline-block; margin-top: 1rem; padding: .8rem 1.6rem; background: #0b57d0;
  color: #fff; border: 0; border-radius: .6rem; text-decoration: none; font: inherit; font-size: 1.6rem; }
button.connect { display: block; width: 100%; min-height: 5rem; font-size: 2.2rem; cursor: pointer; }
.en { color: #444; font-size: 1.1rem; }
"""


def _page(title: str, body: str, *, status: int, headers: dict[str, str] | None = None) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="he" dir="rtl">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{escape(title)}</title>
<style>{_STYLE}</style></head>
<body>
{body}
</body></html>
"""
    merged = {**PRIVATE_PAGE, "Content-Security-Policy": PAGE_CSP, **(headers or {})}
    return HTMLResponse(html, status_code=status, headers=merged)


def failure_page(outcome: str, *, retry_after_s: float = 0.0) -> HTMLResponse:
    status, title, hebrew, english = _FAILURES[outcome]
    minutes = max(1, math.ceil(retry_after_s / 60))
    body = f"""<main id="pair-result" data-outcome="{escape(outcome)}" data-field="code">
<h1>{escape(title)}</h1>
<p>{escape(hebrew.format(minutes=minutes))}</p>
<p class="en" lang="en" dir="ltr">{escape(english.format(minutes=minutes))}</p>
<a class="back" href="{APP}">חזרה לדף הבית</a>
</main>"""
    headers = {"Retry-After": str(max(1, math.ceil(retry_after_s)))} if outcome == "locked" else None
    return _page(title, body, status=status, headers=headers)


def confirm_page(code: str) -> HTMLResponse:
    """What the link shows: one button that posts the code. Names nobody, says nothing of the code."""
    title = "חיבור הטאבלט"
    body = f"""<main id="pair-confirm">
<h1>{title}</h1>
<p>לחצו על הכפתור כדי לחבר את הטאבלט הזה לשיחות עם המלווה.</p>
<p class="en" lang="en" dir="ltr">Press the button to connect this tablet to the companion.</p>
<form id="pair-link" method="post" action="{PAIR}">
<input type="hidden" name="code" value="{escape(code)}">
<button class="connect" type="submit">חיבור הטאבלט <span lang="en" dir="ltr">(Connect)</span></button>
</form>
</main>"""
    return _page(title, body, status=200)


async def _same_origin(request: Request) -> None:
    check_same_origin(request)


def unavailable(exc: ClusterUnavailable) -> JSONResponse:
    return JSONResponse(
        error_body(exc.status, exc.message, exc.code, exc.field, **exc.extra),
        status_code=exc.status,
        headers={**NO_STORE, "Retry-After": str(UNAVAILABLE_RETRY_S)},
    )


async def _pair(request: Request, raw_code: str) -> Response:
    services = services_of(request)
    try:
        attempt = await services.devices.redeem(
            raw_code,
            client=client_address(request),
            user_agent=request.headers.get("user-agent"),
            previous_cookie=request.cookies.get(DEVICE_COOKIE),
        )
    except ClusterUnavailable as exc:
        log.warning("pairing refused: %s", exc.message)
        return unavailable(exc)
    if attempt.outcome != "paired" or attempt.cookie is None:
        return failure_page(attempt.outcome, retry_after_s=attempt.retry_after_s)
    response = RedirectResponse(APP, status_code=303, headers=PRIVATE_PAGE)
    set_device_cookie(request, response, attempt.cookie)
    return response


@router.get(PAIR + "/{code}", include_in_schema=False)
async def pair_by_link(code: str) -> Response:
    """Only shows the button that pairs: a GET must not use the code (see the module's docstring)."""
    normalised = normalise_pairing_code(code)
    if normalised is None:
        return failure_page("invalid")
    return confirm_page(normalised)


@router.post(PAIR, include_in_schema=False)
async def pair_by_code(request: Request) -> Response:
    try:
        check_same_origin(request)
    except Forbidden:
        return failure_page("forbidden")
    form = await request.form()
    raw = form.get("code")
    return await _pair(request, raw if isinstance(raw, str) else "")


@router.post(SESSION, dependencies=[Depends(_same_origin)], responses=SESSION_RESPONSES)
async def client_secret(
    request: Request, device: Annotated[DeviceIdentity, Depends(require_device)]
) -> JSONResponse:
    """A single-use secret that opens one live session within a minute (as OpenAI's ephemeral keys)."""
    secret = await services_of(request).devices.issue_client_secret(device.device_id)
    return JSONResponse(
        {
            "clientSecret": secret.value,
            "expiresAt": secret.expires_at.isoformat(),
            "realtimeUrl": REALTIME_PATH,
            "userId": device.user_id,
            "deviceId": device.device_id,
        },
        headers=NO_STORE,
    )
