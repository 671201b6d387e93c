"""Step 10: save what changed, each section with the version the wizard opened, and say what happened.

Sections are separate documents, so one that someone else changed meanwhile (412) does not stop the
others; it becomes a ``Conflict`` the caregiver resolves by reloading theirs or re-applying mine.
Nothing is ever written over another person's save without the caregiver seeing their change first.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from companion.dashboard.wizard import (
    Conflict,
    Draft,
    changed_sections,
    dump,
    memory_changes,
    merge,
    validate,
)
from companion.errors import NotFound, PreconditionFailed, PreconditionRequired
from companion.events import RefreshCounts
from companion.services import Services

Outcome = Literal["live", "next", "failed", "nothing"]


@dataclass(slots=True)
class SaveReport:
    saved: list[str] = field(default_factory=list)
    counts: RefreshCounts = field(default_factory=RefreshCounts)

    @property
    def outcome(self) -> Outcome:
        return outcome(self.counts, bool(self.saved))

    def as_flash(self) -> dict[str, Any]:
        return {"kind": "saved", "outcome": self.outcome, "saved": self.saved, **self.counts.as_json()}


def outcome(counts: RefreshCounts, saved: bool = True) -> Outcome:
    """Which of the issue's three messages applies (failed first: the caregiver must learn of it)."""
    if not saved:
        return "nothing"
    if counts.failed:
        return "failed"
    if counts.refreshed or counts.unchanged:
        return "live"
    return "next"


async def _save_section(
    services: Services, draft: Draft, section: str, body: dict[str, Any], report: SaveReport
) -> None:
    try:
        result = await services.profiles.save_section(
            draft.user_id, section, body, if_match=draft.versions[section]
        )
    except (PreconditionFailed, PreconditionRequired):
        state = await services.profiles.get_section(draft.user_id, section)
        assert state.version is not None
        theirs = dump(state.data) if state.data is not None else {}  # unreadable: start from nothing
        draft.conflicts[section] = Conflict(theirs=theirs, version=state.version)
        return
    draft.accept(section, dump(result.data), result.version)
    report.saved.append(section)
    report.counts.add(result.live_sessions)


async def _save_memories(services: Services, draft: Draft, report: SaveReport) -> None:
    added, removed = memory_changes(draft)
    confirmed = [m for m in draft.memories if m.get("id") and m.get("confirmedAt") == "pending"]
    for memory in confirmed:
        with contextlib.suppress(NotFound):  # removed meanwhile: nothing left to keep
            memory.update(dump(await services.profiles.confirm_memory(draft.user_id, memory["id"])))
    for memory in removed:
        with contextlib.suppress(NotFound):  # someone removed it already: the wish is fulfilled
            report.counts.add(await services.profiles.delete_memory(draft.user_id, memory["id"]))
    for memory in added:
        body = {k: memory[k] for k in ("text", "type", "importance") if k in memory}
        stored, live = await services.profiles.add_memory(draft.user_id, body)
        memory.update(dump(stored))
        report.counts.add(live)
    if added or removed or confirmed:
        report.saved.append("memories")
    draft.base_memories = copy.deepcopy(draft.memories)


async def submit(services: Services, draft: Draft) -> SaveReport:
    """Save every changed section and the memory changes; conflicts are left in ``draft.conflicts``."""
    report = SaveReport()
    async with services.profiles.batch(draft.user_id) as batch:  # one refresh for the whole save
        for section, body in changed_sections(draft).items():
            await _save_section(services, draft, section, body, report)
        await _save_memories(services, draft, report)
    report.counts.add(batch.counts)
    return report


def reload_theirs(draft: Draft, section: str) -> None:
    """Discard my changes to ``section``: its stored version becomes my working copy."""
    conflict = draft.conflicts[section]
    draft.accept(section, conflict.theirs, conflict.version)


async def reapply_mine(services: Services, draft: Draft, section: str) -> SaveReport:
    """My changes since the wizard opened, on top of their version, saved with their version."""
    conflict = draft.conflicts.pop(section)
    merged = merge(draft.base[section], draft.data[section], conflict.theirs)
    draft.base[section] = conflict.theirs
    draft.versions[section] = conflict.version
    draft.data[section] = merged
    report = SaveReport()
    valid, errors = validate(section, merged)
    if valid is not None and not errors and valid != draft.base[section]:
        await _save_section(services, draft, section, valid, report)
    return report


async def retry_refresh(services: Services, user_id: str) -> RefreshCounts:
    """The "try again" after a save whose live refresh failed: the data is saved, only refresh (every
    instance's conversations of the person)."""
    return await services.directory.refresh_counts(user_id)
