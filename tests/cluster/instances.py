"""Several real service processes on loopback, sharing one PostgreSQL database and one Redis database,
as a care organisation runs them behind a load balancer. Each process runs its own offline engine.

Used by ``test_instances.py``; PostgreSQL and Redis come from the fixtures in ``tests/conftest.py``
(skipped locally without them, failed under ``CI=true``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.launch import Launched, launch
from tests.live.conftest import KEEP_ALIVE_S, RealtimeClient

ADMIN = "cluster-admin-token"
START_TIMEOUT_S = 30.0  # a cold start imports everything and migrates; generous for a loaded CI machine
EVENT_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Instance:
    name: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: Launched | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def spawn(self) -> None:
        self.proc = launch(
            "uvicorn",
            [
                "companion.app:create_app", "--factory",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            ],
            env=self.env,
            log=self.log_path,
        )  # fmt: skip

    def wait_ready(self) -> None:
        """Until ``/health`` answers 200; fails with the instance's log if it exits or is not up in time."""
        assert self.proc is not None, "spawn() first"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"instance {self.name} exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"instance {self.name} did not start: {self.log_path.read_text()[-3000:]}")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def http(self) -> httpx.AsyncClient:
        # idle connections go before the server's keep-alive timeout closes them under a request
        limits = httpx.Limits(keepalive_expiry=KEEP_ALIVE_S / 2)
        return httpx.AsyncClient(base_url=self.url, timeout=15, limits=limits)


def start_all(instances: list[Instance]) -> None:
    """Start every instance at once and wait until all answer: their imports overlap, and the store's
    migration lock lets the first one migrate while the others wait for it."""
    try:
        for instance in instances:
            instance.spawn()
        for instance in instances:
            instance.wait_ready()
    except BaseException:
        for instance in instances:
            instance.stop(kill=True)
        raise


def cluster_env(tmp: Path, name: str, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPANION_")}
    env.update(
        COMPANION_DATABASE_URL=database_url,
        COMPANION_REDIS_URL=redis_url,
        COMPANION_INSTANCE_ID=name,
        COMPANION_ADMIN_TOKEN=ADMIN,
        COMPANION_DATA_DIR=str(tmp / name),
        COMPANION_REFRESH_TIMEOUT_S="3",
        COMPANION_REMINDERS="false",
        PYTHONPATH=os.pathsep.join(
            p for p in [str(Path(__file__).resolve().parents[2] / "src"), env.get("PYTHONPATH", "")] if p
        ),
    )
    env.update(extra)
    return env


ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


async def seed_person(http: httpx.AsyncClient, user_id: str, *artists: str) -> str:
    """A person with a profile and music; returns a device token for their conversations."""
    from tests.api.payloads import music, profile

    created = await http.post("/api/users", json={"userId": user_id}, headers=ADMIN_HEADERS)
    assert created.status_code == 201, created.text
    for section, body in (("profile", profile()), ("music", music(*artists))):
        saved = await http.put(f"/api/users/{user_id}/{section}", json=body, headers=ADMIN_HEADERS)
        assert saved.status_code in (200, 201), saved.text
    token = await http.post("/api/tokens", json={"role": "device", "userId": user_id}, headers=ADMIN_HEADERS)
    assert token.status_code == 201, token.text
    return str(token.json()["token"])


async def put_music(http: httpx.AsyncClient, user_id: str, *artists: str) -> httpx.Response:
    from tests.api.payloads import music

    current = await http.get(f"/api/users/{user_id}/music", headers=ADMIN_HEADERS)
    assert current.status_code == 200, current.text
    return await http.put(
        f"/api/users/{user_id}/music",
        json=music(*artists),
        headers={**ADMIN_HEADERS, "If-Match": current.headers["etag"]},
    )


class Conversation(RealtimeClient):
    """A raw realtime client on one instance of the cluster; keeps every event."""

    @classmethod
    async def open(cls, instance: Instance, token: str) -> Conversation:
        ws = await connect(
            f"ws://127.0.0.1:{instance.port}/v1/realtime",
            additional_headers={"Authorization": f"Bearer {token}"},
        )
        conversation = cls(ws)
        created = await conversation.until("session.created")
        assert created["type"] == "session.created"
        return conversation

    async def ask_for_music(self) -> str:
        """Ask the offline engine for a song: it calls play_music with the first artist its current
        instructions name. Returns the response's text, arguments included."""
        await self.ws.send(
            json.dumps(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "תנגן לי משהו"}],
                    },
                },
                ensure_ascii=False,
            )
        )
        await self.ws.send(json.dumps({"type": "response.create"}))
        done = await self.until("response.done")
        return json.dumps(done, ensure_ascii=False)


async def eventually(check: Callable[[], Any], what: str, timeout: float = EVENT_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.1)
