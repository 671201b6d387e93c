"""The account commands on the local store: tokens (expiry, list, revoke) and erasure with --yes."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from companion.cli import app
from companion.settings import Settings
from companion.store import open_store


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"COMPANION_DATA_DIR": str(tmp_path / "data")}


def run(env: dict[str, str], *args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(app, list(args), env=env, input=input)
    assert result.exit_code == 0, result.output
    return result.output


def audit(tmp_path: Path) -> list[tuple[str, str, str]]:
    async def read() -> list[tuple[str, str, str]]:
        store = open_store(Settings(data_dir=tmp_path / "data").effective_database_url)
        try:
            return [(e.actor, e.action, e.target) for e in await store.audit_entries()]
        finally:
            await store.close()

    return asyncio.run(read())


def test_tokens_are_made_with_an_expiry_listed_without_secrets_and_revoked(
    env: dict[str, str], tmp_path: Path
) -> None:
    run(env, "users", "create", "user-x")
    token = run(
        env, "tokens", "create", "--role", "device", "--user", "user-x", "--expires-in", "3600"
    ).strip()
    listed = run(env, "tokens", "list")
    [token_id] = re.findall(r"^│ ([0-9a-f]{12}) ", listed, flags=re.MULTILINE)
    assert token not in listed and "device" in listed and "user-x" in listed
    too_long = CliRunner().invoke(
        app, ["tokens", "create", "--role", "admin", "--expires-in", "999999999"], env=env
    )
    assert too_long.exit_code == 1 and "expiresIn must be between" in too_long.output

    assert "revoked" in run(env, "tokens", "revoke", token_id)
    assert token_id not in run(env, "tokens", "list")
    unknown = CliRunner().invoke(app, ["tokens", "revoke", token_id], env=env)
    assert unknown.exit_code == 1 and "not found" in unknown.output
    assert audit(tmp_path) == [("cli", "revoke_token", token_id)]


def test_people_and_caregivers_are_deleted_with_yes_or_after_confirming(
    env: dict[str, str], tmp_path: Path
) -> None:
    run(env, "users", "create", "user-a")
    run(env, "users", "create", "user-b")
    made = run(
        env,
        "caregivers",
        "create",
        "--username",
        "dana",
        "--name",
        "D",
        "--user",
        "user-a",
        input="pw-123456\npw-123456\n",
    )
    [caregiver_id] = re.findall(r"caregiver (cg-\w+) created", made)

    declined = CliRunner().invoke(app, ["users", "delete", "user-a"], env=env, input="n\n")
    assert declined.exit_code == 1 and "user-a" in run(env, "users", "list")
    assert "erased" in run(env, "users", "delete", "user-a", "--yes")
    assert run(env, "users", "list").split() == ["user-b"]
    missing = CliRunner().invoke(app, ["users", "delete", "user-a", "--yes"], env=env)
    assert missing.exit_code == 1 and "User user-a not found" in missing.output

    assert "deleted" in run(env, "caregivers", "delete", caregiver_id, input="y\n")
    again = CliRunner().invoke(app, ["caregivers", "delete", caregiver_id, "--yes"], env=env)
    assert again.exit_code == 1 and "not found" in again.output
    assert audit(tmp_path) == [("cli", "erase_caregiver", caregiver_id), ("cli", "erase_person", "user-a")]
