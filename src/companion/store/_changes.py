"""The change log half of ``SqlStore``: one row per document write, in the write's own transaction.

Other instances read it to catch up with changes that Redis did not bring them (an outage, a restart,
a message lost). Ids come from the database and grow, but on PostgreSQL two transactions may commit
out of order (id 7 visible before id 6), so readers watch for gaps instead of trusting a high mark.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from companion.store._engine import SqlBase, check_aware
from companion.store.schema import change_log

MAX_READ = 1000  # changes read at once; a reader behind by more reads again at once

_chg = change_log.c
_LOG_CHANGE = insert(change_log)  # built once: it remembers its cache key (see sql.py)


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    id: int
    user_id: str
    kind: str
    version: int  # the document's new version; 0 for a deletion
    created_at: datetime


class SqlChanges(SqlBase):
    async def _log_change(self, conn: AsyncConnection, user_id: str, kind: str, version: int) -> None:
        await conn.execute(
            _LOG_CHANGE, {"user_id": user_id, "kind": kind, "version": version, "created_at": self._now()}
        )

    async def last_change_id(self) -> int:
        """The newest change's id (0 when there is none): where a starting instance begins reading."""
        async with self._read() as conn:
            return int(await conn.scalar(select(func.coalesce(func.max(_chg.id), 0))) or 0)

    async def changes_after(
        self, after_id: int, *, also: Iterable[int] = (), limit: int = MAX_READ
    ) -> builtins.list[ChangeRecord]:
        """Changes with an id above ``after_id``, and those of ``also`` (ids a reader saw missing before),
        oldest first."""
        wanted = _chg.id > after_id
        missing = sorted(set(also))
        if missing:
            wanted = or_(wanted, _chg.id.in_(missing))
        query = select(change_log).where(wanted).order_by(_chg.id).limit(max(1, min(limit, MAX_READ)))
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [ChangeRecord(int(r.id), r.user_id, r.kind, int(r.version), r.created_at) for r in rows]

    async def prune_changes(self, older_than: datetime) -> int:
        """Forget changes every instance has long read; how many went. The newest change always stays,
        so that a starting instance's ``last_change_id`` is the true high mark."""
        check_aware(older_than)
        newest = select(func.max(_chg.id)).scalar_subquery()
        async with self._tx() as conn:
            result = await conn.execute(
                delete(change_log).where(_chg.created_at < older_than, _chg.id < newest)
            )
            return int(result.rowcount or 0)
