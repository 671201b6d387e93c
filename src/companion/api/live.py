"""``GET /v1/realtime``: the OpenAI Realtime protocol (GA shapes) for the elder's app or any SDK client.

Authentication: ``Authorization: Bearer <device token>``, or for browsers, which cannot set headers on
a WebSocket, the ``openai-insecure-api-key.<token>`` subprotocol. A device token speaks for its user;
an admin or caregiver token may open a session for a person it can see with ``?user=<userId>``.
The elder's page sends a single-use client secret (``ek_...``) in place of a token: the session then
carries its device's id, so revoking the device ends it. Only this socket accepts client secrets.
"""

from __future__ import annotations

import json
import logging
from contextlib import suppress
from datetime import datetime
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from companion.auth import Principal, Role
from companion.auth.principal import token_device_key
from companion.edge import page_origins
from companion.errors import CompanionError
from companion.realtime.endings import Ending
from companion.realtime.manager import Refusal
from companion.realtime.protocol import error_event
from companion.services import Services

log = logging.getLogger(__name__)
router = APIRouter()

KEY_SUBPROTOCOL = "openai-insecure-api-key."
GREET_VALUES = ("1", "true", "yes")  # ``?greet=1``: the companion speaks first (the elder's page asks)
REALTIME_PATH = "/v1/realtime"
REMINDER_ID_MAX = 200  # ``?reminder=<id>``: longer is no reminder id (it is only looked up, never shown)


class StarletteChannel:
    """The client side of a LiveSession over Starlette's WebSocket."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws

    async def receive(self) -> str | None:
        try:
            message = await self._ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is None and message.get("bytes") is not None:
            text = message["bytes"].decode("utf-8", "replace")
        return text or ""

    async def send(self, text: str) -> None:
        await self._ws.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        if self._ws.application_state is WebSocketState.CONNECTED:
            await self._ws.close(code, reason)


def _credentials(ws: WebSocket) -> tuple[str | None, str | None]:
    """(token, subprotocol to echo)."""
    scheme, _, value = ws.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), None
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    for proto in offered:
        if proto.startswith(KEY_SUBPROTOCOL):
            echo = "realtime" if "realtime" in offered else proto
            return proto[len(KEY_SUBPROTOCOL) :], echo
    return None, None


def _device_key(principal: Principal) -> str | None:
    """What the per-device limit counts: a paired tablet, or a device token (one per tablet)."""
    if principal.device_id is not None:
        return "device:" + principal.device_id
    if principal.role is Role.DEVICE:
        return token_device_key(principal.token_id)
    return None


def _expires_in_s(principal: Principal, now: datetime) -> float | None:
    """How long the credential that opened a conversation stays valid: the conversation ends then (a
    token's own expiry; for a paired tablet's one-time secret, ``DEVICE_SESSION_LIFETIME`` from its use,
    and revoking the tablet ends it sooner)."""
    if principal.expires_at is None:
        return None
    return (principal.expires_at - now).total_seconds()


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Non-browser clients send no Origin; a browser page must come from this host or the allow-list."""
    if origin is None:
        return True
    if origin in allowed or "*" in allowed:
        return True
    return host is not None and urlsplit(origin).netloc == host


@router.websocket(REALTIME_PATH)
async def realtime(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    if not origin_allowed(ws.headers.get("origin"), ws.headers.get("host"), page_origins(services.settings)):
        log.info("live session refused: origin %s not allowed", ws.headers.get("origin"))
        await ws.close(*Ending.REFUSED.close("origin not allowed").clipped())
        return
    token, subprotocol = _credentials(ws)
    try:
        principal = await services.auth.authenticate(token, allow_client_secret=True)
        if principal.role is Role.DEVICE:
            assert principal.user_id is not None
            user_id = principal.user_id
        else:
            user_id = ws.query_params.get("user", "")
        await services.auth.require_user(principal, user_id)
    except CompanionError as exc:
        await ws.close(*Ending.REFUSED.close(exc.message).clipped())
        return
    await ws.accept(subprotocol=subprotocol)
    greet = ws.query_params.get("greet", "").lower() in GREET_VALUES
    reminder = ws.query_params.get("reminder") or None  # opened from a reminder's card: greet with it
    channel = StarletteChannel(ws)
    session = services.sessions.admit(
        user_id,
        channel,
        device_key=_device_key(principal),
        greet=greet,
        device_id=principal.device_id,
        greet_reminder=reminder[:REMINDER_ID_MAX] if reminder else None,
        credential_expires_in_s=_expires_in_s(principal, services.auth.clock()),
    )
    if isinstance(session, Refusal):
        # Accepted only to say why: no session is registered and no model connection is opened.
        log.info("live session refused for user %s: %s", user_id, session.message)
        ending = Ending.TOO_MANY_SESSIONS
        with suppress(WebSocketDisconnect, RuntimeError):  # the client may already have gone
            await channel.send(
                json.dumps(error_event(ending.error_code, session.message, type="server_error"))
            )
            await channel.close(*ending.close().clipped())
        return
    if principal.device_id and not await services.devices.exists(principal.device_id):
        # Revoked between its secret being used and the session being listed: close_device missed it.
        # Close the socket and never start the session, so no model connection is opened for it.
        await session.close(Ending.DEVICE_REVOKED)
        services.sessions.discard(session)
        return
    await services.sessions.run(session)
