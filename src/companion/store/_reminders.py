"""The reminder half of ``SqlStore``: occurrences of a person's reminders with their states.

Every change of state is one guarded ``UPDATE ... WHERE id = :id AND state IN (...)`` whose row count
says whether this caller won, so a page button, the model's tool and the service's tick racing for one
reminder (on any number of instances) have exactly one winner, and only the winner acts on it (says it,
notifies the family).

A dose exists only from the moment its series (a medication at a time in a zone) does: ``series_since``
records when the schedule first saw each series, and the schedule creates nothing due before it (see
``care.schedule``). ``void`` marks an occurrence that was never due (written before that rule, by a
schedule that filled a person's first day with doses from before they existed; migration 0006): it is
not shown and not counted.

A reminder's "time" is when it is (again) wanted: ``snoozed_until`` once it was snoozed, else
``due_at``. Listing due or overdue reminders compares that time, so a snoozed reminder counts its
acknowledgement timeout from the end of the snooze.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, case, delete, func, select, update

from companion.errors import InvalidInput, NotFound
from companion.store._accounts import _user_exists
from companion.store._engine import SqlBase, check_aware, check_key
from companion.store.base import ReminderKind, ReminderRecord, ReminderState
from companion.store.schema import ID_MAX, LABEL_MAX, reminder_series, reminders

_rem = reminders.c
_ser = reminder_series.c

REMINDER_STATES: Final[frozenset[str]] = frozenset(
    {"due", "delivered", "acknowledged", "snoozed", "missed", "cancelled", "void"}
)
NOT_COUNTED: Final = ("cancelled", "void")  # not wanted any more, or never due: no part of adherence
# What a transition may set besides the state (and updated_at, always set).
TRANSITION_FIELDS: Final = frozenset(
    {"delivered_at", "delivered_via", "acked_at", "acked_via", "snoozed_until", "missed_at"}
)
DEFAULT_LIST_LIMIT: Final = 500  # one tick's worth: far more than all people's reminders due at once


@dataclass(frozen=True, slots=True)
class AdherenceRecord:
    """How one reminder (a medication, or the check-ins) went over a period."""

    kind: ReminderKind
    label: str
    scheduled: int  # occurrences whose time came (cancelled and void ones are not counted)
    acknowledged: int
    missed: int
    pending: int  # due, delivered or snoozed: not yet decided


def wanted_at() -> ColumnElement[Any]:
    """When a reminder is wanted: the end of its snooze, or its due time."""
    return func.coalesce(_rem.snoozed_until, _rem.due_at)


class SqlReminders(SqlBase):
    async def series_since(
        self, user_id: str, series: Collection[str], *, now: datetime
    ) -> dict[str, datetime]:
        """When each of ``series`` was first seen: ``now`` for a new one, else the moment recorded
        then (by this instance or another: the first writer wins). The person's series not named
        are forgotten: a medication (or a time) removed and later added again is new from then."""
        check_key("user_id", user_id, ID_MAX)
        check_aware(now)
        for name in series:
            check_key("series", name, ID_MAX)
        async with self._tx() as conn:
            if not await _user_exists(conn, user_id):
                raise NotFound(f"user {user_id!r} does not exist", field="user_id")
            gone = [_ser.user_id == user_id]
            if series:
                gone.append(_ser.series.not_in(list(series)))
            await conn.execute(delete(reminder_series).where(*gone))
            for name in sorted(series):  # one order on every instance: two racing inserts cannot deadlock
                await conn.execute(
                    self._insert_ignore(reminder_series).values(user_id=user_id, series=name, known_since=now)
                )
            rows = await conn.execute(select(_ser.series, _ser.known_since).where(_ser.user_id == user_id))
            return {row.series: row.known_since for row in rows}

    async def sync_reminders(
        self, user_id: str, occurrences: Sequence[ReminderRecord], *, now: datetime
    ) -> tuple[int, int]:
        """Make the future of ``user_id``'s schedule equal ``occurrences``: ``(added, cancelled)``.

        New occurrences are inserted (an existing id is kept as it is, whatever its state); a future
        one cancelled earlier and wanted again is due again; future ``due`` ones no longer wanted are
        cancelled. What already happened (delivered, acknowledged, snoozed, missed, or due in the
        past) is never touched: a profile save does not rewrite the record of a day.
        """
        check_key("user_id", user_id, ID_MAX)
        check_aware(now)
        for record in occurrences:
            _check_record(record, user_id)
        ids = [r.id for r in occurrences]
        async with self._tx() as conn:
            if not await _user_exists(conn, user_id):
                raise NotFound(f"user {user_id!r} does not exist", field="user_id")
            added = 0
            for record in occurrences:
                result = await conn.execute(self._insert_ignore(reminders).values(**_row(record, now)))
                added += result.rowcount
            if ids:
                await conn.execute(
                    update(reminders)
                    .where(
                        _rem.user_id == user_id,
                        _rem.id.in_(ids),
                        _rem.state == "cancelled",
                        _rem.due_at > now,
                    )
                    .values(state="due", updated_at=now)
                )
            stale = [_rem.user_id == user_id, _rem.state == "due", _rem.due_at > now]
            if ids:
                stale.append(_rem.id.not_in(ids))
            cancelled = await conn.execute(
                update(reminders).where(*stale).values(state="cancelled", updated_at=now)
            )
        return added, int(cancelled.rowcount)

    async def get_reminder(self, user_id: str, reminder_id: str) -> ReminderRecord | None:
        async with self._read() as conn:
            row = (
                await conn.execute(select(reminders).where(_rem.id == reminder_id, _rem.user_id == user_id))
            ).first()
        return None if row is None else _record(row._mapping)

    async def list_due(
        self,
        now: datetime,
        *,
        states: Iterable[ReminderState] = ("due",),
        user_id: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
    ) -> builtins.list[ReminderRecord]:
        """Reminders in ``states`` wanted at or before ``now`` (of everyone, or of ``user_id``), oldest
        first."""
        check_aware(now)
        wanted = _states(states)
        # never before its due time, even if snoozed early; and due_at narrows the search by its index
        query = select(reminders).where(_rem.state.in_(wanted), _rem.due_at <= now, wanted_at() <= now)
        if user_id is not None:
            query = query.where(_rem.user_id == user_id)
        query = query.order_by(wanted_at(), _rem.id).limit(limit)
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [_record(row._mapping) for row in rows]

    async def list_of_user(
        self,
        user_id: str,
        since: datetime,
        until: datetime,
        *,
        states: Iterable[ReminderState] | None = None,
    ) -> builtins.list[ReminderRecord]:
        """``user_id``'s reminders due in ``[since, until)``, in due order."""
        check_aware(since, until)
        query = select(reminders).where(_rem.user_id == user_id, _rem.due_at >= since, _rem.due_at < until)
        if states is not None:
            query = query.where(_rem.state.in_(_states(states)))
        query = query.order_by(_rem.due_at, _rem.kind, _rem.label, _rem.id)
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [_record(row._mapping) for row in rows]

    async def transition(
        self,
        user_id: str,
        reminder_id: str,
        from_states: Iterable[ReminderState],
        to_state: ReminderState,
        *,
        at: datetime,
        **fields: Any,
    ) -> bool:
        """Move one reminder from one of ``from_states`` to ``to_state`` (setting ``fields`` too);
        False when it is in none of them (someone else moved it first) or is not this user's."""
        check_aware(at)
        unknown = set(fields) - TRANSITION_FIELDS
        if unknown:
            raise InvalidInput(f"a reminder has no field {sorted(unknown)[0]!r} to set", field="fields")
        for value in fields.values():
            if isinstance(value, datetime):
                check_aware(value)
        async with self._tx() as conn:
            result = await conn.execute(
                update(reminders)
                .where(
                    _rem.id == reminder_id,
                    _rem.user_id == user_id,
                    _rem.state.in_(_states(from_states)),
                )
                .values(state=_states((to_state,))[0], updated_at=at, **fields)
            )
            return bool(result.rowcount == 1)

    async def adherence(
        self, user_id: str, since: datetime, until: datetime
    ) -> builtins.list[AdherenceRecord]:
        """Per reminder label, how the occurrences due in ``[since, until)`` went (cancelled and void
        ones left out: only doses that were due count); medications first, then by label."""
        check_aware(since, until)

        def count(*states: str) -> Any:
            return func.sum(case((_rem.state.in_(states), 1), else_=0))

        query = (
            select(
                _rem.kind,
                _rem.label,
                func.count().label("scheduled"),
                count("acknowledged").label("acknowledged"),
                count("missed").label("missed"),
                count("due", "delivered", "snoozed").label("pending"),
            )
            .where(
                and_(
                    _rem.user_id == user_id,
                    _rem.due_at >= since,
                    _rem.due_at < until,
                    _rem.state.not_in(NOT_COUNTED),
                )
            )
            .group_by(_rem.kind, _rem.label)
            .order_by(case((_rem.kind == "medication", 0), else_=1), _rem.label)
        )
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [
                AdherenceRecord(
                    kind=row.kind,
                    label=row.label,
                    scheduled=int(row.scheduled),
                    acknowledged=int(row.acknowledged or 0),
                    missed=int(row.missed or 0),
                    pending=int(row.pending or 0),
                )
                for row in rows
            ]


