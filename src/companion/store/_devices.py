"""The device half of ``SqlStore``: paired tablets, pairing codes and single-use client secrets.

"Use once" is decided by the database: a code is redeemed by ``UPDATE ... WHERE used_at IS NULL AND
expires_at > now`` and a client secret by ``DELETE ... RETURNING``, each in the same transaction as
what depends on it, so concurrent attempts on any number of instances have exactly one winner.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from companion.errors import NotFound
from companion.store._accounts import _user_exists
from companion.store._engine import SqlBase, check_aware, check_key
from companion.store.base import ClientSecretRecord, DeviceRecord, PairingRecord, Redemption
from companion.store.schema import (
    HASH_MAX,
    ID_MAX,
    LABEL_MAX,
    client_secrets,
    devices,
    pairing_codes,
)

_dev = devices.c
_pair = pairing_codes.c
_sec = client_secrets.c


class SqlDevices(SqlBase):
    # -- pairing codes ------------------------------------------------------------------------------

    async def add_pairing(self, pairing: PairingRecord, *, purge_before: datetime) -> bool:
        check_key("code_hash", pairing.code_hash, HASH_MAX)
        check_key("user_id", pairing.user_id, ID_MAX)
        check_aware(pairing.created_at, pairing.expires_at, purge_before)
        async with self._tx() as conn:
            if not await _user_exists(conn, pairing.user_id):
                raise NotFound(f"user {pairing.user_id!r} does not exist", field="user_id")
            await conn.execute(delete(pairing_codes).where(_pair.expires_at < purge_before))
            result = await conn.execute(
                self._insert_ignore(pairing_codes).values(
                    code_hash=pairing.code_hash,
                    user_id=pairing.user_id,
                    created_by=pairing.created_by,
                    created_at=pairing.created_at,
                    expires_at=pairing.expires_at,
                    used_at=None,
                )
            )
            return bool(result.rowcount == 1)

    async def redeem_pairing(
        self, code_hash: str, *, device_id: str, label: str, secret_hash: str, now: datetime
    ) -> Redemption:
        check_key("id", device_id, ID_MAX)
        check_key("secret_hash", secret_hash, HASH_MAX)
        check_aware(now)
        label = label[:LABEL_MAX] or "device"
        async with self._tx() as conn:
            claimed = await conn.execute(
                update(pairing_codes)
                .where(_pair.code_hash == code_hash, _pair.used_at.is_(None), _pair.expires_at > now)
                .values(used_at=now)
                .returning(_pair.user_id)
            )
            user_id = claimed.scalar_one_or_none()
            if user_id is None:
                row = (
                    await conn.execute(
                        select(_pair.used_at, _pair.expires_at).where(_pair.code_hash == code_hash)
                    )
                ).first()
                if row is None:
                    return Redemption("unknown")
                return Redemption("used" if row.used_at is not None else "expired")
            device = DeviceRecord(
                id=device_id,
                user_id=user_id,
                label=label,
                secret_hash=secret_hash,
                created_at=now,
                last_seen_at=now,
            )
            await conn.execute(
                devices.insert().values(
                    id=device.id,
                    user_id=device.user_id,
                    label=device.label,
                    secret_hash=device.secret_hash,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return Redemption("paired", device)

    # -- devices ------------------------------------------------------------------------------------

    async def find_device(self, secret_hash: str) -> DeviceRecord | None:
        return await self._one_device(_dev.secret_hash == secret_hash)

    async def get_device(self, device_id: str) -> DeviceRecord | None:
        return await self._one_device(_dev.id == device_id)

    async def _one_device(self, where: ColumnElement[bool]) -> DeviceRecord | None:
        async with self._read() as conn:
            row = (await conn.execute(select(devices).where(where))).first()
        return None if row is None else _device(row._mapping)

    async def list_devices(self, user_id: str) -> builtins.list[DeviceRecord]:
        query = select(devices).where(_dev.user_id == user_id).order_by(_dev.created_at, _dev.id)
        async with self._read() as conn:
            rows = await conn.execute(query)
            return [_device(row._mapping) for row in rows]

    async def delete_device(self, user_id: str, device_id: str) -> bool:
        async with self._tx() as conn:
            # Explicit rather than relying on the cascade alone: SQLite enforces it only per connection.
            owned = select(_dev.id).where(_dev.id == device_id, _dev.user_id == user_id)
            await conn.execute(delete(client_secrets).where(_sec.device_id.in_(owned)))
            result = await conn.execute(delete(devices).where(_dev.id == device_id, _dev.user_id == user_id))
            return bool(result.rowcount > 0)

    async def touch_device(self, device_id: str, seen_at: datetime) -> None:
        check_aware(seen_at)
        async with self._tx() as conn:
            await conn.execute(
                update(devices)
                .where(_dev.id == device_id, _dev.last_seen_at < seen_at)
                .values(last_seen_at=seen_at)
            )

    # -- client secrets -----------------------------------------------------------------------------

    async def add_client_secret(self, secret: ClientSecretRecord) -> bool:
        check_key("secret_hash", secret.secret_hash, HASH_MAX)
        check_aware(secret.created_at, secret.expires_at)
        async with self._tx() as conn:
            if not await _device_exists(conn, secret.device_id):
                return False
            await conn.execute(
                delete(client_secrets).where(
                    _sec.device_id == secret.device_id, _sec.expires_at <= secret.created_at
                )
            )
            await conn.execute(
                client_secrets.insert().values(
                    secret_hash=secret.secret_hash,
                    device_id=secret.device_id,
                    created_at=secret.created_at,
                    expires_at=secret.expires_at,
                )
            )
        return True

    async def consume_client_secret(self, secret_hash: str, now: datetime) -> DeviceRecord | None:
        check_aware(now)
        async with self._tx() as conn:
            taken = (
                await conn.execute(
                    delete(client_secrets)
                    .where(_sec.secret_hash == secret_hash)
                    .returning(_sec.device_id, _sec.expires_at)
                )
            ).first()
            if taken is None or taken.expires_at <= now:
                return None
            row = (await conn.execute(select(devices).where(_dev.id == taken.device_id))).first()
        return None if row is None else _device(row._mapping)


async def _device_exists(conn: AsyncConnection, device_id: str) -> bool:
    return bool(await conn.scalar(select(exists().where(_dev.id == device_id))))


def _device(row: Any) -> DeviceRecord:
    return DeviceRecord(
        id=row["id"],
        user_id=row["user_id"],
        label=row["label"],
        secret_hash=row["secret_hash"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
    )
