"""The TLS settings of the service's outgoing HTTPS: alert webhooks, a chat model's API.

Reading the CA bundle costs about 40 ms of CPU; it is read once per process and the context is shared
by every client (an ``ssl.SSLContext`` may serve any number of connections at once)."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def client_tls() -> ssl.SSLContext:
    """httpx's own default: certificates verified against certifi's CA bundle."""
    return httpx.create_ssl_context()


__all__ = ["client_tls"]
