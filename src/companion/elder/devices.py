"""Tablets as devices of one person: pairing codes, the device cookie, client secrets, revocation.

A caregiver asks for a pairing code; the tablet redeems it once and receives a random device secret
(kept in an HttpOnly cookie, stored here only as a hash). With the cookie the page asks for a
single-use client secret that lives a minute and opens one live session. Revoking a device deletes it
with its secrets and ends its live sessions at once; everything but the failed-guess counters is in the
store, so a pairing survives reloads and restarts. The counters are in memory with one instance, in
Redis (shared, so the limits are global) in cluster mode.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from companion.auth.device_secrets import (
    CLIENT_SECRET_TTL,
    PAIRING_CODE_TTL,
    PAIRING_RECORD_KEEP,
    hash_pairing_code,
    hash_secret,
    new_client_secret,
    new_device_id,
    new_device_secret,
    new_pairing_code,
    normalise_pairing_code,
)
from companion.auth.throttle import (
    MAX_FAILURES_PER_ADDRESS,
    Budget,
    Rate,
    Throttle,
    budget_for,
    rate_for,
    throttle_for,
)
from companion.errors import Conflict, NotFound, TooManyAttempts, Unauthorized
from companion.store import ClientSecretRecord, DeviceRecord, DeviceStore, PairingRecord
from companion.store._engine import utcnow

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

# The dashboard's per-address limit: a care home (or everyone behind a proxy) shares one address, and a
# guesser still needs ~50,000 addresses' worth of lock-outs to find one live code.
MAX_FAILED_PAIRINGS_PER_CLIENT = MAX_FAILURES_PER_ADDRESS
# Across all addresses: a botnet of many addresses would otherwise get 20 tries each. A family pairing
# a tablet mistypes a few times; 60 a minute makes finding one of a few live codes among a million take
# days, while a legitimate pairing waits at most a minute during such an attack.
MAX_FAILED_PAIRINGS_PER_MINUTE = 60
FAILURE_BUDGET_WINDOW_S = 60.0
# A paired tablet's client secrets (POST /app/session): one opens one conversation, and a page that
# lost its connection backs off from 0.5 s to 15 s between tries, so fewer than 10 a minute. Twice that
# leaves room for a person pressing talk and stop, and bounds the secrets (store rows) and live-session
# attempts a stolen or looping cookie can make. Counted per device, across every instance with Redis.
MAX_CLIENT_SECRETS_PER_MINUTE = 20
CLIENT_SECRET_RATE_WINDOW_S = 60.0
MAX_CODE_DRAWS = 20  # fresh codes tried when one is taken; with few live codes the first one wins
LAST_SEEN_EVERY = timedelta(minutes=1)  # "last seen" is for people: one write a minute is plenty
DEFAULT_LABEL = "Tablet"

PairOutcome = Literal["paired", "invalid", "unknown", "used", "expired", "locked"]


@dataclass(frozen=True, slots=True)
class NewPairing:
    code: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"NewPairing(expires_at={self.expires_at.isoformat()})"


@dataclass(frozen=True, slots=True)
class PairAttempt:
    """``device`` and ``cookie`` (the device secret, for the cookie only) are set when paired."""

    outcome: PairOutcome
    device: DeviceRecord | None = None
    cookie: str | None = None
    retry_after_s: float = 0.0

    def __repr__(self) -> str:
        return f"PairAttempt(outcome={self.outcome!r}, device={self.device!r})"


@dataclass(frozen=True, slots=True)
class ClientSecret:
    value: str
    expires_at: datetime
    device_id: str

    def __repr__(self) -> str:
        return f"ClientSecret(device_id={self.device_id!r}, expires_at={self.expires_at.isoformat()})"


def label_from_user_agent(user_agent: str | None) -> str:
    """A name a family recognises in the device list ("Chrome on Android"), never the raw header."""
    ua = user_agent or ""
    browser = next(
        (
            name
            for token, name in (
                ("Edg/", "Edge"),
                ("SamsungBrowser", "Samsung Internet"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Chromium/", "Chromium"),
                ("Safari/", "Safari"),
            )
            if token in ua
        ),
        None,
    )
    system = next(
        (
            name
            for token, name in (
                ("iPad", "iPad"),
                ("iPhone", "iPhone"),
                ("Android", "Android"),
                ("CrOS", "ChromeOS"),
                ("Windows", "Windows"),
                ("Mac OS X", "Mac"),
                ("Linux", "Linux"),
            )
            if token in ua
        ),
        None,
    )
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or DEFAULT_LABEL


def _pairing_budget(redis: Redis | None) -> Budget:
    return budget_for(redis, "pairing", MAX_FAILED_PAIRINGS_PER_MINUTE, FAILURE_BUDGET_WINDOW_S)


class SessionCloser(Protocol):
    """Ends a revoked tablet's live conversations on every instance (the session directory)."""

    async def close_device(self, device_id: str) -> int: ...


