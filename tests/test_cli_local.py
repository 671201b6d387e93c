"""The CLI commands that work on the local store, and `companion serve` as a real process."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from companion import cli
from companion.cli import app
from companion.demo import DemoCredentials

SERVE_START_TIMEOUT_S = 30.0  # a cold interpreter plus migrations on a slow CI machine
SCRAPER = "scrape-token-cli"  # /health names the store only to an operator


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"COMPANION_DATA_DIR": str(tmp_path / "data")}


def test_demo_seeds_and_prints_tokens(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["demo"], env=env)
    assert result.exit_code == 0, result.output
    assert "user-tiferet-001" in result.output
    assert len(re.findall(r"cmp_[A-Za-z0-9_\-]{20,}", result.output)) == 3
    again = CliRunner().invoke(app, ["demo"], env=env)
    assert again.exit_code == 0, "seeding twice is harmless"
    assert re.findall(r"cmp_[A-Za-z0-9_\-]{20,}", again.output) == [], (
        "tokens are issued on the first run only"
    )
    assert "companion tokens create --role caregiver --caregiver cg-" in again.output
    listed = CliRunner().invoke(app, ["tokens", "list"], env=env)
    assert listed.output.count("demo ") == 3, "still the first run's three tokens"
    users = CliRunner().invoke(app, ["users", "list"], env=env)
    assert users.output.split() == ["user-tiferet-001"]


def test_tokens_and_caregivers(env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["users", "create", "user-x"], env=env).exit_code == 0
    device = runner.invoke(app, ["tokens", "create", "--role", "device", "--user", "user-x"], env=env)
    assert device.exit_code == 0
    assert device.output.strip().startswith("cmp_")
    missing = runner.invoke(app, ["tokens", "create", "--role", "device"], env=env)
    assert missing.exit_code == 1
    assert "must name the user" in missing.output
    made = runner.invoke(
        app,
        ["caregivers", "create", "--username", "dana", "--name", "Dana", "--user", "user-x"],
        env=env,
        input="long-password\nlong-password\n",
    )
    assert made.exit_code == 0, made.output
    assert "created" in made.output
    typo = runner.invoke(
        app,
        ["caregivers", "create", "--username", "avi", "--name", "A", "--user", "user-typo"],
        env=env,
        input="long-password\nlong-password\n",
    )
    assert typo.exit_code == 1
    assert "User user-typo not found" in typo.output
    retry = runner.invoke(
        app,
        ["caregivers", "create", "--username", "avi", "--name", "A"],
        env=env,
        input="pw-123456\npw-123456\n",
    )
    assert retry.exit_code == 0, "the failed attempt left no half-made account behind"
    duplicate = runner.invoke(
        app,
        ["caregivers", "create", "--username", "dana", "--name", "D"],
        env=env,
        input="pw-123456\npw-123456\n",
    )
    assert duplicate.exit_code == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_on_embedded_defaults(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "COMPANION_DATA_DIR": str(tmp_path / "data"), "COMPANION_METRICS_TOKEN": SCRAPER}
    operator = {"Authorization": f"Bearer {SCRAPER}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "companion.cli", "serve", "--port", str(port), "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + SERVE_START_TIMEOUT_S
        body = None
        while time.monotonic() < deadline:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/health", headers=operator, timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert body is not None, "the service did not answer /health"
        assert body["status"] == "ok"
        assert body["store"]["backend"] == "sqlite"
        assert (tmp_path / "data" / "companion.db").exists()
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert "caregiver token" in output


def test_the_first_starts_try_it_lines_survive_a_narrow_terminal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Pasted into a shell from a 40-column terminal, the hint still sends the whole token to the URL."""
    token = "cmp_" + "Ab1_-" * 9  # as long as a real one, with the characters a real one has
    creds = DemoCredentials("user-tiferet-001", "cg-1", "tiferet", "pw", "cmp_admin", token, "cmp_device")
    screen = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=screen, width=40, force_terminal=True, color_system=None))
    cli._print_demo(creds, "http://127.0.0.1:8000")
    lines = screen.getvalue().splitlines()
    assert f"caregiver token: {token}" in lines, "a token is never cut or folded"
    hint = lines[lines.index("Try it (as the caregiver):") + 1 :]
    assert hint[0] == f"export COMPANION_TOKEN={token}"
    assert all(len(line) < 80 for line in hint), "each line fits a common terminal"
    # What a shell receives from the pasted lines (curl replaced by a function that shows its arguments).
    script = "curl() { printf '%s\\n' \"$@\"; }\n" + "\n".join(hint) + "\n"
    ran = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert ran.stdout.splitlines() == [
        "-H",
        f"Authorization: Bearer {token}",
        "http://127.0.0.1:8000/api/users/user-tiferet-001",
    ]
