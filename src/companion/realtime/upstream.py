"""Connections to the realtime model: OpenAI, Azure OpenAI (GA and preview), or the offline engine.

The rest of the relay speaks GA event shapes only; a connection made to a preview (beta) endpoint
translates on the way out and on the way in, so nothing above this module knows which dialect is on
the wire. Third-party errors are translated here into ``UpstreamError``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import DATA_OPCODES, Frame
from websockets.protocol import Event, State

from companion.errors import UpstreamError
from companion.realtime import protocol
from companion.realtime.protocol import Dialect
from companion.settings import Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0  # a realtime handshake that takes longer than this is not going to be usable
PING_INTERVAL_S = 20.0  # keeps NATs and proxies from dropping a quiet conversation
PING_TIMEOUT_S = 20.0  # an upstream that misses a pong for this long is gone
MAX_FRAME_BYTES = 16 * 1024 * 1024  # session.updated for a maximum-size prompt plus audio chunks fit well
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


class LeanClientConnection(ClientConnection):
    """websockets' client connection, holding no message once it has been handed on.

    Its parser keeps the last frame it parsed until the next one arrives; on a quiet conversation that
    is the start's ``session.updated`` (~15 KB: the whole instructions, the tools, the settings), kept
    for as long as the conversation stays quiet. Each data frame's payload is handed on in a frame of
    its own, and the parser's frame is left empty.
    """

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.opcode in DATA_OPCODES:
            payload, event.data = event.data, b""
            event = dataclasses.replace(event, data=payload)
        super().process_event(event)

    def write_now(self, text: str) -> bool:
        """Write one text message at once, as ``send()`` would, when nothing stands in the way: the
        connection open, no fragmented message under way, the write buffer below its high-water mark.
        False otherwise, having sent nothing: ``send()`` then waits, closes and raises as websockets
        does. ``send()`` wraps every message in an async context manager that costs about as much as
        framing and writing it; for a 20 ms audio frame that is most of the relay's own share."""
        if (
            self.send_in_progress is not None
            or self.paused
            or self.protocol.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        self.protocol.send_text(text.encode())
        try:
            self.send_data()
        except Exception as exc:  # as send(): the connection is over
            self.set_connection_exc(exc)
            self.transport.abort()
            raise websockets.ConnectionClosedError(None, None) from exc
        return True


class WebSocketUpstream:
    def __init__(self, ws: ClientConnection, dialect: Dialect) -> None:
        self._ws = ws
        self._dialect = dialect

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
        if not isinstance(self._ws, LeanClientConnection):
            return False
        try:
            return self._ws.write_now(self._text(event, frame))
        except websockets.ConnectionClosed as exc:
            raise _closed(exc) from exc

    async def recv(self) -> list[dict[str, Any]]:
        try:
            raw = await self._ws.recv()
        except websockets.ConnectionClosed as exc:
            raise UpstreamError("The realtime model closed the connection") from exc
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
            ws = await connect(
                self.target.url,
                additional_headers=headers,
                open_timeout=CONNECT_TIMEOUT_S,
                ping_interval=PING_INTERVAL_S,
                ping_timeout=PING_TIMEOUT_S,
                max_size=MAX_FRAME_BYTES,
                compression=None,
                create_connection=LeanClientConnection,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            raise UpstreamError(
                f"Could not connect to the realtime model at {self.description}: {exc}"
            ) from exc
        ws.request = None  # the handshake's request (its headers, the credentials among them) is done with
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
