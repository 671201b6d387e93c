"""The checks of the address settings (``COMPANION_PUBLIC_URL``, ``COMPANION_TRUSTED_PROXIES``): pure
functions of a string, below the settings that run them (``edge.py`` uses the settings they checked)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def normalise_public_url(value: str) -> str:
    """``scheme://host[:port]`` with no trailing slash, or ValueError saying what is wrong.

    The service's pages and their scripts use absolute paths (``/app``, ``/dashboard``), so it must be
    served at the root of its address: a path prefix would give links that lead nowhere.
    """
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"must be an http or https address, e.g. https://care.example.org: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with https:// (or http:// for trying on one computer)")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. https://care.example.org")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("must not have a query (?...) or a fragment (#...)")
    if parts.path.strip("/"):
        raise ValueError(
            "must be the service's root address, without a path: serve it at its own host name or port"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default_port = 443 if parts.scheme == "https" else 80
    netloc = host if port is None or port == default_port else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}"


def normalise_proxy(value: str) -> str:
    """One trusted proxy: an IP address or a network (``10.0.0.0/8``), as uvicorn compares them."""
    entry = value.strip()
    try:
        if "/" in entry:
            return str(ipaddress.ip_network(entry, strict=False))
        return str(ipaddress.ip_address(entry))
    except ValueError:
        raise ValueError(
            f"{entry!r} is not an IP address or network; name the reverse proxy's address, "
            "e.g. 127.0.0.1 when it runs on the same machine"
        ) from None
