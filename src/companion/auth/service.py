"""Tokens, caregiver accounts and per-user access.

Tokens are random, shown once, and stored only as SHA-256 hashes (they have enough entropy that a slow
hash adds nothing); caregiver passwords are low-entropy and so are hashed with argon2id
(``passwords``: OWASP's parameters, every hash and check on one niced worker thread, so that a burst of
sign-ins queues on one core instead of starving the live relays' event loop). Hashes carry their
parameters, so older ones still verify; a successful sign-in rehashes them.
A caregiver who asks about a person not assigned to them gets the same 404 as for a person who does
not exist, so that one family cannot even learn that another family's person is in the system.

Every token expires (a default per role, or ``expires_in`` seconds when made). Each request reads the
token's row, so a revoked or expired token stops working at once, on every instance: nothing caches
a token. Its last use is recorded at most once a minute per token, so a busy tablet does not write on
every request.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

from companion.auth.device_secrets import CLIENT_SECRET_PREFIX, DEVICE_SESSION_LIFETIME, hash_secret
from companion.auth.passwords import PASSWORD_POOL, check, password_hasher
from companion.auth.principal import Principal, Role
from companion.clock import utcnow
from companion.errors import InvalidInput, NotFound, Unauthorized
from companion.store import AccountStore, CaregiverRecord, DeviceStore, TokenRecord

TOKEN_PREFIX = "cmp_"
TOKEN_BYTES = 32  # 256 bits: guessing is hopeless, so a fast hash is enough for storage
BOOTSTRAP_TOKEN_ID = "bootstrap-admin"
DASHBOARD_TOKEN_PREFIX = "dashboard-"  # a caregiver signed in with a password: "dashboard-<caregiver id>"
DAY_S: Final = 24 * 3600
# Admin tokens open everything: a month, so a forgotten one does not stay a key for good.
ADMIN_TOKEN_LIFETIME_S: Final = 30 * DAY_S
# A caregiver's script or app: half a year, renewed with the caregiver's own routine.
CAREGIVER_TOKEN_LIFETIME_S: Final = 180 * DAY_S
# A tablet in a person's home: a year, so it is not cut off between visits; revoked when lost.
DEVICE_TOKEN_LIFETIME_S: Final = 365 * DAY_S
DEFAULT_LIFETIME_S: Final = {
    Role.ADMIN: ADMIN_TOKEN_LIFETIME_S,
    Role.CAREGIVER: CAREGIVER_TOKEN_LIFETIME_S,
    Role.DEVICE: DEVICE_TOKEN_LIFETIME_S,
}
MIN_TOKEN_LIFETIME_S: Final = 60  # shorter is a typo (milliseconds?), not a plan
MAX_TOKEN_LIFETIME_S: Final = 2 * 365 * DAY_S  # no token lives for good; two years bounds a long-lived device
LAST_USED_EVERY_S: Final = 60  # a token's last use is written at most this often
MAX_TOUCH_MEMO: Final = 10_000  # tokens whose last write this process remembers; cleared when full


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
        self._hasher = password_hasher()
        self._touched: dict[str, datetime] = {}  # token id -> when this process last recorded a use

    async def authenticate(
        self, token: str | None, *, allow_client_secret: bool = False, for_user: str | None = None
    ) -> Principal:
        """The caller ``token`` speaks for. A tablet's client secret (``ek_...``) is accepted only where
        ``allow_client_secret`` says so (the live socket it was issued for): elsewhere it is refused
        without being used up. ``for_user``: the person the request names; a caregiver token's
        assignment to them is read with the token, so the access check needs no query of its own."""
        if not token:
            raise Unauthorized("Missing bearer token (send 'Authorization: Bearer <token>')")
        if self._admin_token and hmac.compare_digest(token.encode(), self._admin_token.encode()):
            return Principal(role=Role.ADMIN, token_id=BOOTSTRAP_TOKEN_ID)
        if token.startswith(CLIENT_SECRET_PREFIX):
            if not allow_client_secret or self._devices is None:
                raise Unauthorized("A client secret opens a live session only (/v1/realtime)")
            return await self._client_secret(token)
        assigned = False
        if for_user is None:
            record = await self._accounts.find_token(hash_secret(token))
        else:
            record, assigned = await self._accounts.find_token_for(hash_secret(token), for_user)
        if record is None:
            raise Unauthorized("Unknown or revoked token")
        now = self.clock()
        if record.expires_at is not None and record.expires_at <= now:
            raise Unauthorized(
                f"This token expired on {record.expires_at.isoformat(timespec='seconds')}; "
                "ask an administrator for a new one"
            )
        await self._touch(record.id, now)
        return Principal(
            role=Role(record.role),
            token_id=record.id,
            user_id=record.user_id,
            caregiver_id=record.caregiver_id,
            assigned_user=for_user if assigned and record.caregiver_id is not None else None,
            expires_at=record.expires_at,
        )

    async def _touch(self, token_id: str, now: datetime) -> None:
        """Record a use, at most once a minute per token: first this process's memo spares the query,
        then the store's conditional update spares the write when another instance recorded it."""
        last = self._touched.get(token_id)
        if last is not None and now - last < timedelta(seconds=LAST_USED_EVERY_S):
            return
        if len(self._touched) >= MAX_TOUCH_MEMO:
            self._touched.clear()
        self._touched[token_id] = now
        await self._accounts.touch_token(token_id, now, not_since=now - timedelta(seconds=LAST_USED_EVERY_S))

    async def _client_secret(self, secret: str) -> Principal:
        """A paired tablet's single-use secret: using it here is what uses it up."""
        assert self._devices is not None
        device = await self._devices.consume_client_secret(hash_secret(secret), self.clock())
        if device is None:
            raise Unauthorized("Unknown, used or expired client secret")
        return Principal(
            role=Role.DEVICE,
            token_id="device:" + device.id,
            user_id=device.user_id,
            device_id=device.id,
            expires_at=self.clock() + DEVICE_SESSION_LIFETIME,
        )

    async def create_token(
        self,
        role: Role,
        *,
        user_id: str | None = None,
        caregiver_id: str | None = None,
        label: str | None = None,
        expires_in: int | None = None,
    ) -> tuple[str, TokenRecord]:
        """Make a token; the plain value is returned once and never stored. It lives ``expires_in``
        seconds (``MIN_TOKEN_LIFETIME_S`` to ``MAX_TOKEN_LIFETIME_S``), or its role's default."""
        if expires_in is None:
            expires_in = DEFAULT_LIFETIME_S[role]
        if not MIN_TOKEN_LIFETIME_S <= expires_in <= MAX_TOKEN_LIFETIME_S:
            raise InvalidInput(
                f"expiresIn must be between {MIN_TOKEN_LIFETIME_S} and {MAX_TOKEN_LIFETIME_S} seconds",
                field="expiresIn",
            )
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
        created = self.clock()
        record = TokenRecord(
            id=uuid.uuid4().hex[:12],
            token_hash=hash_secret(token),
            role=role.value,
            user_id=user_id if role is Role.DEVICE else None,
            caregiver_id=caregiver_id if role is Role.CAREGIVER else None,
            label=label,
            created_at=created,
            expires_at=created + timedelta(seconds=expires_in),
        )
        await self._accounts.add_token(record)
        return token, record

    async def create_caregiver(
        self, *, name: str, username: str, password: str, user_ids: Sequence[str] = ()
    ) -> CaregiverRecord:
        """The account and its assignments to ``user_ids`` in one transaction (NotFound: an unknown
        person, and then no account is left behind)."""
        record = CaregiverRecord(
            id="cg-" + uuid.uuid4().hex[:10],
            name=name,
            username=username,
            password_hash=await self._hash(password),
            created_at=self.clock(),
        )
        await self._accounts.add_caregiver_assigned(record, list(user_ids))
        return record

    async def verify_caregiver(self, username: str, password: str) -> CaregiverRecord | None:
        """The caregiver whose password this is, or None (same answer for unknown user and bad password)."""
        record = await self._accounts.find_caregiver_by_username(username)
        if record is None:
            # Spend the same effort as a real check so timing does not reveal which usernames exist.
            await self._hash(password)
            return None
        if not await self._verify(record.password_hash, password):
            return None
        if self._hasher.check_needs_rehash(record.password_hash):
            # Hashed with other parameters (argon2-cffi's four-lane default, before): now is the one
            # moment the password is at hand to hash it again with today's.
            await self._accounts.update_caregiver_password(record.id, await self._hash(password))
        return record

    async def _hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(PASSWORD_POOL, self._hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(PASSWORD_POOL, self._check, password_hash, password)

    def _check(self, password_hash: str, password: str) -> bool:
        return check(password_hash, password)

    async def still_valid(self, principal: Principal) -> bool:
        """Whether a principal kept somewhere (a dashboard session) still stands: its token neither
        revoked nor expired, its caregiver account not deleted. The bootstrap admin always stands."""
        if principal.token_id == BOOTSTRAP_TOKEN_ID:
            return True
        if principal.token_id == DASHBOARD_TOKEN_PREFIX + (principal.caregiver_id or ""):
            return await self._accounts.get_caregiver(principal.caregiver_id or "") is not None
        record = await self._accounts.get_token(principal.token_id)
        return record is not None and (record.expires_at is None or record.expires_at > self.clock())

    async def can_access(self, principal: Principal, user_id: str) -> bool:
        if principal.role is Role.ADMIN:
            return True
        if principal.role is Role.DEVICE:
            return principal.user_id == user_id
        if principal.caregiver_id is None:
            return False
        if principal.assigned_user == user_id:  # read with the token, in this request
            return True
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
