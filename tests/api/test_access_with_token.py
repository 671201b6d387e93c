"""A caregiver's access to the person a request names is read with the token, in one query; any other
person still takes the assignment check of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from companion.auth import AuthService, Role
from companion.errors import NotFound
from companion.store import SqlStore, open_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = open_store(f"sqlite+aiosqlite:///{tmp_path / 'companion.db'}")
    await opened.migrate()
    yield opened
    await opened.close()


async def test_the_named_person_is_checked_with_the_token(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = AuthService(store)
    dana = await auth.create_caregiver(name="Dana", username="dana", password="a long password 1")
    for user_id in ("u1", "u2", "u3"):
        await store.create_user(user_id)
    await store.assign(dana.id, "u1")
    await store.assign(dana.id, "u3")
    secret, _ = await auth.create_token(Role.CAREGIVER, caregiver_id=dana.id)
    asked: list[str] = []
    is_assigned = store.is_assigned

    async def counting(caregiver_id: str, user_id: str) -> bool:
        asked.append(user_id)
        return await is_assigned(caregiver_id, user_id)

    monkeypatch.setattr(store, "is_assigned", counting)

    principal = await auth.authenticate(secret, for_user="u1")
    assert principal.assigned_user == "u1"
    await auth.require_user(principal, "u1")
    assert asked == []  # answered by the token's own query
    await auth.require_user(principal, "u3")  # another person: its own check, and allowed
    assert asked == ["u3"]

    outsider = await auth.authenticate(secret, for_user="u2")
    assert outsider.assigned_user is None
    with pytest.raises(NotFound):
        await auth.require_user(outsider, "u2")

    await store.unassign(dana.id, "u1")  # the next request reads the assignment afresh
    again = await auth.authenticate(secret, for_user="u1")
    with pytest.raises(NotFound):
        await auth.require_user(again, "u1")


async def test_other_tokens_are_unchanged_by_a_named_person(store: SqlStore) -> None:
    auth = AuthService(store)
    await store.create_user("u1")
    await store.create_user("u2")
    device, _ = await auth.create_token(Role.DEVICE, user_id="u1")
    principal = await auth.authenticate(device, for_user="u2")
    assert principal.role is Role.DEVICE
    assert principal.assigned_user is None
    await auth.require_user(principal, "u1")
    with pytest.raises(NotFound):
        await auth.require_user(principal, "u2")
