"""``write_imports`` on both backends (on a SQLite file its people are written in a worker thread, on
the driver's own connection): each person in a transaction of their own, a person whose write fails
leaves nothing behind and fails alone, and a second import of the same state changes nothing. The
stored state is read for many people at once (``imported_states``), planned afresh on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from companion.errors import PreconditionFailed
from companion.store import (
    DocumentWrite,
    ImportedState,
    ImportMark,
    ImportWrite,
    PersonWrite,
    SqlStore,
)
from companion.store.base import ReminderRecord

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SOURCE = "never-alone"


def reminder(user: str, n: int) -> ReminderRecord:
    due = T0 - timedelta(days=n + 1)
    return ReminderRecord(
        id=f"rem-{user}-{n}",
        user_id=user,
        kind="medication",
        label="Aricept 5 mg",
        local_time="08:00",
        due_at=due,
        state="acknowledged",
        updated_at=T0,
        acked_at=due,
    )


def first_import(user: str, note: str = "likes tea") -> ImportWrite:
    return ImportWrite(
        documents=(
            DocumentWrite("memory", f"na-{user}-1", {"id": f"na-{user}-1", "text": note}, None),
            DocumentWrite("alert", f"na-{user}-a", {"id": f"na-{user}-a", "kind": "x"}, None),
        ),
        new_reminders=tuple(reminder(user, n) for n in range(3)),
        marks=(ImportMark(f"memory:na-{user}-1", {"text": note}, 1),),
    )


async def states(store: SqlStore, users: list[str]) -> dict[str, ImportedState]:
    return await store.imported_states({u: ([f"rem-{u}-{n}" for n in range(3)], []) for u in users})


async def written(store: SqlStore, user: str) -> dict[str, Any]:
    docs = await store.load_user(user)
    marks = await store.import_marks(user)
    found = await states(store, [user])
    return {
        "documents": sorted((d.kind, d.doc_id, d.version) for d in docs),
        "marks": sorted(m.item for m in marks),
        "reminders": sorted(found[user].reminders),
    }


async def test_each_person_in_a_transaction_of_their_own(store: SqlStore) -> None:
    users = ["ada", "bea", "cyd"]
    before = await states(store, users)
    assert not any(s.registered for s in before.values())
    results = await store.write_imports(
        [PersonWrite(u, first_import(u), before[u]) for u in users], source=SOURCE
    )
    assert results == [None, None, None]
    assert (store._bulk is not None) == (store.backend == "sqlite")  # the worker thread's own engine
    for user in users:
        assert await written(store, user) == {
            "documents": [("alert", f"na-{user}-a", 1), ("memory", f"na-{user}-1", 1)],
            "marks": [f"memory:na-{user}-1"],
            "reminders": [f"rem-{user}-{n}" for n in range(3)],
        }
    after = await states(store, users)
    assert after["ada"].registered and after["ada"].marks["memory:na-ada-1"].version == 1
    assert after["ada"].reminders["rem-ada-0"].acked_at == T0 - timedelta(days=1)

    # the same again, from the state now: nothing to write, nothing written
    changes = await store.last_change_id()
    again = await store.write_imports([PersonWrite(u, ImportWrite(), after[u]) for u in users], source=SOURCE)
    assert again == [None, None, None] and await store.last_change_id() == changes


async def test_a_person_whose_write_fails_leaves_nothing_and_fails_alone(store: SqlStore) -> None:
    users = ["ada", "bea", "cyd"]
    before = await states(store, users)
    await store.write_imports([PersonWrite("ada", first_import("ada"), before["ada"])], source=SOURCE)
    read = await states(store, users)
    # the family edits Ada's memory after the import read it: the import's update must not land
    stale = read["ada"]
    current = stale.documents[("memory", "na-ada-1")]
    await store.put(
        "ada", "memory", "na-ada-1", current.body | {"text": "likes mint tea"}, expected_version=1
    )
    update = ImportWrite(
        documents=(DocumentWrite("memory", "na-ada-1", {"id": "na-ada-1", "text": "likes green tea"}, 1),),
        new_reminders=(reminder("ada", 7),),
        marks=(ImportMark("memory:na-ada-1", {"text": "green"}, 2),),
    )
    # Cyd's reminder row appears here between the reading and the writing (another import, say)
    taken = first_import("cyd")
    await store.write_imports(
        [PersonWrite("cyd", ImportWrite(new_reminders=(reminder("cyd", 0),)), read["cyd"])], source=SOURCE
    )

    results = await store.write_imports(
        [
            PersonWrite("ada", update, stale),
            PersonWrite("bea", first_import("bea"), read["bea"]),
            PersonWrite("cyd", taken, read["cyd"]),
        ],
        source=SOURCE,
    )
    assert [type(r) for r in results] == [PreconditionFailed, type(None), PreconditionFailed]
    assert "changed here during the import" in str(results[0])
    assert "created here during the import" in str(results[2])
    ada = await store.get("ada", "memory", "na-ada-1")
    assert ada is not None and (ada.body["text"], ada.version) == ("likes mint tea", 2)
    assert (await written(store, "ada"))["reminders"] == ["rem-ada-0", "rem-ada-1", "rem-ada-2"]
    assert (await written(store, "bea"))["marks"] == ["memory:na-bea-1"]
    assert await written(store, "cyd") == {"documents": [], "marks": [], "reminders": ["rem-cyd-0"]}
