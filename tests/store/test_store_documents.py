"""The document contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from companion.errors import InvalidInput, PreconditionFailed
from companion.store import DocumentStore, SqlStore, StoredDocument, open_store

HEBREW = {
    "fullName": "שרה כהן",
    "notes": ["אוהבת שירים של אריק איינשטיין", "נכדה: נועה 🎵"],
    "nested": {"מפתח": 'ערך עם "מרכאות" ו-\\ לוכסן', "mixed": "abc אבג 123"},
    "rtl": "\u200fשלום\u200e",
}


def test_sql_store_satisfies_protocol(store: SqlStore) -> None:
    assert isinstance(store, DocumentStore)


async def test_create_get_and_versions(store: SqlStore) -> None:
    assert await store.get("u1", "profile", "main") is None
    created = await store.put("u1", "profile", "main", {"a": 1}, expected_version=None)
    assert created.version == 1
    assert created.updated_at.tzinfo is not None
    assert created.updated_at.utcoffset() == timedelta(0)
    assert await store.get("u1", "profile", "main") == created

    updated = await store.put("u1", "profile", "main", {"a": 2}, expected_version=1)
    assert updated.version == 2
    assert updated.body == {"a": 2}
    assert updated.updated_at >= created.updated_at
    third = await store.put("u1", "profile", "main", {"a": 3}, expected_version=2)
    assert third.version == 3
    assert await store.get("u1", "profile", "main") == third


async def test_stale_put_reports_current_version(store: SqlStore) -> None:
    await store.put("u1", "safety", "main", {"v": 1}, expected_version=None)
    await store.put("u1", "safety", "main", {"v": 2}, expected_version=1)
    with pytest.raises(PreconditionFailed) as info:
        await store.put("u1", "safety", "main", {"v": "stale"}, expected_version=1)
    assert info.value.current_version == 2
    assert info.value.extra == {"currentVersion": 2}
    stored = await store.get("u1", "safety", "main")
    assert stored is not None
    assert stored.body == {"v": 2}


async def test_create_when_exists_fails(store: SqlStore) -> None:
    await store.put("u1", "music", "main", {"x": 1}, expected_version=None)
    with pytest.raises(PreconditionFailed) as info:
        await store.put("u1", "music", "main", {"x": 2}, expected_version=None)
    assert info.value.current_version == 1
    stored = await store.get("u1", "music", "main")
    assert stored is not None
    assert stored.body == {"x": 1}


async def test_update_when_missing_fails(store: SqlStore) -> None:
    with pytest.raises(PreconditionFailed) as info:
        await store.put("u1", "music", "main", {"x": 1}, expected_version=1)
    assert info.value.current_version is None
    assert await store.get("u1", "music", "main") is None


@pytest.mark.parametrize("contenders", [2, 6])
async def test_concurrent_updates_exactly_one_wins(store: SqlStore, contenders: int) -> None:
    await store.put("u1", "profile", "main", {"round": 0}, expected_version=None)
    for version in range(1, 31):
        results = await asyncio.gather(
            *(
                store.put("u1", "profile", "main", {"round": version, "who": i}, expected_version=version)
                for i in range(contenders)
            ),
            return_exceptions=True,
        )
        wins = [r for r in results if isinstance(r, StoredDocument)]
        losses = [r for r in results if isinstance(r, PreconditionFailed)]
        assert len(wins) == 1, results
        assert len(losses) == contenders - 1, results
        assert all(loss.current_version == version + 1 for loss in losses)
        assert await store.get("u1", "profile", "main") == wins[0]


async def test_concurrent_creates_exactly_one_wins(store: SqlStore) -> None:
    for n in range(30):
        results = await asyncio.gather(
            store.put("u1", "memory", f"m{n}", {"who": "a"}, expected_version=None),
            store.put("u1", "memory", f"m{n}", {"who": "b"}, expected_version=None),
            return_exceptions=True,
        )
        wins = [r for r in results if isinstance(r, StoredDocument)]
        losses = [r for r in results if isinstance(r, PreconditionFailed)]
        assert (len(wins), len(losses)) == (1, 1), results
        assert losses[0].current_version == 1


async def test_compare_and_swap_across_engines(store: SqlStore, store_url: str) -> None:
    """Two engines behave like two worker processes: the guarantee comes from the database."""
    other = open_store(store_url)
    try:
        await store.put("u1", "profile", "main", {"n": 0}, expected_version=None)
        for version in range(1, 21):
            results = await asyncio.gather(
                store.put("u1", "profile", "main", {"n": version}, expected_version=version),
                other.put("u1", "profile", "main", {"n": -version}, expected_version=version),
                return_exceptions=True,
            )
            assert sum(isinstance(r, StoredDocument) for r in results) == 1, results
            assert sum(isinstance(r, PreconditionFailed) for r in results) == 1, results
    finally:
        await other.close()


async def test_delete(store: SqlStore) -> None:
    await store.put("u1", "alert", "a1", {"x": 1}, expected_version=None)
    assert await store.delete("u1", "alert", "a1") is True
    assert await store.get("u1", "alert", "a1") is None
    assert await store.delete("u1", "alert", "a1") is False
    # Re-creating after a delete starts over at version 1.
    again = await store.put("u1", "alert", "a1", {"x": 2}, expected_version=None)
    assert again.version == 1


async def test_list_orders_by_updated_at_then_doc_id(store: SqlStore) -> None:
    for doc_id in ("m3", "m1", "m2"):
        await store.put("u1", "memory", doc_id, {"id": doc_id}, expected_version=None)
    await store.put("u1", "memory", "m3", {"id": "m3", "edited": True}, expected_version=1)
    await store.put("u1", "alert", "other-kind", {}, expected_version=None)
    await store.put("u2", "memory", "other-user", {}, expected_version=None)
    listed = await store.list("u1", "memory")
    assert [d.doc_id for d in listed] == ["m1", "m2", "m3"]
    assert await store.list("u1", "nothing") == []


async def test_list_breaks_timestamp_ties_by_doc_id(store_url: str) -> None:
    frozen = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    s = open_store(store_url, clock=lambda: frozen)
    try:
        for doc_id in ("b", "c", "a"):
            await s.put("u1", "memory", doc_id, {}, expected_version=None)
        listed = await s.list("u1", "memory")
        assert [d.doc_id for d in listed] == ["a", "b", "c"]
        assert all(d.updated_at == frozen for d in listed)
    finally:
        await s.close()


async def test_load_user_returns_all_kinds_and_only_that_user(store: SqlStore) -> None:
    mine = {
        ("profile", "main"),
        ("safety", "main"),
        ("music", "main"),
        ("memory", "m1"),
        ("memory", "m2"),
        ("alert", "a1"),
    }
    for kind, doc_id in mine:
        await store.put("u1", kind, doc_id, {"k": kind}, expected_version=None)
    await store.put("u2", "profile", "main", {"k": "other"}, expected_version=None)
    await store.put("u10", "profile", "main", {"k": "prefix"}, expected_version=None)
    loaded = await store.load_user("u1")
    assert {(d.kind, d.doc_id) for d in loaded} == mine
    assert len(loaded) == len(mine)
    assert all(d.user_id == "u1" for d in loaded)
    assert await store.load_user("nobody") == []


async def test_hebrew_round_trips_exactly(store: SqlStore) -> None:
    written = await store.put("שרה", "profile", "ראשי", HEBREW, expected_version=None)
    assert written.body == HEBREW
    read = await store.get("שרה", "profile", "ראשי")
    assert read is not None
    assert read.body == HEBREW
    assert read.body["fullName"] == "שרה כהן"
    assert [d.body for d in await store.load_user("שרה")] == [HEBREW]
    assert await store.list_user_ids() == ["שרה"]


async def test_put_returns_what_get_returns(store: SqlStore) -> None:
    body = {"nested": {"list": [1, 2.5, None, True, "x"]}, "empty": {}}
    written = await store.put("u1", "profile", "main", body, expected_version=None)
    assert await store.get("u1", "profile", "main") == written


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bad": float("nan")}, "body"),
        ({"bad": {1, 2}}, "body"),
        (["not", "an", "object"], "body"),
    ],
)
async def test_invalid_bodies_are_rejected(store: SqlStore, body: object, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        await store.put("u1", "profile", "main", body, expected_version=None)  # type: ignore[arg-type]
    assert info.value.field == field
    assert await store.get("u1", "profile", "main") is None


@pytest.mark.parametrize(
    ("user_id", "kind", "doc_id", "field"),
    [("", "profile", "main", "user_id"), ("u", "k" * 65, "main", "kind"), ("u", "p", "x\x00y", "doc_id")],
)
async def test_invalid_keys_are_rejected(
    store: SqlStore, user_id: str, kind: str, doc_id: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await store.put(user_id, kind, doc_id, {}, expected_version=None)
    assert info.value.field == field


async def test_list_user_ids_is_distinct_and_sorted(store: SqlStore) -> None:
    await store.put("zed", "profile", "main", {}, expected_version=None)
    await store.put("amy", "profile", "main", {}, expected_version=None)
    await store.put("amy", "memory", "m1", {}, expected_version=None)
    await store.create_user("bob")
    await store.create_user("zed")
    assert await store.list_user_ids() == ["amy", "bob", "zed"]


async def test_bodies_stay_out_of_logs_and_reprs(store: SqlStore, caplog: pytest.LogCaptureFixture) -> None:
    secret = {"diagnosis": "SECRET-DIAGNOSIS-מחלה"}
    caplog.set_level(logging.DEBUG)
    doc = await store.put("u1", "safety", "main", secret, expected_version=None)
    with pytest.raises(PreconditionFailed) as info:
        await store.put("u1", "safety", "main", secret, expected_version=None)
    assert "SECRET" not in repr(doc)
    assert "SECRET" not in str(info.value)
    assert "SECRET" not in caplog.text


async def test_health(store: SqlStore) -> None:
    assert await store.health() == {"backend": store.backend, "ok": True}


async def test_list_kind_reads_one_kind_across_every_person(store: SqlStore) -> None:
    for user in ("u2", "u1"):
        await store.put(user, "alert", "a-1", {"n": user + "1"}, expected_version=None)
        await store.put(user, "alert", "a-2", {"n": user + "2"}, expected_version=None)
        await store.put(user, "profile", "main", {"n": user}, expected_version=None)
    found = await store.list_kind("alert")
    assert [(d.user_id, d.doc_id, d.body["n"]) for d in found] == [
        ("u1", "a-1", "u11"),
        ("u1", "a-2", "u12"),
        ("u2", "a-1", "u21"),
        ("u2", "a-2", "u22"),
    ]
    assert await store.list_kind("memory") == []
