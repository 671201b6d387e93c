"""Behind a reverse proxy: forwarded headers are believed from the trusted proxies only.

A real uvicorn server configured by ``server_config`` with the service's edge settings (as ``companion
serve`` runs it), and plain HTTP requests from 127.0.0.1 playing the proxy (or a client pretending to
be one). What the headers decide is seen where it matters: whether the tablet's cookie is ``Secure``
(the scheme, from ``X-Forwarded-Proto``) and which address the pairing lock-out counts a wrong code
under (the client, from ``X-Forwarded-For``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from companion.app import create_app
from companion.cli import server_config
from companion.elder.devices import MAX_FAILED_PAIRINGS_PER_CLIENT
from companion.settings import Settings
from tests.api.test_limits import free_port

ADMIN = "proxy-admin-token"
USER = "user-behind-proxy"
PUBLIC = "https://care.example.org"
START_TIMEOUT_S = 20.0
UNKNOWN_CODE = "000000"  # six digits no pairing was made with
GUESSER = "203.0.113.7"
NEIGHBOUR = "198.51.100.9"


@contextmanager
def serving(tmp_path: Path, trusted: list[str]) -> Iterator[httpx.Client]:
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN, public_url=PUBLIC, trusted_proxies=trusted)
    port = free_port()
    server = uvicorn.Server(server_config(create_app(settings), "127.0.0.1", port, edge=settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            created = http.post(
                "/api/users", json={"userId": USER}, headers={"Authorization": f"Bearer {ADMIN}"}
            )
            assert created.status_code == 201, created.text
            yield http
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)


def device_cookie_over(http: httpx.Client, proto: str) -> str:
    """Pair with a fresh code, as a request the proxy forwarded from ``proto``; the Set-Cookie line."""
    made = http.post(f"/api/users/{USER}/pairings", headers={"Authorization": f"Bearer {ADMIN}"})
    assert made.status_code == 201, made.text
    assert made.json()["url"].startswith(PUBLIC + "/app/pair/"), "links name the public address"
    paired = http.post(
        "/app/pair",
        data={"code": made.json()["code"]},
        headers={"X-Forwarded-Proto": proto, "X-Forwarded-For": NEIGHBOUR},
    )
    assert paired.status_code == 303, paired.text
    return paired.headers["set-cookie"]


def guess(http: httpx.Client, forwarded_for: str) -> int:
    answer = http.post("/app/pair", data={"code": UNKNOWN_CODE}, headers={"X-Forwarded-For": forwarded_for})
    return answer.status_code


def test_a_trusted_proxy_says_the_scheme_and_the_client(tmp_path: Path) -> None:
    with serving(tmp_path, ["127.0.0.1"]) as http:
        assert "; secure" in device_cookie_over(http, "https").lower(), "https at the proxy: Secure cookie"
        assert "; secure" not in device_cookie_over(http, "http").lower()

        answers = [guess(http, GUESSER) for _ in range(MAX_FAILED_PAIRINGS_PER_CLIENT)]
        assert answers == [404] * MAX_FAILED_PAIRINGS_PER_CLIENT
        assert guess(http, GUESSER) == 429, "the guessing client is locked out"
        assert guess(http, NEIGHBOUR) == 404, "another client behind the same proxy is not"


@pytest.mark.parametrize("trusted", [[], ["10.0.0.2"]], ids=["no-proxy-trusted", "another-proxy-trusted"])
def test_forwarded_headers_from_anyone_else_are_ignored(tmp_path: Path, trusted: list[str]) -> None:
    with serving(tmp_path, trusted) as http:
        assert "; secure" not in device_cookie_over(http, "https").lower(), "plain http stays plain"

        for _ in range(MAX_FAILED_PAIRINGS_PER_CLIENT):
            guess(http, GUESSER)
        assert guess(http, NEIGHBOUR) == 429, (
            "a client cannot pick the address it is counted under: every guess counted against 127.0.0.1"
        )
