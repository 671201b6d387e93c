"""Response headers shared by the JSON API and the elder's pages."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Answers that carry a secret (a pairing code, a client secret) or say whether a code is live must not
# be kept by a browser's or a proxy's cache.
NO_STORE = {"Cache-Control": "no-store"}
# The elder's pages name the person or carry a code: never cached, and referrers stay on this origin.
# Not "no-referrer": under it Chromium posts their forms with "Origin: null", which the same-origin
# check must refuse.
PRIVATE_PAGE = {**NO_STORE, "Referrer-Policy": "same-origin"}
NOSNIFF = {"X-Content-Type-Options": "nosniff"}  # files are only ever what their Content-Type says

# Every answer under these prefixes may carry health data (or say whether a person exists).
NO_STORE_PREFIXES = ("/api/", "/realtime/")


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on every HTTP answer under ``NO_STORE_PREFIXES``, errors included
    (a route that sets its own Cache-Control keeps it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(NO_STORE_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)
