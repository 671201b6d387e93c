"""Every stored row that names a person, for their family's right of access (the export).

The structured parts of an export (profile, memories, alerts, reminders, conversations) are read
through their own services; this reads the rest as plain rows: which tablets and tokens speak for the
person, who is on their care team, which links were sent, what changed and when. Secrets never leave:
a column holding a hash of one (``*_hash``) is left out of every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Table, select

from companion.store._engine import SqlBase
from companion.store.schema import ALL_TABLES, client_secrets, delivery_attempts, devices, notification_jobs

SECRET_SUFFIX: Final = "_hash"


def person_filter(table: Table, user_id: str) -> ColumnElement[bool] | None:
    """How ``table``'s rows name the person: its own ``user_id``, or through the row it belongs to (a
    tablet's client secrets, a notification's attempts); None: its rows never name a person."""
    if "user_id" in table.c:
        return table.c.user_id == user_id
    if table is client_secrets:
        return client_secrets.c.device_id.in_(select(devices.c.id).where(devices.c.user_id == user_id))
    if table is delivery_attempts:
        jobs = select(notification_jobs.c.id).where(notification_jobs.c.user_id == user_id)
        return delivery_attempts.c.job_id.in_(jobs)
    return None


def tables_naming_a_person() -> list[str]:
    return sorted(t.name for t in ALL_TABLES if person_filter(t, "x") is not None)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class SqlExport(SqlBase):
    async def person_rows(self, user_id: str, tables: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The person's rows of each of ``tables``, without secrets' hashes, in one read."""
        by_name = {t.name: t for t in ALL_TABLES}
        out: dict[str, list[dict[str, Any]]] = {}
        async with self._read() as conn:
            for name in tables:
                table = by_name[name]
                where = person_filter(table, user_id)
                if where is None:
                    continue
                columns = [c for c in table.c if not c.name.endswith(SECRET_SUFFIX)]
                rows = await conn.execute(select(*columns).where(where).order_by(*columns[:2]))
                out[name] = [{k: _plain(v) for k, v in row._mapping.items()} for row in rows]
        return out
