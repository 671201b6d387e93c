"""The export is complete: every table whose rows name a person is listed, has a place in the export
document, and its rows come back for that person (without secrets' hashes, and nobody else's), on
SQLite and PostgreSQL. A table added later that names a person fails here until the export covers it."""

from __future__ import annotations

from companion.conversations.family import EXPORT_COVERAGE, RAW_TABLES
from companion.store import SqlStore, tables_naming_a_person
from companion.store.schema import ALL_TABLES
from tests.store.test_store_erasure import caregiver, populate


def test_every_table_that_names_a_person_has_a_place_in_the_export() -> None:
    naming = tables_naming_a_person()
    assert sorted(EXPORT_COVERAGE) == naming, "a table that names a person is missing from the export"
    unrelated = {t.name for t in ALL_TABLES} - set(naming)
    assert unrelated == {"caregivers", "audit_log"}, "only accounts and the audit log name no person"


async def test_the_rows_of_every_table_come_back_without_secrets_and_only_theirs(store: SqlStore) -> None:
    await caregiver(store, "cg-a")
    await populate(store, "user-a", "cg-a")
    await populate(store, "user-b", "cg-a")
    rows = await store.person_rows("user-a", tables_naming_a_person())
    assert set(rows) == set(tables_naming_a_person())
    empty = [name for name, found in rows.items() if not found]
    assert empty == [], f"the fixture fills every table; these came back empty: {empty}"
    for name, found in rows.items():
        for row in found:
            assert not any(key.endswith("_hash") for key in row), f"{name} leaked a secret's hash"
            assert "user-b" not in str(row), f"{name} returned another person's row"
    assert set(RAW_TABLES) <= set(rows)
