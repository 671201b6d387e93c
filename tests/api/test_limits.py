"""The edge: body limits before parsing and authentication, and the server's own request-head limits.

In-process tests drive the app over ASGI; the rest start a real uvicorn server configured by the same
``server_config`` that ``companion serve`` uses, and talk to it over raw sockets, so what is measured is
what the server reads and answers, not what a client library chose to send.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from companion.api.limits import DEFAULT_LIMIT, SECTION_LIMIT, BodyLimit, install_limits
from companion.app import create_app
from companion.cli import MAX_REQUEST_HEAD, server_config
from companion.settings import Settings
from tests.api.conftest import ADMIN, Api, make_settings
from tests.prompt.factories import max_context

USER: Final = "user-limits-001"
PROMPT_S: Final = 3.0  # an answer that does not wait for the rest of a body comes back well within this
START_TIMEOUT_S: Final = 30.0
BODY_TIMEOUT_S: Final = 60.0  # the default: none of these tests waits for it
H11_REFUSAL: Final = b"Invalid HTTP request received."  # uvicorn's 400 for what h11 refuses
HEALTH: Final = b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"  # the head, less its blank line


@pytest.fixture
async def limited(api: Api) -> Api:
    install_limits(api.app, body_timeout_s=BODY_TIMEOUT_S)  # create_app installed them already
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
    await BodyLimit(app, body_timeout_s=BODY_TIMEOUT_S)(scope, receive, send)
    assert not ran
    assert sent[0]["status"] == 400
    error_shape(json.loads(sent[1]["body"]), 400, "invalid_content_length")


async def test_websocket_scopes_pass_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    scope = {"type": "websocket", "path": "/realtime/ws", "headers": [(b"content-length", b"nope")]}
    await BodyLimit(app, body_timeout_s=BODY_TIMEOUT_S)(scope, None, None)  # type: ignore[arg-type]
    assert seen == ["websocket"]


def test_install_is_idempotent(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    install_limits(app, body_timeout_s=BODY_TIMEOUT_S)
    install_limits(app, body_timeout_s=BODY_TIMEOUT_S)
    installed: list[object] = [m.cls for m in app.user_middleware]
    assert installed.count(BodyLimit) == 1


# --- a real server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(settings: Settings, **extra: Any) -> Iterator[int]:
    """A real uvicorn server of ``create_app(settings)``, configured exactly as ``companion serve``
    configures it (``extra``: a test's own uvicorn settings on top); yields its port."""
    app: FastAPI = create_app(settings)
    port = free_port()
    instance = uvicorn.Server(server_config(app, "127.0.0.1", port, edge=settings, **extra))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        instance.should_exit = True
        thread.join(START_TIMEOUT_S)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    with running(make_settings(tmp_path)) as port:
        yield port


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


# --- the head however it arrives, a trickling body, a client that goes away, the connection cap --------


@pytest.mark.parametrize("implementation", ["h11", "httptools"])
@pytest.mark.parametrize("kib", [20, 60, 120])
def test_a_large_head_sent_in_one_piece_is_refused(tmp_path: Path, implementation: str, kib: int) -> None:
    """h11's limit holds only while a head is incomplete, and httptools has none: a head that arrives
    whole in one read is refused by the app's own check, whichever implementation runs. One send of a
    large head can still reach the server in two reads on a busy machine: h11 then refuses it while it
    is incomplete, with its own 400."""
    cookie = b"Cookie: s=" + b"c" * (kib * 1024) + b"\r\n"
    with running(make_settings(tmp_path), http=implementation) as port:
        status, body = exchange(port, HEALTH + cookie + b"\r\n")  # one send
        by_h11 = implementation == "h11" and (status, body) == (400, H11_REFUSAL)
        assert status in (None, 431) or by_h11, (status, body[:200])
        if status == 431:
            error_shape(json.loads(body), 431, "headers_too_large")
        # and an ordinary request on the same server still passes
        assert exchange(port, HEALTH + b"\r\n")[0] == 200


def test_a_large_head_is_431_from_the_app_itself(server: int) -> None:
    """Just over the limit, in one send: small enough that every read holds it whole."""
    cookie = b"Cookie: s=" + b"c" * MAX_REQUEST_HEAD + b"\r\n"
    status, body = exchange(server, HEALTH + cookie + b"\r\n")
    assert status == 431, body[:200]
    error_shape(json.loads(body), 431, "headers_too_large")


def test_a_websocket_upgrade_with_a_large_head_is_refused(server: int) -> None:
    offer = (
        b"GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        # lines short enough for the WebSocket library's own 8 KiB line limit, over ours in all
        + b"".join(b"X-Pad-%d: " % i + b"p" * 4000 + b"\r\n" for i in range(MAX_REQUEST_HEAD // 4000 + 1))
        + b"\r\n"
    )
    status, _ = exchange(server, offer)
    assert status == 403  # refused before the upgrade is accepted (uvicorn's answer to that): never 101


def test_a_trickling_body_is_cut_at_its_deadline(tmp_path: Path) -> None:
    """A byte every tenth of a second keeps every read short; the whole body's deadline still cuts it.

    The bytes stop half a second before the deadline: a byte still unread when the service closes makes
    its kernel reset the connection, which would discard the answer. A deadline that each read renewed
    would then cut only a whole timeout after the last byte, well past the bound asserted here."""
    timeout_s = 2.0
    trickle_until_s = timeout_s - 0.5
    with running(make_settings(tmp_path).model_copy(update={"body_timeout_s": timeout_s})) as port:
        head = (
            b"POST /api/users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=PROMPT_S) as sock:
            sock.sendall(head)
            started = time.monotonic()
            answer = b""
            while time.monotonic() - started < timeout_s + PROMPT_S:
                readable, _, _ = select.select([sock], [], [], 0.1)
                if not readable:
                    if time.monotonic() - started < trickle_until_s:
                        sock.sendall(b"x")
                    continue  # nothing yet: trickle on, then wait
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            elapsed = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        # (the service's timer may fire a few milliseconds before this client's clock says so)
        assert timeout_s - 0.05 <= elapsed < trickle_until_s + timeout_s - 0.3, elapsed
        error_shape(json.loads(answer.partition(b"\r\n\r\n")[2]), 408, "body_timeout")


def test_a_body_in_time_is_not_cut(tmp_path: Path) -> None:
    with running(make_settings(tmp_path).model_copy(update={"body_timeout_s": 1.0})) as port:
        body = json.dumps({"userId": USER}).encode()
        head = b"POST /api/users HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\nConnection: close\r\n" % len(
            body
        )
        auth = f"Authorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\n\r\n".encode()
        status, answer = exchange(port, head + auth, body[:5], body[5:])
        assert status == 201, answer


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/api/users", b"application/json"), ("/dashboard/login", b"application/x-www-form-urlencoded")],
)
def test_a_client_gone_mid_body_is_one_line_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str, content_type: bytes
) -> None:
    caplog.set_level(logging.INFO)
    with running(make_settings(tmp_path), log_config=None) as port:  # uvicorn's records reach caplog
        head = b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=PROMPT_S) as sock:
            sock.sendall(head % (path.encode(), content_type) + b"x" * 100)
        deadline = time.monotonic() + PROMPT_S
        while not [r for r in caplog.records if "went away mid-body" in r.getMessage()]:
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.02)
        assert exchange(port, HEALTH + b"\r\n")[0] == 200  # the server goes on
    gone = [r for r in caplog.records if "went away mid-body" in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelno == logging.INFO
    assert f"POST {path} after 100 bytes" in gone[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text and "Exception in ASGI application" not in caplog.text


def test_connections_beyond_the_cap_are_answered_503(tmp_path: Path) -> None:
    cap = 3
    with running(make_settings(tmp_path).model_copy(update={"max_connections": cap})) as port:
        keep_alive = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
        held = [socket.create_connection(("127.0.0.1", port), timeout=PROMPT_S) for _ in range(cap - 1)]
        try:
            for sock in held:  # each answered once, and left open
                sock.sendall(keep_alive)
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            status, body = exchange(port, HEALTH + b"\r\n")
            assert status == 503, body
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + PROMPT_S
        while (status := exchange(port, HEALTH + b"\r\n")[0]) == 503:  # until the server saw them close
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert status == 200


def test_the_connection_cap_has_a_default(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    default = Settings.model_fields["max_connections"].default
    assert default == 400
    assert server_config(app, "127.0.0.1", 0).limit_concurrency == default
    assert server_config(app, "127.0.0.1", 0, edge=make_settings(tmp_path)).limit_concurrency == default
