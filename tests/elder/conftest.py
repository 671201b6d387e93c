"""The real service as a subprocess on a loopback port, with a generated music library and two people.

The service runs as ``python -m companion.cli serve`` (not in-process) so a test can kill it and start it
again on the same port with the same SQLite file, as a power cut would. Its log goes to a file in the
module's temporary folder; a failing test's message points there.

People: an English speaker (the voice tests: the offline engine's recogniser is an English grammar) whose
preferred artist has a track in the library and whose disliked artist has one too, and a Hebrew speaker
for the right-to-left screenshots.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from services import require_service
from tests.api.payloads import music as music_body
from tests.api.payloads import profile as hebrew_profile
from tests.dashboard.test_dashboard_browser import CHROMIUM
from tests.elder.audio_fixtures import Track, missing_tools, music_track
from tests.launch import Launched, launch

try:
    import playwright.async_api as _playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    _playwright = None  # type: ignore[assignment]

ADMIN: Final = "elder-admin-token"
START_TIMEOUT_S: Final = 30.0  # a cold interpreter, migrations and the engine on a loaded 2-core machine
STOP_TIMEOUT_S: Final = 10.0  # uvicorn closes live sockets politely before it exits
ENGLISH: Final = "user-elder-en"
HEBREW: Final = "user-elder-he"
PREFERRED: Final = "Louis Armstrong"
PREFERRED_TITLE: Final = "Wonderful Test Morning"
DISLIKED: Final = "The Noisy Neighbours"
DISLIKED_TITLE: Final = "Loud Song"
HEBREW_ARTIST: Final = "נעמי שמר"
HEBREW_TITLE: Final = "ירושלים של זהב"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    """``companion serve`` on a fixed port; stop, kill and start again keep the port and the data."""

    data_dir: Path
    music_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: Launched | None = None
    # An https service (COMPANION_TLS_* in ``extra_env``): its scheme, and how /health's answer is verified.
    scheme: str = "http"
    verify: ssl.SSLContext | bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "COMPANION_DATA_DIR": str(self.data_dir),
            "COMPANION_MUSIC_DIR": str(self.music_dir),
            "COMPANION_ADMIN_TOKEN": ADMIN,
            "COMPANION_UPSTREAM": "local",
            "COMPANION_LOG_LEVEL": "INFO",
            **self.extra_env,
        }

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = launch(
            "companion.cli",
            ["serve", "--port", str(self.port), *self.extra_args],
            env=self.env(),
            log=self.log_path,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the service exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.base + "/health", timeout=1, verify=self.verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the service did not answer /health in {START_TIMEOUT_S} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no goodbye to any client, as when the machine loses power."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"(log {self.log_path})\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class Api:
    """The care team's side over HTTP, as an administrator."""

    service: ServiceProcess

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.service.base,
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=15,
            verify=self.service.verify,
        )

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        with self._client() as client:
            return client.request(method, path, **kw)

    def ok(self, method: str, path: str, **kw: Any) -> Any:
        response = self.request(method, path, **kw)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def pairing(self, user: str) -> dict[str, Any]:
        """A fresh pairing code: ``{"code", "url", "expiresAt"}``."""
        response = self.request("POST", f"/api/users/{user}/pairings")
        assert response.status_code == 201, f"pairing for {user}: {response.status_code} {response.text}"
        body: dict[str, Any] = response.json()
        return body

    def devices(self, user: str) -> list[dict[str, Any]]:
        devices: list[dict[str, Any]] = self.ok("GET", f"/api/users/{user}/devices")["devices"]
        return devices

    def put_section(self, user: str, section: str, changes: dict[str, Any]) -> httpx.Response:
        """Change a section the way a careful client does: read it, then write with ``If-Match``."""
        current = self.request("GET", f"/api/users/{user}/{section}")
        assert current.status_code == 200, current.text
        body = current.json()["data"] | changes
        return self.request(
            "PUT", f"/api/users/{user}/{section}", json=body, headers={"If-Match": current.headers["etag"]}
        )

    def sessions(self, user: str) -> list[dict[str, Any]]:
        sessions = self.ok("GET", "/realtime/sessions")["sessions"]
        return [s for s in sessions if s["userId"] == user]

    def instructions_version(self, user: str) -> str:
        version: str = self.ok("GET", f"/api/users/{user}/instructions")["version"]
        return version


def english_profile() -> dict[str, Any]:
    return {
        "personalInfo": {
            "fullName": "Ruth Miller",
            "preferredName": "Ruth",
            "gender": "female",
            "age": 84,
            "language": "en",
            "timezone": "Europe/London",
        },
        "cognitiveMode": "elderly",
        "familyMembers": [{"name": "Dana", "relationship": "daughter", "phone": "050-123-4567"}],
    }


def english_music() -> dict[str, Any]:
    return {
        "enabled": True,
        "preferredArtists": [PREFERRED],
        "dislikedArtists": [DISLIKED],
        "maxSongsPerSession": 3,
    }


def _create_person(api: Api, user: str, profile: dict[str, Any], music: dict[str, Any]) -> None:
    created = api.request("POST", "/api/users", json={"userId": user})
    assert created.status_code in (201, 409), created.text
    for section, body in (("profile", profile), ("music", music)):
        saved = api.request("PUT", f"/api/users/{user}/{section}", json=body)
        assert saved.status_code == 200, f"{section}: {saved.status_code} {saved.text}"


@dataclass
class ElderEnv:
    service: ServiceProcess
    api: Api
    tracks: list[Track]
    work: Path

    @property
    def base(self) -> str:
        return self.service.base


def require_browser_tools() -> None:
    """Chromium, Playwright, espeak-ng and sox, or skip (fail under ``CI=true``)."""
    if _playwright is None:
        require_service("Chromium", "the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    missing = missing_tools()
    if missing:
        require_service(" and ".join(missing), "not on PATH (apt-get install espeak-ng sox)")


@pytest.fixture(scope="module")
def elder_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ElderEnv]:
    require_browser_tools()
    work = tmp_path_factory.mktemp("elder")
    music_dir = work / "music"
    music_dir.mkdir()
    tracks = [
        music_track(music_dir / "armstrong.flac", PREFERRED, PREFERRED_TITLE, hz=440),
        music_track(music_dir / "neighbours.ogg", DISLIKED, DISLIKED_TITLE, hz=330),
        music_track(music_dir / "shemer.ogg", HEBREW_ARTIST, HEBREW_TITLE, hz=523),
    ]
    service = ServiceProcess(work / "data", music_dir, work / "service.log")
    service.start()
    api = Api(service)
    try:
        _create_person(api, ENGLISH, english_profile(), english_music())
        # a woman whose companion speaks of itself as a man: the page's words follow the companion
        he_profile = {**hebrew_profile("נעמי כהן", "female"), "companion": {"gender": "male"}}
        _create_person(api, HEBREW, he_profile, music_body(HEBREW_ARTIST))
        yield ElderEnv(service, api, tracks, work)
    finally:
        service.stop()
