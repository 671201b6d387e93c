"""Request head and body limits, enforced before anything parses a body or checks a token.

``BodyLimit`` is plain ASGI so it sees a request before FastAPI reads it:

- a request head (request line and headers) over ``MAX_REQUEST_HEAD`` is refused (431; a WebSocket
  upgrade is refused before it is accepted). The server's own limit (h11's) holds only while a head is
  incomplete: one that arrives whole in a single read, of up to a read's size, was accepted. This check
  holds however the head arrived, and whichever HTTP implementation uvicorn runs;
- a declared ``Content-Length`` over the route's limit is refused at once (413), one that is not a number
  is refused (400), and a body without one (chunked) is counted as it streams in and refused as soon as
  the count passes the limit;
- a body that has not arrived whole within ``body_timeout_s`` of the request is cut (408): a client
  trickling a byte now and then (or stalling) would otherwise hold a connection and the route's task for
  as long as it likes. A deadline for the whole body, not for each read, so a trickle cannot reset it;
- a client that goes away before its body is complete is one line in the log, not a traceback.

Whenever a request is refused the route never runs, the rest of the body is never read, and the
connection is closed. Lifespan events pass through untouched, and WebSocket upgrades past the head check.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Final

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from companion.api.errors import error_body

log = logging.getLogger(__name__)

KIB: Final = 1024
# One request head (request line and every header) may be at most this large. h11's own default, and
# twice the 8 KiB line nginx allows: the dashboard cookie and a bearer token need far less.
MAX_REQUEST_HEAD: Final = 16 * KIB
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


# Uploads of the family's photos (several files of up to 20 MB each): the limit is a setting
# (``photo_upload_max_bytes``); the files stream to disk as they arrive, never whole into memory.
UPLOAD_ROUTES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("POST", re.compile(r"/api/users/[^/]+/photos")),
    ("POST", re.compile(r"/dashboard/people/[^/]+/photos")),
)


def limit_for(method: str, path: str, upload_limit: int = DEFAULT_LIMIT) -> int:
    for route_method, pattern, limit in ROUTE_LIMITS:
        if method == route_method and pattern.fullmatch(path):
            return limit
    for route_method, pattern in UPLOAD_ROUTES:
        if method == route_method and pattern.fullmatch(path):
            return max(upload_limit, DEFAULT_LIMIT)
    return DEFAULT_LIMIT


class _BodyTooLarge(Exception):
    """Raised into the app from ``receive`` when a streamed body passes the limit (caught below)."""


class _BodyTimedOut(Exception):
    """Raised into the app from ``receive`` when a body is not in by its deadline (caught below)."""


def head_size(scope: Scope) -> int:
    """The request head's size as sent: ``METHOD target HTTP/x\r\n``, ``name: value\r\n`` each, the
    blank line (the server has already split it up; this adds it back together)."""
    target = len(scope.get("raw_path") or scope.get("path", "").encode()) + len(
        scope.get("query_string", b"")
    )
    line = len(scope.get("method", "GET")) + 1 + target + 1 + 8 + 2
    if scope.get("query_string"):
        line += 1  # the "?"
    return line + sum(len(name) + 2 + len(value) + 2 for name, value in scope.get("headers", ())) + 2


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
    """Refuse request heads and bodies over their limits, and bodies that stall, before the app reads
    them (see the module doc)."""

    def __init__(self, app: ASGIApp, *, body_timeout_s: float, upload_limit: int = DEFAULT_LIMIT) -> None:
        self.app = app
        self.body_timeout_s = body_timeout_s
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if head_size(scope) > MAX_REQUEST_HEAD:
            await self._head_too_large(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["method"], scope["path"], self.upload_limit)
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

    async def _head_too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        log.info("request head over %d KiB refused: %s", MAX_REQUEST_HEAD // KIB, scope.get("path", ""))
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1009})  # before accepting: the server says 403
            return
        message = f"The request's headers are too large: at most {MAX_REQUEST_HEAD // KIB} KiB in all"
        await _reject(431, message, "headers_too_large")(scope, receive, send)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        received = 0
        refused: type[Exception] | None = None  # _BodyTooLarge or _BodyTimedOut, once raised
        complete = False  # the whole body has arrived: what comes next is a wait for a disconnect
        gone = False  # the client went away before its body was complete
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused, complete, gone
            if refused is not None:
                return {"type": "http.disconnect"}
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                refused = _BodyTimedOut
                raise _BodyTimedOut from None
            if message["type"] == "http.disconnect":
                gone = True
            elif message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > limit:
                    refused = _BodyTooLarge
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused is not None and not started:
                return  # whatever the app answers to the cut-off body, the answer is 413 or 408
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except ClientDisconnect:
            if not gone:
                raise
        except Exception:
            if refused is None:
                raise
        if gone:
            # Not an error of ours: a tablet on a failing network, a closed browser tab.
            log.info(
                "client went away mid-body: %s %s after %d bytes", scope["method"], scope["path"], received
            )
        elif refused is _BodyTimedOut and not started:
            log.info(
                "request body not in after %g s: %s %s", self.body_timeout_s, scope["method"], scope["path"]
            )
            message = f"The request body did not arrive within {self.body_timeout_s:g} seconds"
            await _reject(408, message, "body_timeout")(scope, receive, send)
        elif refused is _BodyTooLarge and not started:
            await _too_large(limit)(scope, receive, send)


def install_limits(app: FastAPI, *, body_timeout_s: float, upload_limit: int = DEFAULT_LIMIT) -> None:
    """Add ``BodyLimit`` to ``app`` once (a second call is a no-op)."""
    installed: list[object] = [m.cls for m in app.user_middleware]
    if BodyLimit not in installed:
        app.add_middleware(BodyLimit, body_timeout_s=body_timeout_s, upload_limit=upload_limit)
