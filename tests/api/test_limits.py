"""The edge: body limits before parsing and authentication, and the server's own request-head limits.

In-process tests drive the app over ASGI; the rest start a real uvicorn server configured by the same
``server_config`` that ``companion serve`` uses, and talk to it over raw sockets, so what is measured is
what the server reads and answers, not what a client library chose to send.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from companion.api.limits import DEFAULT_LIMIT, SECTION_LIMIT, BodyLimit, install_limits
from companion.app import create_app
from companion.cli import MAX_REQUEST_HEAD, server_config
from tests.api.conftest import ADMIN, Api, make_settings
from tests.prompt.factories import max_context

USER: Final = "user-limits-001"
PROMPT_S: Final = 3.0  # an answer that does not wait for the rest of a body comes back well within this
START_TIMEOUT_S: Final = 30.0
HEALTH: Final = b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"  # the head, less its blank line


@pytest.fixture
async def limited(api: Api) -> Api:
    install_limits(api.app)
    return api


def error_shape(body: dict[str, Any], status: int, code: str) -> None:
    assert body["statusCode"] == status
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]


def emoji_profile() -> dict[str, Any]:
    """The maximum profile with every Hebrew letter an emoji: valid, and 12 bytes a character as JSON."""
    table = {c: chr(0x1F600 + c - 0x5D0) for c in range(0x5D0, 0x5EB)}

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            return value.translate(table)
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    profile = max_context().profile
    assert profile is not None
    body: dict[str, Any] = swap(profile.model_dump(mode="json", by_alias=True))
    return body


# --- in process -------------------------------------------------------------------------------------


async def test_oversized_body_is_refused_before_authentication(limited: Api) -> None:
    body = json.dumps({"userId": USER, "padding": "x" * DEFAULT_LIMIT})
    r = await limited.client.post("/api/users", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text  # not 401: the token is never looked at
    error_shape(r.json(), 413, "body_too_large")
    assert "KiB" in r.json()["message"]


async def test_oversized_body_does_not_run_the_route(limited: Api) -> None:
    body = json.dumps({"userId": USER, "padding": "x" * DEFAULT_LIMIT})
    r = await limited.admin("POST", "/api/users", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert USER not in await limited.services.store.list_user_ids()


async def test_streamed_body_over_the_limit_is_refused(limited: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"userId": "' + USER.encode() + b'", "padding": "'
        for _ in range(2 * DEFAULT_LIMIT // 4096):
            yield b"x" * 4096
        yield b'"}'

    r = await limited.client.post(
        "/api/users", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    error_shape(r.json(), 413, "body_too_large")


async def test_a_maximum_section_still_saves(limited: Api) -> None:
    assert (await limited.admin("POST", "/api/users", json={"userId": USER})).status_code == 201
    body = json.dumps(emoji_profile())  # ASCII-escaped: every emoji is a 12-byte surrogate pair
    assert DEFAULT_LIMIT < len(body) < SECTION_LIMIT
    r = await limited.admin(
        "PUT", f"/api/users/{USER}/profile", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text


async def test_a_small_body_passes(limited: Api) -> None:
    r = await limited.admin("POST", "/api/users", json={"userId": USER})
    assert r.status_code == 201, r.text


async def test_content_length_that_is_not_a_number_is_refused() -> None:
    ran: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ran.append(True)

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/users",
        "headers": [(b"content-length", b"12abc")],
    }
    await BodyLimit(app)(scope, receive, send)
    assert not ran
    assert sent[0]["status"] == 400
    error_shape(json.loads(sent[1]["body"]), 400, "invalid_content_length")


async def test_websocket_scopes_pass_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    scope = {"type": "websocket", "path": "/realtime/ws", "headers": [(b"content-length", b"nope")]}
    await BodyLimit(app)(scope, None, None)  # type: ignore[arg-type]
    assert seen == ["websocket"]


def test_install_is_idempotent(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    install_limits(app)
    install_limits(app)
    installed: list[object] = [m.cls for m in app.user_middleware]
    assert installed.count(BodyLimit) == 1


# --- a real server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """A real uvicorn server with the limits, configured exactly as ``companion serve`` configures it."""
    app: FastAPI = create_app(make_settings(tmp_path))
    install_limits(app)
    port = free_port()
    instance = uvicorn.Server(server_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield port
    instance.should_exit = True
    thread.join(START_TIMEOUT_S)


def exchange(port: int, *parts: bytes, timeout: float = PROMPT_S) -> tuple[int | None, bytes]:
    """Send ``parts`` (stopping if the server closes), then read the answer; (status or None, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            for part in parts:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    if not data.startswith(b"HTTP/1.1 "):
        return None, data
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_declared_200_mb_is_refused_without_reading_it(server: int) -> None:
    head = (
        b"POST /api/users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 209715200\r\n\r\n"
    )
    started = time.monotonic()
    status, body = exchange(server, head, b"x" * 4096)  # 4 KiB of the 200 MB promised, then nothing
    elapsed = time.monotonic() - started
    assert status == 413, body
    assert elapsed < PROMPT_S
    error_shape(json.loads(body), 413, "body_too_large")


def test_chunked_body_over_the_limit_is_refused_by_the_server(server: int) -> None:
    head = (
        b"POST /api/users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (16384, b"x" * 16384)
    status, body = exchange(server, head, *[chunk] * 64, b"0\r\n\r\n")  # 1 MiB, no token
    assert status == 413, body


def test_bad_content_length_is_refused_by_the_server(server: int) -> None:
    status, _ = exchange(server, b"POST /api/users HTTP/1.1\r\nHost: t\r\nContent-Length: lots\r\n\r\n{}")
    assert status == 400


def test_a_huge_header_line_is_refused(server: int) -> None:
    line = b"X-Huge: " + b"a" * (8 * 1024 * 1024) + b"\r\n"  # 8 MiB; the limit is 16 KiB
    status, _ = exchange(server, HEALTH, line, b"\r\n")
    assert status in (None, 400, 431)


def test_a_flood_of_headers_is_refused(server: int) -> None:
    flood = b"".join(b"X-N-%d: v\r\n" % i for i in range(20_000))
    status, _ = exchange(server, HEALTH, flood, b"\r\n")
    assert status in (None, 400, 431)


def test_ordinary_headers_still_pass(server: int) -> None:
    cookie = b"Cookie: s=" + b"c" * (MAX_REQUEST_HEAD // 2) + b"\r\n"  # half the limit, far over a real one
    status, body = exchange(server, HEALTH, cookie, b"\r\n")
    assert status == 200, body


def test_real_client_round_trip(server: int) -> None:
    r = httpx.post(f"http://127.0.0.1:{server}/api/users", json={"userId": USER})
    assert r.status_code == 401  # small bodies reach authentication as before


def test_the_live_socket_does_not_deflate_audio(server: int) -> None:
    """A browser offers permessage-deflate; the service declines it (memory and CPU per conversation)."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    base = f"http://127.0.0.1:{server}"
    assert httpx.post(base + "/api/users", json={"userId": "user-deflate"}, headers=admin).status_code == 201
    made = httpx.post(base + "/api/tokens", json={"role": "device", "userId": "user-deflate"}, headers=admin)
    token = made.json()["token"].encode()
    offer = (
        b"GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Authorization: Bearer " + token + b"\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server), timeout=PROMPT_S) as sock:
        sock.sendall(offer)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:200]
    assert b"permessage-deflate" not in head.lower()
