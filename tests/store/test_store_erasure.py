"""Erasure on SQLite and PostgreSQL: a person's every row goes in one transaction, audited, and
nobody else's data is touched; a caregiver's account, tokens and assignments likewise."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from companion.errors import NotFound
from companion.store import (
    CaregiverRecord,
    ImportMark,
    ImportWrite,
    PhotoFiles,
    SqlStore,
    TokenRecord,
    open_store,
)
from companion.store.base import (
    AckRecord,
    ClientSecretRecord,
    ConversationRecord,
    ConversationWrite,
    JobRecord,
    PairingRecord,
    ReminderRecord,
    TurnRecord,
    UnsubscribeRecord,
)
from companion.store.schema import ALL_TABLES, audit_log

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
USER_TABLES = [t for t in ALL_TABLES if t.name not in {"caregivers", "audit_log"}]


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def populate(store: SqlStore, user: str, caregiver: str) -> None:
    """One of everything the service stores about a person."""
    await store.create_user(user)
    await store.assign(caregiver, user)
    await store.put(user, "profile", "main", {"name": f"{user} name"}, expected_version=None)
    await store.put(user, "memory", "m1", {"text": "likes tea"}, expected_version=None)
    job = JobRecord(
        id=f"{user}-job",
        user_id=user,
        alert_id=f"{user}-alert",
        stage=0,
        channel="email",
        address="family@example.com",
        contact="Dana",
        payload={"summary": "fell"},
        status="pending",
        attempts=0,
        next_attempt_at=T0,
        created_at=T0,
    )
    await store.add_alert_with_jobs(user, f"{user}-alert", {"id": f"{user}-alert"}, [job])
    await store.finish_job(job.id, result="retry", detail="503", at=T0, next_attempt_at=T0)  # an attempt row
    ack = AckRecord(sha(f"{user}-ack"), user, f"{user}-alert", "Dana", T0, T0 + timedelta(days=1))
    await store.add_ack(ack)
    pairing = PairingRecord(sha(f"{user}-code"), user, caregiver, T0, T0 + timedelta(minutes=10))
    assert await store.add_pairing(pairing, purge_before=T0 - timedelta(days=1))
    redeemed = await store.redeem_pairing(
        pairing.code_hash, device_id=f"{user}-tablet", label="tablet", secret_hash=sha(f"{user}-dev"), now=T0
    )
    assert redeemed.outcome == "paired"
    secret = ClientSecretRecord(sha(f"{user}-ek"), f"{user}-tablet", T0, T0 + timedelta(minutes=1))
    assert await store.add_client_secret(secret)
    await store.add_pairing(
        PairingRecord(sha(f"{user}-code2"), user, caregiver, T0, T0 + timedelta(minutes=10)),
        purge_before=T0 - timedelta(days=1),
    )
    reminder = ReminderRecord(
        id=f"{user}-r1",
        user_id=user,
        kind="medication",
        label="pill",
        local_time="08:00",
        due_at=T0 + timedelta(days=1),
        state="due",
        updated_at=T0,
    )
    await store.series_since(user, {"ser-1"}, now=T0)
    await store.sync_reminders(user, [reminder], now=T0)
    photo = PhotoFiles(f"{user}-photo", user, "image/jpeg", 4, 3, b"display", b"thumb", b"original")
    await store.add_photo(photo, {"id": photo.id, "caption": "at the sea"}, max_count=10, max_bytes=10_000)
    await store.add_token(
        TokenRecord(
            f"{user}-tok", sha(f"{user}-tok"), "device", user, None, "tablet", T0, T0 + timedelta(days=1)
        )
    )
    record = ConversationRecord(f"{user}-conv", user, f"{user}-tablet", "transcript", T0, summary="tea")
    turn = TurnRecord(0, "person", T0, "hello")
    assert await store.save_conversation(ConversationWrite(record, (turn,), first=True))
    await store.add_unsubscribe(
        UnsubscribeRecord(sha(f"{user}-unsub"), user, "dana@example.com", T0, T0 + timedelta(days=30))
    )
    mark = ImportMark("memory:m1", {"text": "0123abcd"}, 1)
    await store.import_person(user, lambda _: ImportWrite(marks=(mark,)), source="never-alone")


async def rows_of(store: SqlStore, user: str) -> dict[str, int]:
    """How many rows each table holds that mention ``user`` (directly or through its jobs/devices)."""
    counts: dict[str, int] = {}
    async with store._read() as conn:
        for table in USER_TABLES:
            if "user_id" in table.c:
                where = table.c.user_id == user
            elif table.name == "delivery_attempts":
                where = table.c.job_id == f"{user}-job"
            elif table.name == "client_secrets":
                where = table.c.device_id == f"{user}-tablet"
            else:
                raise AssertionError(f"table {table.name} has no known link to a person: erase it too")
            counts[table.name] = int(
                await conn.scalar(select(func.count()).select_from(table).where(where)) or 0
            )
    return counts


async def caregiver(store: SqlStore, cid: str) -> None:
    await store.add_caregiver(CaregiverRecord(cid, cid.title(), cid, "argon2-hash", T0))


async def test_erasing_a_person_removes_every_row_about_them_and_nothing_else(store: SqlStore) -> None:
    await caregiver(store, "cg-a")
    await populate(store, "user-gone", "cg-a")
    await populate(store, "user-kept", "cg-a")
    before_kept = await rows_of(store, "user-kept")
    assert all(before_kept.values()), f"the fixture fills every table: {before_kept}"

    counts = await store.erase_user("user-gone", actor="tok-admin")

    assert await rows_of(store, "user-gone") == dict.fromkeys(before_kept, 0)
    assert await rows_of(store, "user-kept") == before_kept, "another person's data is untouched"
    counted = (counts.documents, counts.photos, counts.devices, counts.tokens, counts.assignments)
    assert counted == (4, 1, 1, 1, 1)
    assert counts.conversations == 1
    assert await store.get_caregiver("cg-a") is not None, "the caregiver stays"
    assert await store.users_of("cg-a") == ["user-kept"]
    assert "user-gone" not in await store.list_user_ids()
    assert await store.load_user("user-kept") != []
    [entry] = await store.audit_entries()
    assert (entry.actor, entry.action, entry.target) == ("tok-admin", "erase_person", "user-gone")


async def test_erasing_an_unknown_person_is_not_found_and_writes_no_audit(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await store.erase_user("user-nobody", actor="tok-admin")
    assert await store.audit_entries() == []


async def test_a_person_known_only_by_documents_can_be_erased(store: SqlStore) -> None:
    await store.put("user-legacy", "profile", "main", {"x": 1}, expected_version=None)
    await store.erase_user("user-legacy", actor="cg-a")
    assert await store.load_user("user-legacy") == []


async def test_a_failed_erasure_leaves_everything_in_place(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction: the audit row is written last, so failing there must roll every delete back."""
    await caregiver(store, "cg-a")
    await populate(store, "user-x", "cg-a")
    before = await rows_of(store, "user-x")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("companion.store._erasure.audit", broken)
    with pytest.raises(RuntimeError):
        await store.erase_user("user-x", actor="tok-admin")
    assert await rows_of(store, "user-x") == before


