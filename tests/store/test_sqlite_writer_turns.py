"""On SQLite one process's writes take turns instead of contending in SQLite's busy handler."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from companion.store import SqlStore, open_store

WRITERS = 40


async def _impatient_store(tmp_path: Path) -> SqlStore:
    """A store whose connections give up at once on a locked file instead of waiting 30 s."""
    store = open_store(f"sqlite+aiosqlite:///{tmp_path / 'companion.db'}")
    await store.migrate()

    def no_patience(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    event.listen(store._engine.sync_engine, "connect", no_patience)
    await store._engine.dispose()  # the migration's connections were made before the listener
    return store


async def test_concurrent_writes_of_one_process_never_meet_the_lock(tmp_path: Path) -> None:
    store = await _impatient_store(tmp_path)
    try:
        for i in range(WRITERS):
            await store.create_user(f"u{i}")

        async def save(i: int) -> int:
            first = await store.put(f"u{i}", "music", "main", {"n": i}, expected_version=None)
            again = await store.put(f"u{i}", "music", "main", {"n": -i}, expected_version=first.version)
            return again.version

        # Without turns, pooled connections beginning at once find the file locked: with no busy
        # timeout that is "database is locked" (StoreUnavailable) for all but one of them.
        assert await asyncio.gather(*(save(i) for i in range(WRITERS))) == [2] * WRITERS
        assert len(await store.changes_after(0)) == 2 * WRITERS
    finally:
        await store.close()


async def test_a_transaction_inside_a_transaction_of_the_same_task_does_not_wait_for_itself(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite+aiosqlite:///{tmp_path / 'companion.db'}")
    await store.migrate()
    try:

        async def nested() -> int:
            async with store._tx() as outer:
                await outer.execute(text("SELECT 1"))
                async with store._tx() as inner:
                    return int(await inner.scalar(text("SELECT 2")) or 0)

        assert await asyncio.wait_for(nested(), timeout=10) == 2
    finally:
        await store.close()


async def test_turns_follow_the_event_loop_the_store_is_used_from(tmp_path: Path) -> None:
    store = open_store(f"sqlite+aiosqlite:///{tmp_path / 'companion.db'}")
    await store.migrate()
    await store.create_user("u")

    def other_loop() -> None:
        async def write() -> None:
            await store.put("u", "music", "main", {"n": 1}, expected_version=None)

        asyncio.run(write())

    try:
        await asyncio.to_thread(other_loop)
        saved = await store.put("u", "music", "main", {"n": 2}, expected_version=1)
        assert saved.version == 2
    finally:
        await store.close()
