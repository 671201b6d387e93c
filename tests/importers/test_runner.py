"""The runner's pipeline with a store of plain data: people are planned a batch ahead of the writing,
each batch handed to the store at once, and a store that fails while a batch is planned stops the
import with that error (after the batches before it were written), instead of leaving it waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import pytest

from companion.errors import StoreUnavailable
from companion.importers import runner as runner_module
from companion.importers.runner import ImportRunner
from companion.importers.sources import DirSource
from companion.store import ImportedState, ImportWrite, PersonWrite
from importers import seed_data as SEED

GUARD_S = 30  # far beyond the few milliseconds the import of four people takes


class Store:
    """Everyone new here; the ``fail_at``-th reading of stored state fails."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.reads = 0
        self.written: list[list[str]] = []

    async def imported_states(
        self, people: Mapping[str, tuple[Collection[str], Collection[str]]]
    ) -> dict[str, ImportedState]:
        self.reads += 1
        if self.reads == self.fail_at:
            raise StoreUnavailable("postgresql database unavailable: connection refused")
        return {u: ImportedState(u, False, {}, {}, {}, {}) for u in people}

    async def write_imports(self, people: Sequence[PersonWrite], *, source: str) -> list[None]:
        self.written.append([p.user_id for p in people])
        return [None for _ in people]

    async def write_import(
        self, user_id: str, write: ImportWrite, state: ImportedState, *, source: str
    ) -> None:
        raise AssertionError("no photos in these runs")


@pytest.fixture(autouse=True)
def one_person_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "BATCH", 1)


async def test_each_batch_is_handed_to_the_store_at_once(export_dir: Path) -> None:
    store = Store()
    report = await ImportRunner(store, clock=lambda: SEED.NOW).run(DirSource(export_dir))
    assert store.written == [[SEED.MOSHE], [SEED.RINA], [SEED.TIFERET]]  # the broken person: failed
    assert [p.status for p in report.people] == ["created", "created", "created", "failed"]


async def test_a_store_failing_while_planning_stops_the_import_with_its_error(export_dir: Path) -> None:
    store = Store(fail_at=2)
    with pytest.raises(StoreUnavailable, match="connection refused"):
        async with asyncio.timeout(GUARD_S):  # a writer left waiting would fail here, not hang the suite
            await ImportRunner(store, clock=lambda: SEED.NOW).run(DirSource(export_dir))
    assert store.written == [[SEED.MOSHE]]
