"""``companion sessions`` and ``companion refresh`` against a running server."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from companion.cli import app
from tests.live.conftest import Live

ARIK = "אריק איינשטיין"


async def run_cli(live: Live, *args: str, token: str | None = None) -> tuple[int, str]:
    env = {
        "COMPANION_URL": f"http://127.0.0.1:{live.port}",
        "COMPANION_TOKEN": token or live.creds.caregiver_token,
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    return result.exit_code, result.output


async def test_no_sessions(live: Live) -> None:
    code, output = await run_cli(live, "sessions")
    assert code == 0 and "No live sessions" in output
    code, output = await run_cli(live, "refresh")
    assert code == 1 and "No live sessions to refresh" in output and "אין שיחות פעילות" in output


async def test_one_session_is_refreshed_without_naming_it(live: Live) -> None:
    await live.connect()
    session_id = live.services.sessions.live()[0].id
    code, output = await run_cli(live, "sessions")
    assert code == 0 and session_id in output
    code, output = await run_cli(live, "refresh")
    assert code == 0 and "already current" in output
    await live.services.store.put(
        "user-tiferet-001", "music", "main", {"preferredArtists": [ARIK]}, expected_version=1
    )
    code, output = await run_cli(live, "refresh", session_id)
    assert code == 0 and "refreshed to" in output and "ההנחיות עודכנו ואושרו" in output


async def test_several_sessions_need_a_choice(live: Live) -> None:
    await live.connect()
    await live.connect()
    code, output = await run_cli(live, "refresh")
    assert code == 2 and "2 live sessions" in output
    code, output = await run_cli(live, "refresh", "--all")
    assert code == 0 and output.count("already current") == 2
    code, output = await run_cli(live, "refresh", "--user", "user-tiferet-001")
    assert code == 0 and output.count("already current") == 2


async def test_failures_exit_non_zero(live: Live) -> None:
    code, output = await run_cli(live, "refresh", "sess-unknown")
    assert code == 1 and "Session sess-unknown not found" in output
    await live.connect()
    live.engine.ignore_session_updates = True
    await live.services.store.put(
        "user-tiferet-001", "music", "main", {"preferredArtists": [ARIK]}, expected_version=1
    )
    code, output = await run_cli(live, "refresh", "--all")
    assert code == 1 and "504" in output
    code, output = await run_cli(live, "sessions", token="wrong")
    assert code == 1 and "401" in output
