"""README "On a real tablet", at home: the openssl commands as written make an authority and a
certificate that a service started with ``COMPANION_TLS_CERT`` / ``COMPANION_TLS_KEY`` serves, and a
client that trusts only that authority accepts."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
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
from companion.edge import check_serving
from companion.settings import Settings
from services import require_service
from tests.api.test_limits import free_port

README = Path(__file__).resolve().parent.parent / "README.md"
LAN_ADDRESS = "192.168.1.20"  # the README's example address; the test's service is on loopback
START_TIMEOUT_S = 20.0


def readme_block(containing: str) -> str:
    """The README's fenced code block that contains ``containing`` (its indentation removed)."""
    for match in re.finditer(r"^( *)```[a-z]*\n(.*?)^\1```", README.read_text(), re.S | re.M):
        indent, body = match[1], match[2]
        if containing in body:
            return "".join(line.removeprefix(indent) for line in body.splitlines(keepends=True))
    raise AssertionError(f"README has no code block with {containing!r}")


@contextmanager
def serving(settings: Settings) -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(server_config(create_app(settings), "127.0.0.1", port, edge=settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)


def test_the_home_network_certificate_recipe_serves_https_the_tablet_trusts(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        require_service("openssl", "not on PATH (apt-get install openssl)")
    recipe = readme_block("openssl req -x509")
    assert LAN_ADDRESS in recipe
    home = tmp_path / "home"
    home.mkdir()
    made = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", recipe.replace(LAN_ADDRESS, "127.0.0.1")],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    folder = home / "companion-tls"
    settings = Settings(
        data_dir=tmp_path / "data",
        public_url="https://127.0.0.1:8443",
        tls_cert=folder / "companion-cert.pem",
        tls_key=folder / "companion-key.pem",
    )
    assert check_serving(settings) == []

    tablet = ssl.create_default_context(cafile=str(folder / "companion-ca.pem"))  # trusts only that
    with serving(settings) as port:
        assert httpx.get(f"https://127.0.0.1:{port}/health", verify=tablet).status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"https://127.0.0.1:{port}/health")  # a device without the authority installed
