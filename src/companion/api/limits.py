"""Request body limits, enforced before anything parses a body or checks a token.

``BodyLimit`` is plain ASGI so it sees a request before FastAPI reads it: a declared ``Content-Length``
over the route's limit is refused at once (413), one that is not a number is refused (400), and a body
without one (chunked) is counted as it streams in and refused as soon as the count passes the limit.
Either way the route never runs, the rest of the body is never read, and the connection is closed.
WebSocket upgrades and lifespan events pass through untouched.
"""

from __future__ import annotations

import re
from typing import Final

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from companion.api.errors import error_body

KIB: Final = 1024
# JSON API bodies; the largest of them besides sections, one memory with every character escaped, is ~25 KiB.
DEFAULT_LIMIT: Final = 64 * KIB
# A maximum-size section is 63 KiB as ASCII-escaped JSON and up to ~212 KiB if every character is an
# escaped surrogate pair (12 bytes each); twice that leaves room for indentation.
SECTION_LIMIT: Final = 512 * KIB
# Wizard steps and the conflict form carry a section percent-encoded: also up to 12 bytes a character.
FORM_LIMIT: Final = 512 * KIB

# (method, path pattern, limit): the first match wins, anything else gets DEFAULT_LIMIT.
ROUTE_LIMITS: Final[tuple[tuple[str, re.Pattern[str], int], ...]] = (
    ("PUT", re.compile(r"/api/users/[^/]+/[^/]+"), SECTION_LIMIT),
    ("POST", re.compile(r"/dashboard/people/[^/]+/(?:wizard/[^/]+|conflict)"), FORM_LIMIT),
)


def limit_for(method: str, path: str) -> int:
    for route_method, pattern, limit in ROUTE_LIMITS:
        if method == route_method and pattern.fullmatch(path):
            return limit
    return DEFAULT_LIMIT


class _BodyTooLarge(Exception):
    """Raised into the app from ``receive`` when a streamed body passes the limit (caught below)."""


def _too_large(limit: int) -> JSONResponse:
    message = f"The request body is too large: this address accepts at most {limit // KIB} KiB"
    return _reject(413, message, "body_too_large")


def _reject(status: int, message: str, code: str) -> JSONResponse:
    # Closing tells the server not to read (or wait for) the rest of a body nobody will use.
    return JSONResponse(
        error_body(status, message, code), status_code=status, headers={"Connection": "close"}
    )


def _declared_lengths(scope: Scope) -> list[bytes]:
    return [value.strip() for name, value in scope.get("headers", ()) if name.lower() == b"content-length"]


class BodyLimit:
    """Refuse request bodies over the route's limit before the app reads them (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["method"], scope["path"])
        declared = _declared_lengths(scope)
        if any(not value.isdigit() for value in declared):
            await _reject(
                400, "The Content-Length header must be a whole number of bytes", "invalid_content_length"
            )(scope, receive, send)
            return
        if any(int(value) > limit for value in declared):
            await _too_large(limit)(scope, receive, send)
            return
        await self._streamed(scope, receive, send, limit)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the app answers to the cut-off body, the answer is 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _too_large(limit)(scope, receive, send)


def install_limits(app: FastAPI) -> None:
    """Add ``BodyLimit`` to ``app`` once (a second call is a no-op)."""
    installed: list[object] = [m.cls for m in app.user_middleware]
    if BodyLimit not in installed:
        app.add_middleware(BodyLimit)
