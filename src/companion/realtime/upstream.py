"""Connections to the realtime model: OpenAI, Azure OpenAI (GA and preview), or the offline engine.

The rest of the relay speaks GA event shapes only; a connection made to a preview (beta) endpoint
translates on the way out and on the way in, so nothing above this module knows which dialect is on
the wire. Third-party errors are translated here into ``UpstreamError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import websockets

from companion.errors import UpstreamError
from companion.realtime import protocol
from companion.realtime.modelsocket import ModelSocket, open_model_socket
from companion.realtime.protocol import Dialect
from companion.settings import Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0  # a realtime handshake that takes longer than this is not going to be usable
PING_INTERVAL_S = 20.0  # keeps NATs and proxies from dropping a quiet conversation
PING_TIMEOUT_S = 20.0  # an upstream that misses a pong for this long is gone
MAX_FRAME_BYTES = 16 * 1024 * 1024  # session.updated for a maximum-size prompt plus audio chunks fit well
# A message at least this long is followed by a ping (see ``WebSocketUpstream.recv``): below it, what
# a quiet connection keeps is small next to an idle session's ~80 KB; above it are session.updated
# (the whole instructions) and the longer response.done, which a conversation often goes quiet after.
RELEASE_AFTER_CHARS = 4096
AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
TokenProvider = Callable[[], Awaitable[str]]
OFFLINE_ENGINE_MISSING = "The offline engine is not running and COMPANION_UPSTREAM_URL is not set"


class UpstreamConnection(Protocol):
    """One realtime conversation with the model, in GA shapes."""

    async def send(self, event: dict[str, Any], *, frame: str | None = None) -> None:
        """Send ``event``; ``frame`` is its JSON text as a GA client wrote it, if already at hand."""
        ...

    def send_now(self, event: dict[str, Any], *, frame: str | None = None) -> bool:
        """Send ``event`` without waiting when nothing stands in the way (the usual case); False when
        the caller must ``await send()`` instead (nothing was sent). Raises UpstreamError as ``send``."""
        ...

    async def recv(self) -> list[dict[str, Any]]:
        """The next server event(s) (a beta event may translate to several); raises UpstreamError on close."""
        ...

    async def close(self) -> None: ...

    @property
    def close_info(self) -> tuple[int | None, str]: ...


class Connector(Protocol):
    async def connect(self) -> UpstreamConnection: ...

    @property
    def description(self) -> str: ...


@dataclass(slots=True)
class Target:
    """Where and how to connect: the URL, the headers, and which dialect is spoken there."""

    url: str
    dialect: Dialect = "ga"
    headers: dict[str, str] = field(default_factory=dict)


class WebSocketUpstream:
    """A WebSocket to the model (``modelsocket.ModelSocket``), in GA shapes."""

    def __init__(self, ws: ModelSocket, dialect: Dialect) -> None:
        self._ws = ws
        self._dialect = dialect
        self._pong: asyncio.Future[None] | None = None  # the answer to our last release ping

    def _text(self, event: dict[str, Any], frame: str | None) -> str:
        if self._dialect == "beta":
            return protocol.dump_event(protocol.client_event_ga_to_beta(event))
        return frame if frame is not None else protocol.dump_event(event)

    async def send(self, event: dict[str, Any], *, frame: str | None = None) -> None:
        try:
            await self._ws.send(self._text(event, frame))
        except websockets.ConnectionClosed as exc:
            raise _closed(exc) from exc

    def send_now(self, event: dict[str, Any], *, frame: str | None = None) -> bool:
        try:
            return self._ws.write_now(self._text(event, frame))
        except websockets.ConnectionClosed as exc:
            raise _closed(exc) from exc

    async def recv(self) -> list[dict[str, Any]]:
        try:
            raw = await self._ws.recv()
        except websockets.ConnectionClosed as exc:
            raise UpstreamError("The realtime model closed the connection") from exc
        if len(raw) >= RELEASE_AFTER_CHARS:
            self._release()
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        try:
            event = json.loads(raw)
        except ValueError:
            log.warning("upstream sent a frame that is not JSON; ignored")
            return []
        if not isinstance(event, dict):
            return []
        return protocol.server_event_beta_to_ga(event) if self._dialect == "beta" else [event]

    def _release(self) -> None:
        """Ask for a pong, so that a long message is not kept while the conversation is quiet.

        websockets' reader holds the last frame it read until the next one arrives; after the start's
        ``session.updated`` (~15 KB on a realistic profile) the next may be a keepalive pong 20 s later.
        The model answers a ping at once (RFC 6455 requires it), and its pong is that next frame. One
        ping at a time: the pong of one still on its way comes after this message as well."""
        if self._pong is not None and not self._pong.done():
            return
        with contextlib.suppress(websockets.ConnectionClosed):  # the next recv() reports the close
            self._pong = self._ws.ping()

    async def close(self) -> None:
        await self._ws.close()

    @property
    def close_info(self) -> tuple[int | None, str]:
        return self._ws.close_code, self._ws.close_reason or ""


def _closed(exc: websockets.ConnectionClosed) -> UpstreamError:
    return UpstreamError(f"The realtime model connection is closed ({exc.rcvd or 'no close frame'})")


class WebSocketConnector:
    """Opens a WebSocket to a ``Target``; an optional token provider supplies fresh bearer tokens.

    Built once per service and shared by every conversation; ``aclose`` releases what the token
    provider holds (``on_close``) when the service closes.
    """

    def __init__(
        self,
        target: Target,
        *,
        token_provider: TokenProvider | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.target = target
        self._token_provider = token_provider
        self._on_close = on_close

    async def aclose(self) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            await on_close()

    @property
    def description(self) -> str:
        return f"{self.target.url.split('?')[0]} ({self.target.dialect})"

    async def connect(self) -> UpstreamConnection:
        headers = dict(self.target.headers)
        if self._token_provider is not None:
            headers["Authorization"] = f"Bearer {await self._token_provider()}"
        try:
            ws = await open_model_socket(
                self.target.url,
                headers,
                open_timeout=CONNECT_TIMEOUT_S,
                ping_interval=PING_INTERVAL_S,
                ping_timeout=PING_TIMEOUT_S,
                max_size=MAX_FRAME_BYTES,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            raise UpstreamError(
                f"Could not connect to the realtime model at {self.description}: {exc}"
            ) from exc
        return WebSocketUpstream(ws, self.target.dialect)


class NoEngineConnector(WebSocketConnector):
    """The local upstream in a service built without its offline engine: each connection fails clearly."""

    def __init__(self) -> None:
        super().__init__(Target(url=""))

    @property
    def description(self) -> str:
        return "the offline engine (not running)"

    async def connect(self) -> UpstreamConnection:
        raise UpstreamError(OFFLINE_ENGINE_MISSING)


def openai_target(settings: Settings, api_key: str) -> Target:
    base = settings.upstream_url or "wss://api.openai.com/v1/realtime"
    url = f"{base}?{urlencode({'model': settings.upstream_model})}"
    # GA never gets an OpenAI-Beta header: the server would close with beta_api_shape_disabled.
    return Target(url=url, dialect="ga", headers={"Authorization": f"Bearer {api_key}"})


def azure_target(settings: Settings, api_key: str | None) -> Target:
    """Azure URL forms (mixing them gives 404).

    GA: ``/openai/v1/realtime?model=``;
    preview (api-version set): ``/openai/realtime?api-version=&deployment=``.
    """
    if not settings.upstream_url:
        raise UpstreamError(
            "COMPANION_UPSTREAM_URL must name the Azure resource, e.g. wss://myres.openai.azure.com"
        )
    base = settings.upstream_url.rstrip("/")
    for suffix in ("/openai/v1/realtime", "/openai/realtime"):
        base = base.removesuffix(suffix)
    headers = {"api-key": api_key} if api_key else {}
    if settings.azure_api_version:
        query = urlencode({"api-version": settings.azure_api_version, "deployment": settings.upstream_model})
        return Target(url=f"{base}/openai/realtime?{query}", dialect="beta", headers=headers)
    query = urlencode({"model": settings.upstream_model})
    return Target(url=f"{base}/openai/v1/realtime?{query}", dialect="ga", headers=headers)


def entra_token_provider() -> tuple[TokenProvider, Callable[[], Awaitable[None]]]:
    """Bearer tokens from Microsoft Entra ID (managed identity, CLI login, ...), via azure-identity.

    One credential (and so one token cache) for the whole service; the second value closes it.
    """
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise UpstreamError(
            "Azure without an API key needs azure-identity: pip install 'companion[azure]'"
        ) from exc
    credential = DefaultAzureCredential()

    async def provide() -> str:
        token = await credential.get_token(AZURE_SCOPE)
        return str(token.token)

    return provide, credential.close


def connector_from_settings(settings: Settings, *, local_url: str | None = None) -> WebSocketConnector:
    """The connector the settings ask for; ``local_url`` is the in-process offline engine's address.

    Called once when the service starts, so missing or contradictory settings stop the start.
    """
    key = settings.upstream_api_key.get_secret_value() if settings.upstream_api_key else None
    if settings.upstream == "local":
        url = settings.upstream_url or local_url
        if not url:
            return NoEngineConnector()  # built without ``live`` (tests, tools): only a conversation fails
        sep = "&" if "?" in url else "?"
        return WebSocketConnector(Target(url=f"{url}{sep}{urlencode({'model': settings.upstream_model})}"))
    if settings.upstream == "openai":
        if not key:
            raise UpstreamError("COMPANION_UPSTREAM_API_KEY is required for the OpenAI upstream")
        return WebSocketConnector(openai_target(settings, key))
    target = azure_target(settings, key)
    if key:
        return WebSocketConnector(target)
    provide, close = entra_token_provider()
    return WebSocketConnector(target, token_provider=provide, on_close=close)
