"""Tokens, caregiver accounts and per-user access.

Tokens are random, shown once, and stored only as SHA-256 hashes (they have enough entropy that a slow
hash adds nothing); caregiver passwords are low-entropy and so are hashed with argon2. Argon2 takes
~100 ms of CPU and live audio relays share the event loop, so every hash and check runs in a worker
thread (argon2 releases the GIL), at most ``PASSWORD_WORKERS`` at once: one run already spreads over
four lanes and takes 64 MiB, so a burst of sign-ins queues instead of taking every core from the relays.
A caregiver who asks about a person not assigned to them gets the same 404 as for a person who does
not exist, so that one family cannot even learn that another family's person is in the system.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from companion.auth.device_secrets import CLIENT_SECRET_PREFIX, hash_secret
from companion.auth.principal import Principal, Role
from companion.errors import InvalidInput, NotFound, Unauthorized
from companion.store import AccountStore, CaregiverRecord, DeviceStore, TokenRecord
from companion.store._engine import utcnow

TOKEN_PREFIX = "cmp_"
TOKEN_BYTES = 32  # 256 bits: guessing is hopeless, so a fast hash is enough for storage
BOOTSTRAP_TOKEN_ID = "bootstrap-admin"
PASSWORD_WORKERS = 1  # argon2 runs at once, each in a worker thread
# One pool for the process, not bound to any event loop; its thread starts on the first sign-in.
_PASSWORD_POOL = ThreadPoolExecutor(max_workers=PASSWORD_WORKERS, thread_name_prefix="argon2")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


class AuthService:
    def __init__(
        self,
        accounts: AccountStore,
        *,
        admin_token: str | None = None,
        devices: DeviceStore | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._accounts = accounts
        self._admin_token = admin_token
        self._devices = devices
        self.clock = clock  # decides whether a client secret has expired; tests set it
        self._hasher = PasswordHasher()

    async def authenticate(self, token: str | None, *, allow_client_secret: bool = False) -> Principal:
        """The caller ``token`` speaks for. A tablet's client secret (``ek_...``) is accepted only where
        ``allow_client_secret`` says so (the live socket it was issued for): elsewhere it is refused
        without being used up."""
        if not token:
            raise Unauthorized("Missing bearer token (send 'Authorization: Bearer <token>')")
        if self._admin_token and hmac.compare_digest(token.encode(), self._admin_token.encode()):
            return Principal(role=Role.ADMIN, token_id=BOOTSTRAP_TOKEN_ID)
        if token.startswith(CLIENT_SECRET_PREFIX):
            if not allow_client_secret or self._devices is None:
                raise Unauthorized("A client secret opens a live session only (/v1/realtime)")
            return await self._client_secret(token)
        record = await self._accounts.find_token(hash_secret(token))
        if record is None:
            raise Unauthorized("Unknown or revoked token")
        return Principal(
            role=Role(record.role),
            token_id=record.id,
            user_id=record.user_id,
            caregiver_id=record.caregiver_id,
        )

    async def _client_secret(self, secret: str) -> Principal:
        """A paired tablet's single-use secret: using it here is what uses it up."""
        assert self._devices is not None
        device = await self._devices.consume_client_secret(hash_secret(secret), self.clock())
        if device is None:
            raise Unauthorized("Unknown, used or expired client secret")
        return Principal(
            role=Role.DEVICE, token_id="device:" + device.id, user_id=device.user_id, device_id=device.id
        )

    async def create_token(
        self,
        role: Role,
        *,
        user_id: str | None = None,
        caregiver_id: str | None = None,
        label: str | None = None,
    ) -> tuple[str, TokenRecord]:
        """Make a token; the plain value is returned once and never stored."""
        if role is Role.DEVICE:
            if not user_id:
                raise InvalidInput("A device token must name the user it speaks for", field="userId")
            if not await self._accounts.user_exists(user_id):
                raise NotFound(f"User {user_id} not found", field="userId")
        if role is Role.CAREGIVER:
            if not caregiver_id:
                raise InvalidInput("A caregiver token must name the caregiver", field="caregiverId")
            if await self._accounts.get_caregiver(caregiver_id) is None:
                raise NotFound(f"Caregiver {caregiver_id} not found", field="caregiverId")
        if role is Role.ADMIN and (user_id or caregiver_id):
            raise InvalidInput("An admin token is not bound to a user or caregiver", field="role")
        token = new_token()
        record = TokenRecord(
            id=uuid.uuid4().hex[:12],
            token_hash=hash_secret(token),
            role=role.value,
            user_id=user_id if role is Role.DEVICE else None,
            caregiver_id=caregiver_id if role is Role.CAREGIVER else None,
            label=label,
            created_at=datetime.now(UTC),
        )
        await self._accounts.add_token(record)
        return token, record

    async def create_caregiver(self, *, name: str, username: str, password: str) -> CaregiverRecord:
        record = CaregiverRecord(
            id="cg-" + uuid.uuid4().hex[:10],
            name=name,
            username=username,
            password_hash=await self._hash(password),
            created_at=datetime.now(UTC),
        )
        await self._accounts.add_caregiver(record)
        return record

    async def verify_caregiver(self, username: str, password: str) -> CaregiverRecord | None:
        """The caregiver whose password this is, or None (same answer for unknown user and bad password)."""
        record = await self._accounts.find_caregiver_by_username(username)
        if record is None:
            # Spend the same effort as a real check so timing does not reveal which usernames exist.
            await self._hash(password)
            return None
        return record if await self._verify(record.password_hash, password) else None

    async def _hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(_PASSWORD_POOL, self._hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_PASSWORD_POOL, self._check, password_hash, password)

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def can_access(self, principal: Principal, user_id: str) -> bool:
        if principal.role is Role.ADMIN:
            return True
        if principal.role is Role.DEVICE:
            return principal.user_id == user_id
        if principal.caregiver_id is None:
            return False
        return await self._accounts.is_assigned(principal.caregiver_id, user_id)

    async def require_user(self, principal: Principal, user_id: str) -> None:
        """Raise NotFound unless the user exists and this caller may see it (one answer for both)."""
        if principal.role is Role.CAREGIVER:
            # assignments are only made to registered users, so one query answers both questions
            allowed = await self.can_access(principal, user_id)
        else:
            allowed = await self.can_access(principal, user_id) and await self._accounts.user_exists(user_id)
        if not allowed:
            raise NotFound(f"User {user_id} not found")

    async def visible_users(self, principal: Principal) -> list[str]:
        if principal.role is Role.ADMIN:
            return await self._accounts.list_user_ids()
        if principal.role is Role.DEVICE:
            return [principal.user_id] if principal.user_id else []
        if principal.caregiver_id is None:
            return []
        return await self._accounts.users_of(principal.caregiver_id)