async def test_erasing_a_caregiver_removes_account_tokens_and_assignments_only(store: SqlStore) -> None:
    await caregiver(store, "cg-a")
    await caregiver(store, "cg-b")
    await populate(store, "user-1", "cg-a")
    await store.assign("cg-b", "user-1")
    await store.add_token(TokenRecord("tok-a", sha("tok-a"), "caregiver", None, "cg-a", None, T0))
    await store.add_token(TokenRecord("tok-b", sha("tok-b"), "caregiver", None, "cg-b", None, T0))
    person_before = await rows_of(store, "user-1")

    counts = await store.erase_caregiver("cg-a", actor="tok-admin")

    assert (counts.tokens, counts.assignments) == (1, 1)
    assert await store.get_caregiver("cg-a") is None
    assert await store.get_token("tok-a") is None
    assert await store.get_token("tok-b") is not None
    assert await store.assignments() == {"cg-b": ["user-1"]}
    after = await rows_of(store, "user-1")
    assert after == {**person_before, "caregiver_assignments": 1}, "the person's data stays"
    async with store._read() as conn:
        actions = list(await conn.scalars(select(audit_log.c.action)))
    assert actions == ["erase_caregiver"]
    with pytest.raises(NotFound):
        await store.erase_caregiver("cg-a", actor="tok-admin")


