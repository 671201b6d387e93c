"""Tests that need an external service (PostgreSQL, Redis, Chromium, ...) share one rule:

* on a developer machine a missing service skips the test, so ``pytest`` stays useful without it;
* in CI (``CI=true``) it fails the test, so a broken service container cannot turn the suite green by
  silently skipping everything that needs it.
"""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require_service(name: str, reason: str) -> NoReturn:
    """Skip (developer machine) or fail (``CI=true``) because service ``name`` is missing."""
    message = f"{name} not reachable: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def tcp_unreachable(host: str, port: int, timeout: float = 1.0) -> str | None:
    """``None`` when something accepts TCP connections at ``host:port``, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc}"
