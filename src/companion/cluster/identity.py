"""Who this instance is, and the Redis connection every cluster part shares."""

from __future__ import annotations

import os
import socket

from redis.asyncio import Redis

from companion.settings import Settings

REDIS_SOCKET_TIMEOUT_S = 2.0  # a blinking Redis must not hold a save or a page for long
REDIS_CONNECT_TIMEOUT_S = 2.0


def instance_id(settings: Settings) -> str:
    """The configured name, or host name and process id: unique among processes on one machine too."""
    if settings.instance_id:
        return settings.instance_id
    host = socket.gethostname().split(".")[0][:40] or "host"
    return f"{host}-{os.getpid()}"


def redis_client(url: str) -> Redis:
    """One client (a connection pool) per process; strings in and out. Nothing connects until used."""
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=REDIS_SOCKET_TIMEOUT_S,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        health_check_interval=10,
    )
