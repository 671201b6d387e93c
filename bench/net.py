"""Lean clients for the load generator: keep-alive HTTP/1.1 and realtime WebSockets.

The HTTP client is a few lines over asyncio streams rather than httpx so that the load generator
spends microseconds, not a millisecond, per request: what is timed is the service, not the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

HTTP_TIMEOUT_S = 30.0  # a bulk of 1,000 saves on one core answers well within this
WS_OPEN_TIMEOUT_S = 30.0  # opening 1,000 sessions queues handshakes on the service
EVENT_TIMEOUT_S = 10.0  # any single awaited realtime event
MAX_FRAME_BYTES = 16 * 1024 * 1024
REOPEN_AFTER_IDLE_S = 2.0  # well inside uvicorn's 5 s keep-alive timeout


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; one request at a time.

    uvicorn closes a keep-alive connection after 5 s of silence, so one that has been idle for
    longer than ``REOPEN_AFTER_IDLE_S`` is reopened before the next request (never while timing it:
    the bench's timed requests follow each other closely).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        self._reader = reader
        self._writer = writer
        self._port = port
        self._host = f"127.0.0.1:{port}"
        self._last_used = time.monotonic()

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, port)

    async def fresh(self) -> None:
        """Reopen if the server may have closed this connection for being idle."""
        if time.monotonic() - self._last_used > REOPEN_AFTER_IDLE_S:
            await self.close()
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
            self._last_used = time.monotonic()

    @staticmethod
    def encode(method: str, path: str, host: str, headers: dict[str, str], body: Any = None) -> bytes:
        """The bytes of one request (built ahead of time when a burst must leave at once)."""
        payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(payload)}"]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload

    def prepare(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> bytes:
        return self.encode(method, path, self._host, headers, body)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> HttpResponse:
        await self.fresh()
        return await self.send_prepared(self.prepare(method, path, headers, body))

    async def send_prepared(self, raw: bytes) -> HttpResponse:
        self._writer.write(raw)
        return await asyncio.wait_for(self._read_response(), HTTP_TIMEOUT_S)

    def write(self, raw: bytes) -> None:
        self._writer.write(raw)

    async def read_response(self) -> HttpResponse:
        return await asyncio.wait_for(self._read_response(), HTTP_TIMEOUT_S)

    async def _read_response(self) -> HttpResponse:
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await self._reader.readexactly(length) if length else b""
        self._last_used = time.monotonic()
        return HttpResponse(status, headers, body)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class Realtime:
    """A realtime WebSocket (to the relay or straight to the engine) and the events it received."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, token: str | None = None) -> Realtime:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        ws = await connect(
            url,
            additional_headers=headers,
            open_timeout=WS_OPEN_TIMEOUT_S,
            ping_interval=None,  # the bench measures; keep-alives would only add noise
            max_size=MAX_FRAME_BYTES,
            compression=None,  # base64 audio does not compress; the relay's upstream leg has none either
        )
        client = cls(ws)
        await client.until("session.created")
        return client

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event, ensure_ascii=False))

    async def until(self, kind: str) -> dict[str, Any]:
        """Read until an event of ``kind``; an ``error`` on the way is a failure of the bench."""
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), EVENT_TIMEOUT_S)
            event: dict[str, Any] = json.loads(raw)
            if event.get("type") == kind:
                return event
            if event.get("type") == "error":
                raise RuntimeError(f"realtime error while waiting for {kind}: {event['error']}")

    async def close(self) -> None:
        await self.ws.close()
