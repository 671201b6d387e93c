"""Response headers: the ones shared by the JSON API and the elder's pages, and the ones every answer
of the service carries (``SecurityHeaders``)."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Answers that carry a secret (a pairing code, a client secret) or say whether a code is live must not
# be kept by a browser's or a proxy's cache.
NO_STORE = {"Cache-Control": "no-store"}
# The elder's pages name the person or carry a code: never cached, and referrers stay on this origin.
# Not "no-referrer": under it Chromium posts their forms with "Origin: null", which the same-origin
# check must refuse.
PRIVATE_PAGE = {**NO_STORE, "Referrer-Policy": "same-origin"}
NOSNIFF = {"X-Content-Type-Options": "nosniff"}  # files are only ever what their Content-Type says

# Every answer under these prefixes may carry health data (or say whether a person exists); /metrics
# names how many conversations run and how the model answers.
NO_STORE_PREFIXES: Final = ("/api/", "/realtime/", "/metrics")
# A browser that reached the service over https once keeps to https for a year (the usual value, and
# what browsers' preload lists ask for): a later "http://" link or a hostile Wi-Fi cannot downgrade the
# tablet or a caregiver's sign-in. Without includeSubDomains: the service does not own its domain's
# other hosts, which may not all speak https.
HSTS: Final = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeaders:
    """On every HTTP answer: ``X-Content-Type-Options: nosniff``; ``Strict-Transport-Security`` when the
    request came over https (as uvicorn saw it, or as a trusted proxy said); ``Cache-Control: no-store``
    under ``NO_STORE_PREFIXES``. A route that sets one of them itself keeps its own value."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = [(b"x-content-type-options", b"nosniff")]
        if scope.get("scheme") == "https":
            added.append(HSTS)
        if str(scope.get("path", "")).startswith(NO_STORE_PREFIXES):
            added.append((b"cache-control", b"no-store"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in added if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_headers(app: FastAPI) -> None:
    """Wrap ``app``'s whole middleware stack in ``SecurityHeaders``, so that answers made outside the
    routes (a body limit's 413, Starlette's 500 for a crash) carry them too; a second call is a no-op."""
    build = app.build_middleware_stack
    if getattr(build, "_with_security_headers", False):
        return

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build())

    build_with_headers._with_security_headers = True  # type: ignore[attr-defined]
    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