def _states(states: Iterable[str]) -> builtins.list[str]:
    wanted = list(states)
    for state in wanted:
        if state not in REMINDER_STATES:
            raise InvalidInput(f"unknown reminder state {state!r}", field="state")
    return wanted


def _check_record(
    record: ReminderRecord,
    user_id: str,
    *,
    wrong_owner: str = "every occurrence must belong to the user being synced",
) -> None:
    check_key("id", record.id, ID_MAX)
    if record.user_id != user_id:
        raise InvalidInput(wrong_owner, field="user_id")
    if len(record.label) > LABEL_MAX:
        raise InvalidInput(f"label is longer than {LABEL_MAX} characters", field="label")
    check_aware(record.due_at)


def _row(record: ReminderRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": record.id,
        "user_id": record.user_id,
        "kind": record.kind,
        "label": record.label,
        "local_time": record.local_time,
        "due_at": record.due_at,
        "state": record.state,
        "updated_at": now,
    }


def _record(row: Any) -> ReminderRecord:
    return ReminderRecord(
        id=row["id"],
        user_id=row["user_id"],
        kind=row["kind"],
        label=row["label"],
        local_time=row["local_time"],
        due_at=row["due_at"],
        state=row["state"],
        updated_at=row["updated_at"],
        delivered_at=row["delivered_at"],
        delivered_via=row["delivered_via"],
        acked_at=row["acked_at"],
        acked_via=row["acked_via"],
        snoozed_until=row["snoozed_until"],
        missed_at=row["missed_at"],
    )
