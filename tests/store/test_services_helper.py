"""The skip-or-fail rule in ``tests/services.py`` that every external-service test relies on."""

from __future__ import annotations

import socket

import pytest

from services import require_service, tcp_unreachable


def test_missing_service_skips_on_a_developer_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Redis not reachable: nope"):
        require_service("Redis", "nope")


@pytest.mark.parametrize("value", ["true", "TRUE", " true "])
def test_missing_service_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="Chromium not reachable"):
        require_service("Chromium", "no binary")


def test_tcp_reachability() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert tcp_unreachable("127.0.0.1", port) is None
    assert tcp_unreachable("127.0.0.1", 1) is not None