class DeviceService:
    def __init__(
        self,
        store: DeviceStore,
        sessions: SessionCloser,
        *,
        clock: Callable[[], datetime] = utcnow,
        throttle: Throttle | None = None,
        budget: Budget | None = None,
        secret_rate: Rate | None = None,
        redis: Redis | None = None,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self.clock = clock  # decides expiry of codes and secrets; tests set it instead of sleeping
        self.throttle = throttle or throttle_for(redis, "pairing")
        self.budget = budget or _pairing_budget(redis)
        self.secret_rate = secret_rate or rate_for(
            redis, "client-secrets", MAX_CLIENT_SECRETS_PER_MINUTE, CLIENT_SECRET_RATE_WINDOW_S
        )

    # ---- pairing -----------------------------------------------------------------------------------

    async def create_pairing(self, user_id: str, *, created_by: str | None) -> NewPairing:
        """A fresh single-use code for ``user_id`` (the caller has checked access)."""
        now = self.clock()
        for _ in range(MAX_CODE_DRAWS):
            code = new_pairing_code()
            record = PairingRecord(
                code_hash=hash_pairing_code(code),
                user_id=user_id,
                created_by=created_by,
                created_at=now,
                expires_at=now + PAIRING_CODE_TTL,
            )
            if await self._store.add_pairing(record, purge_before=now - PAIRING_RECORD_KEEP):
                log.info("pairing code issued for user %s", user_id)
                return NewPairing(code, record.expires_at)
        raise Conflict("No free pairing code right now; try again in a minute")

    async def redeem(
        self, raw_code: str, *, client: str, user_agent: str | None, previous_cookie: str | None = None
    ) -> PairAttempt:
        """Pair the calling browser if ``raw_code`` is a live code.

        Every attempt is counted as a failure, per client address and service-wide, *before* the store
        is asked (and forgiven when it pairs), so a burst of parallel guesses cannot all pass the lock;
        with Redis the check and the count are one atomic step shared by every instance. A Redis that
        cannot be reached raises ``ClusterUnavailable``: no code is tried without its count.
        A browser paired again gives up the device its previous cookie named (the new cookie replaces
        it, so that device could never be used again and would only clutter the family's list)."""
        key = "pair:" + client
        reservation = await self.throttle.reserve({key: MAX_FAILED_PAIRINGS_PER_CLIENT})
        if reservation.locked_for:
            return PairAttempt("locked", retry_after_s=reservation.locked_for)
        spent, wait = await self.budget.spend()
        if spent is None:
            await self.throttle.forgive(reservation)  # not tried: it is no failure of this client's
            return PairAttempt("locked", retry_after_s=wait)
        if reservation.locked_now:
            log.warning("pairing locked for a client after %d failures", MAX_FAILED_PAIRINGS_PER_CLIENT)
        code = normalise_pairing_code(raw_code)
        if code is None:
            return PairAttempt("invalid")
        secret = new_device_secret()
        redemption = await self._store.redeem_pairing(
            hash_pairing_code(code),
            device_id=new_device_id(),
            label=label_from_user_agent(user_agent),
            secret_hash=hash_secret(secret),
            now=self.clock(),
        )
        if redemption.device is None:
            return PairAttempt(redemption.outcome)
        await self.throttle.forgive(reservation)
        await self.budget.refund(spent)
        log.info("device %s paired for user %s", redemption.device.id, redemption.device.user_id)
        replaced = await self._store.find_device(hash_secret(previous_cookie)) if previous_cookie else None
        if replaced is not None:
            with contextlib.suppress(NotFound):
                await self.revoke(replaced.user_id, replaced.id)
        return PairAttempt("paired", redemption.device, secret)

    # ---- the paired browser ------------------------------------------------------------------------

    async def from_cookie(self, secret: str | None) -> DeviceRecord | None:
        """The live device this cookie belongs to (None when missing or revoked); notes it was seen."""
        if not secret:
            return None
        device = await self._store.find_device(hash_secret(secret))
        if device is None:
            return None
        now = self.clock()
        if now - device.last_seen_at >= LAST_SEEN_EVERY:
            await self._store.touch_device(device.id, now)
        return device

    async def issue_client_secret(self, device_id: str) -> ClientSecret:
        """A single-use secret for one conversation; at most ``MAX_CLIENT_SECRETS_PER_MINUTE`` a device
        (``TooManyAttempts`` with ``retryAfter`` in whole seconds beyond that)."""
        wait = await self.secret_rate.take(device_id)
        if wait:
            retry_after = math.ceil(wait)
            log.info(
                "client secret refused for device %s: over its rate, retry in %d s", device_id, retry_after
            )
            raise TooManyAttempts(
                f"This device started too many conversations in a minute "
                f"(at most {MAX_CLIENT_SECRETS_PER_MINUTE}); try again in {retry_after} seconds",
                retryAfter=retry_after,
            )
        now = self.clock()
        value = new_client_secret()
        record = ClientSecretRecord(hash_secret(value), device_id, now, now + CLIENT_SECRET_TTL)
        if not await self._store.add_client_secret(record):
            raise Unauthorized("This device was disconnected; pair it again")
        return ClientSecret(value, record.expires_at, device_id)

    async def exists(self, device_id: str) -> bool:
        return await self._store.get_device(device_id) is not None

    # ---- the family's view -------------------------------------------------------------------------

    async def devices_of(self, user_id: str) -> list[DeviceRecord]:
        return await self._store.list_devices(user_id)

    async def revoke(self, user_id: str, device_id: str) -> int:
        """Delete the device and its secrets, then end its live sessions; returns how many ended."""
        if not await self._store.delete_device(user_id, device_id):
            raise NotFound(f"Device {device_id} not found", field="deviceId")
        ended = await self._sessions.close_device(device_id)
        log.info("device %s of user %s revoked; %d live sessions ended", device_id, user_id, ended)
        return ended