async def test_people_and_caregivers_are_made_with_their_assignments_in_one_transaction(
    store: SqlStore,
) -> None:
    await caregiver(store, "cg-a")
    await store.create_user_assigned("user-1", "cg-a")
    assert await store.users_of("cg-a") == ["user-1"]
    with pytest.raises(NotFound):
        await store.create_user_assigned("user-2", "cg-nobody")
    assert not await store.user_exists("user-2"), "no unassigned person is left behind"

    with pytest.raises(NotFound):
        await store.add_caregiver_assigned(
            CaregiverRecord("cg-b", "B", "bee", "h", T0), ["user-1", "user-ghost"]
        )
    assert await store.get_caregiver("cg-b") is None, "no account without its people"
    await store.add_caregiver_assigned(CaregiverRecord("cg-b", "B", "bee", "h", T0), ["user-1", "user-1"])
    assert await store.assignments() == {"cg-a": ["user-1"], "cg-b": ["user-1"]}


async def test_revoking_is_audited_and_last_use_is_throttled(store: SqlStore) -> None:
    await store.add_token(
        TokenRecord("t1", sha("t1"), "admin", None, None, None, T0, T0 + timedelta(days=30))
    )
    await store.touch_token("t1", T0, not_since=T0 - timedelta(minutes=1))
    await store.touch_token("t1", T0 + timedelta(seconds=30), not_since=T0 - timedelta(seconds=30))
    record = await store.get_token("t1")
    assert record is not None and record.last_used_at == T0, "a use within the minute is not written"
    await store.touch_token("t1", T0 + timedelta(minutes=2), not_since=T0 + timedelta(minutes=1))
    record = await store.get_token("t1")
    assert record is not None and record.last_used_at == T0 + timedelta(minutes=2)
    assert record.expires_at == T0 + timedelta(days=30)

    revoked = await store.revoke_token("t1", actor="tok-admin")
    assert revoked is not None and revoked.id == "t1"
    [entry] = await store.audit_entries()
    assert (entry.actor, entry.action, entry.target) == ("tok-admin", "revoke_token", "t1")


def _bytes_on_disk(db: Path) -> bytes:
    """The database file and its WAL, as anyone who copies the directory would read them."""
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


async def test_erased_data_is_not_left_in_the_sqlite_file_or_its_wal(tmp_path: Path) -> None:
    db = tmp_path / "companion.db"
    store = open_store(f"sqlite:///{db}")
    await store.migrate()
    try:
        marker = "erase-marker-" + secrets.token_hex(8)
        await store.create_user("user-gone")
        await store.put("user-gone", "profile", "main", {"note": marker * 50}, expected_version=None)
        await store.put("user-gone", "memory", "m1", {"text": f"{marker} likes tea"}, expected_version=None)
        await store.create_user("user-kept")
        await store.put("user-kept", "memory", "m1", {"text": "kept-marker"}, expected_version=None)
        # Rewritten once more: the WAL then holds several images of the same pages.
        await store.put("user-gone", "profile", "main", {"note": marker * 60}, expected_version=1)
        assert marker.encode() in _bytes_on_disk(db), "the marker was written where the test looks"

        await store.erase_user("user-gone", actor="admin")

        on_disk = _bytes_on_disk(db)
        assert marker.encode() not in on_disk
        assert b"kept-marker" in on_disk, "the other person's data is still there"
        wal = db.with_name(db.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0, "the WAL was checkpointed and emptied"
        assert (await store.get("user-kept", "memory", "m1")) is not None
    finally:
        await store.close()
