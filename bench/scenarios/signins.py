"""``signins``: does a burst of wrong dashboard sign-ins stall the service's event loop?

Live audio relays share the loop with every request, so what matters is how late the loop answers while
the password checks run. Measured from outside: ``GET /health`` is polled back to back while N wrong
passwords are posted at once (each to its own caregiver, so the per-username lock-out never cuts the
burst short, and every one costs a full argon2 check); the figure is the worst /health latency during
the burst, next to the same poll on the idle service.

Two bursts in the same run: against accounts whose hashes carry argon2-cffi's default parameters (four
lanes, 64 MiB: every hash made before this release, still verified with them until the caregiver's next
successful sign-in rehashes it) and against accounts hashed today. A check runs with the parameters
its hash carries, so the first burst is the old cost and the second the new, on the same machine at the
same moment. Each burst comes from its own loopback address (127.0.0.N), so the per-address lock-out
counts them apart.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any
from urllib.parse import urlencode

from argon2 import PasswordHasher, extract_parameters

from bench.harness import Harness
from bench.net import HTTP_TIMEOUT_S, HttpResponse
from bench.stats import ROUND, summary_ms

PASSWORD = "the-right-password-1"
WRONG = "a-wrong-password-1"
IDLE_POLLS = 50  # /health on the idle service: the floor the burst's figures compare with
LOGIN = "/dashboard/login"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_COOKIE = re.compile(r"^\s*([^=;\s]+=[^;]*)")


async def _exchange(port: int, raw: bytes, source: str) -> HttpResponse:
    """One request on a connection of its own from ``source`` (a loopback address), then closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(raw)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HTTP_TIMEOUT_S)
        lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "set-cookie" and "set-cookie" in headers:  # every cookie, one a line
                value = headers["set-cookie"] + "\n" + value.strip()
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), HTTP_TIMEOUT_S) if length else b""
        return HttpResponse(int(lines[0].split()[1]), headers, body)
    finally:
        writer.close()


def _request(port: int, method: str, path: str, headers: dict[str, str], form: str = "") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if method == "POST":
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(form)}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + form).encode()


async def _login_form(port: int, source: str) -> tuple[str, str]:
    """The anonymous session's cookie and the CSRF token the login page renders for it."""
    page = await _exchange(port, _request(port, "GET", LOGIN, {}), source)
    match = _CSRF.search(page.body.decode())
    cookies = [c[1] for line in page.headers.get("set-cookie", "").split("\n") if (c := _COOKIE.match(line))]
    if page.status != 200 or match is None or not cookies:
        raise RuntimeError(f"the login page: {page.status}")
    return "; ".join(cookies), match[1]


async def _health_polls(h: Harness, stop: asyncio.Event | None, count: int = 0) -> list[float]:
    """Back-to-back ``GET /health`` on one keep-alive connection: until ``stop``, or ``count`` times."""
    durations = []
    raw = h.http.prepare("GET", "/health", {})
    await h.http.fresh()
    while (stop is not None and not stop.is_set()) or len(durations) < count:
        started = time.perf_counter()
        response = await h.http.send_prepared(raw)
        durations.append(time.perf_counter() - started)
        if response.status != 200:
            raise RuntimeError(f"/health answered {response.status}")
        await asyncio.sleep(0)  # let the burst's own client work go out between polls
    return durations


async def _burst(h: Harness, usernames: list[str], source: str) -> dict[str, Any]:
    port = h.service.port
    cookie, csrf = await _login_form(port, source)
    posts = [
        _request(
            port,
            "POST",
            LOGIN,
            {"Cookie": cookie},
            urlencode({"username": name, "password": WRONG, "csrf": csrf}),
        )
        for name in usernames
    ]
    done = asyncio.Event()
    polling = asyncio.create_task(_health_polls(h, done))
    started = time.perf_counter()
    try:
        answers = await asyncio.gather(*(_exchange(port, raw, source) for raw in posts))
    finally:
        done.set()
    elapsed = time.perf_counter() - started
    polls = await polling
    statuses = sorted({a.status for a in answers})
    if statuses != [401]:  # a 429 would mean the lock-out, not argon2, answered
        raise RuntimeError(f"wrong sign-ins answered {statuses}, not all 401")
    return {
        "sign_ins": len(usernames),
        "burst_ms": round(elapsed * 1000, ROUND),
        "health": summary_ms(polls),
        "health_max_ms": round(max(polls) * 1000, ROUND),
    }


async def _accounts(h: Harness, prefix: str, n: int, legacy: bool) -> tuple[list[str], str]:
    """``n`` caregivers (hashed as the service hashes today, or with ``legacy`` as argon2-cffi's default
    did before) and their hashes' parameters, as the hashes themselves say."""
    auth, store = h.seeded.services.auth, h.seeded.services.store
    names, stored = [], ""
    old = PasswordHasher()  # the parameters every hash had before this release
    for i in range(n):
        name = f"{prefix}-{i}"
        record = await auth.create_caregiver(name=name, username=name, password=PASSWORD)
        stored = record.password_hash
        if legacy:
            stored = old.hash(PASSWORD)
            await store.update_caregiver_password(record.id, stored)
        names.append(name)
    p = extract_parameters(stored)
    return (
        names,
        f"argon2{p.type.name.lower()} t={p.time_cost} m={p.memory_cost // 1024} MiB p={p.parallelism}",
    )


async def signins(h: Harness) -> dict[str, Any]:
    n = h.config.signin_burst
    await h.resize_pool(0)
    legacy, legacy_params = await _accounts(h, "bench-legacy", n, legacy=True)
    current, current_params = await _accounts(h, "bench-current", n, legacy=False)
    idle = await _health_polls(h, None, IDLE_POLLS)
    before = await _burst(h, legacy, "127.0.0.2")
    after = await _burst(h, current, "127.0.0.3")
    return {
        "n": n,
        "idle_health": summary_ms(idle),
        "legacy_hash": {**before, "parameters": legacy_params},
        "current_hash": {**after, "parameters": current_params},
    }
