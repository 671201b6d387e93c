"""Erasure: everything stored about a person, or a caregiver's account, gone in one transaction.

One transaction, so that an erasure interrupted half-way (a crash, a lost connection) leaves the person
whole rather than with their alerts gone and their medications still there; and audited in the same
transaction (who, when, which id; never what was erased), so the record exists exactly when the erasure
does. Rows are deleted explicitly rather than left to ``ON DELETE CASCADE``: not every table has a
foreign key to ``users`` (documents, tokens, assignments, the change log), and an explicit list is the
one place to read what "everything about them" means.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from companion.errors import NotFound
from companion.store._engine import SqlBase
from companion.store.base import AuditEntry, ErasureCounts
from companion.store.schema import (
    ID_MAX,
    alert_acks,
    api_tokens,
    audit_log,
    caregiver_assignments,
    caregivers,
    change_log,
    client_secrets,
    conversation_turns,
    conversations,
    delivery_attempts,
    devices,
    digest_unsubscribes,
    documents,
    imports,
    notification_jobs,
    pairing_codes,
    photos,
    reminder_series,
    reminders,
    users,
)

log = logging.getLogger("companion.store")

ERASE_PERSON = "erase_person"
ERASE_CAREGIVER = "erase_caregiver"
MAX_AUDIT_ROWS = 1000  # one page of the audit log; older entries stay in the table


class SqlErasure(SqlBase):
    """A base of ``SqlAccounts`` (and so of ``SqlStore``): erasing is an account operation."""

    async def erase_user(self, user_id: str, *, actor: str) -> ErasureCounts:
        """Delete the person's documents (profile, memories, alerts, photo descriptions), their photos'
        bytes, conversations with their turns, digest unsubscribe links, devices with their client secrets,
        pairing codes, device tokens, reminders with their series, notification jobs with their
        attempts, acknowledgement links, assignments, change log rows, the marks of imports and the
        ``users`` row. NotFound
        when none of it existed."""
        async with self._tx() as conn:
            if not await _person_exists(conn, user_id):
                raise NotFound(f"user {user_id!r} not found", field="user_id")
            device_ids = select(devices.c.id).where(devices.c.user_id == user_id)
            job_ids = select(notification_jobs.c.id).where(notification_jobs.c.user_id == user_id)
            await _count(conn, delete(client_secrets).where(client_secrets.c.device_id.in_(device_ids)))
            await _count(conn, delete(delivery_attempts).where(delivery_attempts.c.job_id.in_(job_ids)))
            counts = ErasureCounts(
                documents=await _count(conn, delete(documents).where(documents.c.user_id == user_id)),
                photos=await _count(conn, delete(photos).where(photos.c.user_id == user_id)),
                devices=await _count(conn, delete(devices).where(devices.c.user_id == user_id)),
                tokens=await _count(conn, delete(api_tokens).where(api_tokens.c.user_id == user_id)),
                reminders=await _count(conn, delete(reminders).where(reminders.c.user_id == user_id)),
                notifications=await _count(
                    conn, delete(notification_jobs).where(notification_jobs.c.user_id == user_id)
                ),
                assignments=await _count(
                    conn, delete(caregiver_assignments).where(caregiver_assignments.c.user_id == user_id)
                ),
                conversations=await _erase_conversations(conn, user_id),
            )
            await _count(conn, delete(digest_unsubscribes).where(digest_unsubscribes.c.user_id == user_id))
            await _count(conn, delete(reminder_series).where(reminder_series.c.user_id == user_id))
            await _count(conn, delete(alert_acks).where(alert_acks.c.user_id == user_id))
            await _count(conn, delete(pairing_codes).where(pairing_codes.c.user_id == user_id))
            await _count(conn, delete(change_log).where(change_log.c.user_id == user_id))
            await _count(conn, delete(imports).where(imports.c.user_id == user_id))
            await _count(conn, delete(users).where(users.c.user_id == user_id))
            await audit(conn, self._now(), actor, ERASE_PERSON, user_id)
        await self._checkpoint()
        return counts

    async def _checkpoint(self) -> None:
        """On SQLite, copy the WAL into the file (where ``secure_delete`` has zeroed the erased rows) and
        empty it: until then the WAL holds earlier images of those pages. A reader still inside an older
        snapshot keeps part of the WAL alive; that is logged, and the next checkpoint (SQLite's own, or
        the next erasure's) clears it."""
        if self.backend != "sqlite":
            return
        async with self._writer_turn(), self._read() as conn:
            busy, *_ = (await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        if busy:
            log.warning("the WAL could not be emptied after an erasure: a reader was still active")

    async def erase_caregiver(self, caregiver_id: str, *, actor: str) -> ErasureCounts:
        """Delete the account, its tokens and assignments; pairing codes it made forget who made them.
        The people it looked after stay (other caregivers may look after them too)."""
        async with self._tx() as conn:
            if not await conn.scalar(select(exists().where(caregivers.c.id == caregiver_id))):
                raise NotFound(f"caregiver {caregiver_id!r} not found", field="caregiver_id")
            counts = ErasureCounts(
                tokens=await _count(
                    conn, delete(api_tokens).where(api_tokens.c.caregiver_id == caregiver_id)
                ),
                assignments=await _count(
                    conn,
                    delete(caregiver_assignments).where(caregiver_assignments.c.caregiver_id == caregiver_id),
                ),
            )
            made_by_them = pairing_codes.c.created_by == caregiver_id
            await conn.execute(update(pairing_codes).where(made_by_them).values(created_by=None))
            await _count(conn, delete(caregivers).where(caregivers.c.id == caregiver_id))
            await audit(conn, self._now(), actor, ERASE_CAREGIVER, caregiver_id)
        await self._checkpoint()
        return counts

    async def add_audit(self, *, actor: str, action: str, target: str) -> None:
        """An act that changes nothing but must be accountable (an export of a person's data)."""
        async with self._tx() as conn:
            await audit(conn, self._now(), actor, action, target)

    async def audit_entries(self, *, limit: int = 100) -> list[AuditEntry]:
        """The newest entries first."""
        query = (
            select(audit_log.c.at, audit_log.c.actor, audit_log.c.action, audit_log.c.target)
            .order_by(audit_log.c.id.desc())
            .limit(max(1, min(limit, MAX_AUDIT_ROWS)))
        )
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [AuditEntry(at=r.at, actor=r.actor, action=r.action, target=r.target) for r in rows]


async def audit(conn: AsyncConnection, at: datetime, actor: str, action: str, target: str) -> None:
    """One audit row, written in the caller's transaction so the act and its record stand or fall together."""
    await conn.execute(
        insert(audit_log).values(at=at, actor=actor[:ID_MAX], action=action, target=target[:ID_MAX])
    )


async def _erase_conversations(conn: AsyncConnection, user_id: str) -> int:
    await conn.execute(delete(conversation_turns).where(conversation_turns.c.user_id == user_id))
    return await _count(conn, delete(conversations).where(conversations.c.user_id == user_id))


async def _person_exists(conn: AsyncConnection, user_id: str) -> bool:
    """Registered, or with documents (people from before registration existed have only documents)."""
    registered = exists().where(users.c.user_id == user_id)
    documented = exists().where(documents.c.user_id == user_id)
    pictured = exists().where(photos.c.user_id == user_id)
    return bool(await conn.scalar(select(registered | documented | pictured)))


async def _count(conn: AsyncConnection, statement: object) -> int:
    result = await conn.execute(statement)  # type: ignore[call-overload]
    return int(result.rowcount)
