"""A bare WebSocket forwarder: the relay scenario's baseline, never part of the product.

Each client connection gets one connection to the engine; every message is passed on as it came, in
both directions, with no parsing, no checks and no queue of its own. Whatever the relay costs above
this is the price of what it does (authentication, the allow-list, server-managed instructions,
refreshes, the mirror, reconnection), which is what the bench wants to see as a ratio.

The same library as the relay's upstream leg (websockets), the same options (no compression, no
keep-alive pings: the bench's clients send none either), the same event loop.
"""

from __future__ import annotations

import asyncio
import contextlib

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

MAX_FRAME_BYTES = 16 * 1024 * 1024  # as the relay's: a maximum-size session.updated fits


Connection = ServerConnection | ClientConnection


async def _pump(source: Connection, sink: Connection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in source:
            await sink.send(message)


async def _forward(client: ServerConnection, upstream_url: str) -> None:
    async with connect(upstream_url, compression=None, ping_interval=None, max_size=MAX_FRAME_BYTES) as model:
        pumps = {asyncio.create_task(_pump(client, model)), asyncio.create_task(_pump(model, client))}
        _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def start(upstream_url: str, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Listen; every connection is forwarded to ``upstream_url``."""

    async def handler(client: ServerConnection) -> None:
        await _forward(client, upstream_url)

    return await serve(
        handler,
        host,
        port,
        compression=None,
        ping_interval=None,
        max_size=MAX_FRAME_BYTES,
        backlog=4096,  # 1,000 clients connect in bursts
    )
