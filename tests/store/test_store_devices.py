"""The device contract (pairing codes, devices, client secrets) on both backends."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from companion.errors import NotFound
from companion.store import ClientSecretRecord, DeviceStore, PairingRecord, SqlStore

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
TEN_MINUTES = timedelta(minutes=10)


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def pairing(code: str, user_id: str = "u1", at: datetime = T0) -> PairingRecord:
    return PairingRecord(
        code_hash=sha(code), user_id=user_id, created_by="cg1", created_at=at, expires_at=at + TEN_MINUTES
    )


async def paired(store: SqlStore, code: str, device_id: str, at: datetime = T0) -> None:
    outcome = await store.redeem_pairing(
        sha(code), device_id=device_id, label="Tablet", secret_hash=sha("cookie-" + device_id), now=at
    )
    assert outcome.outcome == "paired"


def test_sql_store_satisfies_protocol(store: SqlStore) -> None:
    assert isinstance(store, DeviceStore)


async def test_a_code_pairs_one_device_once(store: SqlStore) -> None:
    await store.create_user("u1")
    assert await store.add_pairing(pairing("123456"), purge_before=T0 - timedelta(days=1))
    first = await store.redeem_pairing(
        sha("123456"), device_id="d1", label="Chrome on Android", secret_hash=sha("c1"), now=T0
    )
    assert first.outcome == "paired"
    assert first.device is not None
    assert (first.device.user_id, first.device.label, first.device.created_at) == (
        "u1",
        "Chrome on Android",
        T0,
    )
    again = await store.redeem_pairing(
        sha("123456"), device_id="d2", label="x", secret_hash=sha("c2"), now=T0
    )
    assert again.outcome == "used"
    assert again.device is None
    unknown = await store.redeem_pairing(
        sha("654321"), device_id="d3", label="x", secret_hash=sha("c3"), now=T0
    )
    assert unknown.outcome == "unknown"
    assert [d.id for d in await store.list_devices("u1")] == ["d1"]
    assert await store.find_device(sha("c1")) == first.device
    assert await store.find_device(sha("c2")) is None


async def test_an_expired_code_pairs_nobody(store: SqlStore) -> None:
    await store.create_user("u1")
    await store.add_pairing(pairing("111111"), purge_before=T0 - timedelta(days=1))
    late = await store.redeem_pairing(
        sha("111111"), device_id="d1", label="x", secret_hash=sha("c1"), now=T0 + TEN_MINUTES
    )
    assert late.outcome == "expired"
    assert await store.list_devices("u1") == []


async def test_concurrent_redemptions_have_one_winner(store: SqlStore) -> None:
    await store.create_user("u1")
    await store.add_pairing(pairing("222222"), purge_before=T0 - timedelta(days=1))
    outcomes = await asyncio.gather(
        *(
            store.redeem_pairing(
                sha("222222"), device_id=f"d{i}", label="x", secret_hash=sha(f"c{i}"), now=T0
            )
            for i in range(5)
        )
    )
    assert sorted(o.outcome for o in outcomes) == ["paired", "used", "used", "used", "used"]
    assert len(await store.list_devices("u1")) == 1


async def test_pairing_codes_collide_and_old_ones_are_purged(store: SqlStore) -> None:
    await store.create_user("u1")
    assert await store.add_pairing(pairing("333333"), purge_before=T0 - timedelta(days=1))
    assert not await store.add_pairing(pairing("333333"), purge_before=T0 - timedelta(days=1))
    later = T0 + timedelta(days=2)
    assert await store.add_pairing(pairing("333333", at=later), purge_before=later - timedelta(days=1))
    with pytest.raises(NotFound):
        await store.add_pairing(pairing("444444", user_id="nobody"), purge_before=T0)


async def test_devices_are_listed_touched_and_deleted_per_person(store: SqlStore) -> None:
    for user in ("u1", "u2"):
        await store.create_user(user)
    await store.add_pairing(pairing("100000"), purge_before=T0)
    await store.add_pairing(pairing("200000", user_id="u2"), purge_before=T0)
    await paired(store, "100000", "d1")
    await paired(store, "200000", "d2")
    await store.touch_device("d1", T0 + timedelta(minutes=5))
    await store.touch_device("d1", T0 + timedelta(minutes=1))  # never moves backwards
    device = await store.get_device("d1")
    assert device is not None
    assert device.last_seen_at == T0 + timedelta(minutes=5)
    assert not await store.delete_device("u2", "d1"), "another person's device is not theirs to delete"
    assert await store.delete_device("u1", "d1")
    assert not await store.delete_device("u1", "d1")
    assert await store.list_devices("u1") == []
    assert [d.id for d in await store.list_devices("u2")] == ["d2"]


async def test_a_client_secret_opens_once_until_it_expires(store: SqlStore) -> None:
    await store.create_user("u1")
    await store.add_pairing(pairing("555555"), purge_before=T0)
    await paired(store, "555555", "d1")
    one = ClientSecretRecord(sha("ek_1"), "d1", T0, T0 + timedelta(seconds=60))
    two = ClientSecretRecord(sha("ek_2"), "d1", T0, T0 + timedelta(seconds=60))
    assert await store.add_client_secret(one)
    assert await store.add_client_secret(two)
    device = await store.consume_client_secret(sha("ek_1"), T0 + timedelta(seconds=1))
    assert device is not None
    assert (device.id, device.user_id) == ("d1", "u1")
    assert await store.consume_client_secret(sha("ek_1"), T0 + timedelta(seconds=2)) is None, "single use"
    assert await store.consume_client_secret(sha("ek_2"), T0 + timedelta(seconds=60)) is None, "expired"
    assert await store.consume_client_secret(sha("ek_unknown"), T0) is None


async def test_deleting_a_device_voids_its_secrets(store: SqlStore) -> None:
    await store.create_user("u1")
    await store.add_pairing(pairing("666666"), purge_before=T0)
    await paired(store, "666666", "d1")
    assert await store.add_client_secret(
        ClientSecretRecord(sha("ek_1"), "d1", T0, T0 + timedelta(seconds=60))
    )
    assert await store.delete_device("u1", "d1")
    assert await store.consume_client_secret(sha("ek_1"), T0) is None
    assert not await store.add_client_secret(
        ClientSecretRecord(sha("ek_2"), "d1", T0, T0 + timedelta(seconds=60))
    ), "a gone device gets no new secrets"
    assert await store.find_device(sha("cookie-d1")) is None


async def test_device_records_keep_hashes_out_of_reprs(store: SqlStore) -> None:
    await store.create_user("u1")
    await store.add_pairing(pairing("777777"), purge_before=T0)
    await paired(store, "777777", "d1")
    device = await store.get_device("d1")
    assert sha("cookie-d1") not in repr(device)
    assert sha("777777") not in repr(pairing("777777"))
