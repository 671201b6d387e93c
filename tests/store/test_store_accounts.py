"""The account contract (users, tokens, caregivers, assignments) on both backends."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from companion.errors import AlreadyExists, InvalidInput, NotFound
from companion.store import AccountStore, CaregiverRecord, SqlStore, TokenRecord

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


def token(
    token_id: str, secret: str, role: str = "device", *, user_id: str | None = None, **kw: object
) -> TokenRecord:
    return TokenRecord(
        id=token_id,
        token_hash=hashlib.sha256(secret.encode()).hexdigest(),
        role=role,  # type: ignore[arg-type]
        user_id=user_id,
        caregiver_id=kw.get("caregiver_id"),  # type: ignore[arg-type]
        label=kw.get("label"),  # type: ignore[arg-type]
        created_at=kw.get("created_at", T0),  # type: ignore[arg-type]
    )


def caregiver(cg_id: str, username: str, name: str = "דנה לוי") -> CaregiverRecord:
    return CaregiverRecord(id=cg_id, name=name, username=username, password_hash="$argon2id$x", created_at=T0)


def test_sql_store_satisfies_protocol(store: SqlStore) -> None:
    assert isinstance(store, AccountStore)


async def test_users(store: SqlStore) -> None:
    assert await store.user_exists("u1") is False
    await store.create_user("u1")
    assert await store.user_exists("u1") is True
    with pytest.raises(AlreadyExists):
        await store.create_user("u1")
    assert await store.list_user_ids() == ["u1"]


async def test_tokens(store: SqlStore) -> None:
    await store.add_caregiver(caregiver("cg1", "dana"))
    device = token("t1", "device-secret", "device", user_id="u1", label="tablet")
    admin = token("t2", "admin-secret", "admin", created_at=T0 + timedelta(seconds=1))
    care = token("t3", "care-secret", "caregiver", caregiver_id="cg1", created_at=T0 + timedelta(seconds=2))
    for t in (care, device, admin):
        await store.add_token(t)

    assert await store.find_token(device.token_hash) == device
    assert await store.find_token(hashlib.sha256(b"wrong").hexdigest()) is None
    assert await store.list_tokens() == [device, admin, care]

    with pytest.raises(AlreadyExists):
        await store.add_token(token("t4", "device-secret"))  # same secret, new id
    with pytest.raises(AlreadyExists):
        await store.add_token(token("t1", "another-secret"))  # same id, new secret

    assert await store.revoke_token("t1") == device
    assert await store.revoke_token("t1") is None
    assert await store.find_token(device.token_hash) is None
    assert [t.id for t in await store.list_tokens()] == ["t2", "t3"]


async def test_token_validation(store: SqlStore) -> None:
    with pytest.raises(InvalidInput):
        await store.add_token(token("t1", "s", "root"))
    with pytest.raises(NotFound):
        await store.add_token(token("t1", "s", "caregiver", caregiver_id="ghost"))
    assert await store.list_tokens() == []


async def test_caregivers(store: SqlStore) -> None:
    dana = caregiver("cg1", "dana")
    avi = caregiver("cg2", "avi", name="אבי")
    await store.add_caregiver(dana)
    await store.add_caregiver(avi)

    assert await store.get_caregiver("cg1") == dana
    assert await store.get_caregiver("nope") is None
    assert await store.find_caregiver_by_username("avi") == avi
    assert await store.find_caregiver_by_username("nobody") is None
    assert await store.list_caregivers() == [avi, dana]

    with pytest.raises(AlreadyExists) as info:
        await store.add_caregiver(caregiver("cg3", "dana"))
    assert info.value.field == "username"
    with pytest.raises(AlreadyExists) as info:
        await store.add_caregiver(caregiver("cg1", "someone-else"))
    assert info.value.field == "id"

    assert await store.update_caregiver_password("cg1", "$argon2id$new") is True
    updated = await store.get_caregiver("cg1")
    assert updated is not None
    assert updated.password_hash == "$argon2id$new"
    assert await store.update_caregiver_password("nope", "$argon2id$new") is False
    assert "argon2" not in repr(updated)


async def test_concurrent_duplicate_username_one_wins(store: SqlStore) -> None:
    for n in range(10):
        results = await asyncio.gather(
            store.add_caregiver(caregiver(f"a{n}", f"user{n}")),
            store.add_caregiver(caregiver(f"b{n}", f"user{n}")),
            return_exceptions=True,
        )
        assert sum(r is None for r in results) == 1, results
        assert sum(isinstance(r, AlreadyExists) for r in results) == 1, results


async def test_assignments(store: SqlStore) -> None:
    await store.add_caregiver(caregiver("cg1", "dana"))
    await store.add_caregiver(caregiver("cg2", "avi"))
    for user_id in ("u1", "u2"):
        await store.create_user(user_id)
    await store.assign("cg1", "u2")
    await store.assign("cg1", "u1")
    await store.assign("cg1", "u1")  # idempotent
    await store.assign("cg2", "u1")

    assert await store.users_of("cg1") == ["u1", "u2"]
    assert await store.users_of("cg2") == ["u1"]
    assert await store.users_of("nobody") == []
    assert await store.is_assigned("cg1", "u2") is True
    assert await store.is_assigned("cg2", "u2") is False

    assert await store.unassign("cg1", "u2") is True
    assert await store.unassign("cg1", "u2") is False
    assert await store.users_of("cg1") == ["u1"]

    with pytest.raises(NotFound):
        await store.assign("ghost", "u1")
    with pytest.raises(NotFound):
        await store.assign("cg1", "u-unregistered")


async def test_a_token_with_its_caregivers_assignment_in_one_lookup(store: SqlStore) -> None:
    await store.add_caregiver(caregiver("cg1", "dana"))
    for user_id in ("u1", "u2"):
        await store.create_user(user_id)
    await store.assign("cg1", "u1")
    care = token("t-care", "care-secret", "caregiver", caregiver_id="cg1")
    device = token("t-dev", "dev-secret", user_id="u1")
    await store.add_token(care)
    await store.add_token(device)

    assert await store.find_token_for(care.token_hash, "u1") == (care, True)
    assert await store.find_token_for(care.token_hash, "u2") == (care, False)
    assert await store.find_token_for(device.token_hash, "u1") == (device, False)  # no caregiver
    assert await store.find_token_for(hashlib.sha256(b"wrong").hexdigest(), "u1") == (None, False)
    await store.unassign("cg1", "u1")
    assert await store.find_token_for(care.token_hash, "u1") == (care, False)
