"""Deciding what to write for one person, from plain data: what the source says now, what an earlier
import wrote, and what is stored here (the family's edits)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from companion.importers.merge import fingerprint, merge, paths
from companion.importers.plan import PersonImport, decide
from companion.store import ImportedState, ImportMark, StoredDocument

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SAFETY = {"forbiddenTopics": ["politics"], "medications": []}


def state(
    body: dict[str, Any] | None = None, mark: ImportMark | None = None, version: int = 1
) -> ImportedState:
    docs = {}
    if body is not None:
        docs[("safety", "main")] = StoredDocument("u", "safety", "main", body, version, NOW)
    return ImportedState("u", True, docs, {mark.item: mark} if mark else {}, {}, {})


def stored(partial: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    from companion.profiles.models import Safety

    return Safety.model_validate(merge(current, partial)).model_dump(mode="json", by_alias=True)


def imported(partial: dict[str, Any], version: int = 1) -> ImportMark:
    return ImportMark("section:safety", fingerprint(stored(partial), paths(partial)), version)


def plan(partial: dict[str, Any], st: ImportedState, *, overwrite: bool = False) -> Any:
    return decide(PersonImport("u", sections={"safety": partial}), st, overwrite=overwrite, now=NOW)


def test_new_here_is_created() -> None:
    write, out = plan(SAFETY, state())
    assert out.changes == [("section:safety", "created")] and out.sections == ["safety"]
    [doc] = write.documents
    assert doc.expected_version is None and doc.body["forbiddenTopics"] == ["politics"]
    assert write.marks[0].version == 1


def test_unchanged_at_the_source_writes_nothing_whatever_happened_here() -> None:
    edited_here = stored(SAFETY) | {"forbiddenTopics": ["family matters"]}
    write, out = plan(SAFETY, state(edited_here, imported(SAFETY)))
    assert write.empty and out.changes == [] and out.conflicts == []


def test_changed_at_the_source_only_updates_and_keeps_what_is_ours() -> None:
    here = stored(SAFETY) | {"escalationMinutes": 7}  # a field the seed system has no notion of
    new = {"forbiddenTopics": ["politics", "money"], "medications": []}
    write, out = plan(new, state(here, imported(SAFETY), version=3))
    assert out.changes == [("section:safety", "updated")]
    [doc] = write.documents
    assert doc.expected_version == 3 and doc.body["escalationMinutes"] == 7
    assert doc.body["forbiddenTopics"] == ["politics", "money"]
    assert write.marks[0].version == 4


def test_changed_at_both_ends_is_a_conflict_and_here_wins_unless_overwrite() -> None:
    here = stored(SAFETY) | {"forbiddenTopics": ["family matters"]}
    new = {"forbiddenTopics": ["politics", "money"], "medications": []}
    write, out = plan(new, state(here, imported(SAFETY)))
    assert write.empty and out.conflicts == [("section:safety", "edited here since the last import", False)]
    write, out = plan(new, state(here, imported(SAFETY)), overwrite=True)
    assert out.changes == [("section:safety", "overwritten")]
    assert write.documents[0].body["forbiddenTopics"] == ["politics", "money"]


def test_the_same_change_at_both_ends_only_remembers_it() -> None:
    new = {"forbiddenTopics": ["politics", "money"], "medications": []}
    write, out = plan(new, state(stored(new), imported(SAFETY)))
    assert write.documents == () and out.changes == [] and out.conflicts == []
    assert [m.item for m in write.marks] == ["section:safety"]


def test_a_section_made_here_is_not_overwritten_by_a_first_import() -> None:
    here = stored({"forbiddenTopics": ["family matters"], "medications": []})
    write, out = plan(SAFETY, state(here))
    assert write.empty and out.conflicts == [("section:safety", "made here, not by an import", False)]


def test_a_contacts_email_here_survives_an_import_that_changes_the_contacts() -> None:
    old = {"emergencyContacts": [{"name": "Sarah", "relationship": "daughter", "phone": "050-123-4567"}]}
    here = stored(old)
    here["emergencyContacts"][0]["email"] = "sarah@example.com"
    new = {
        "emergencyContacts": [
            {"name": "Sarah", "relationship": "daughter", "phone": "+972-50-999-9999"},
            {"name": "David", "relationship": "son", "phone": "+972-52-111-1111"},
        ]
    }
    write, out = plan(new, state(here, imported(old)))
    assert out.changes == [("section:safety", "updated")]  # the e-mail is ours: not an edit of theirs
    contacts = write.documents[0].body["emergencyContacts"]
    assert [(c["name"], c["phone"], c["email"]) for c in contacts] == [
        ("Sarah", "+972-50-999-9999", "sarah@example.com"),
        ("David", "+972-52-111-1111", None),
    ]


def test_a_section_that_would_not_be_valid_here_fails_the_person() -> None:
    import pytest

    from companion.errors import InvalidInput

    with pytest.raises(InvalidInput, match="safety"):
        plan({"medications": [{"name": "x"}]}, state())
