"""Single-use acknowledgement links: "I have seen it, I am on it", one press from the message.

Each recipient of an alert gets a link of its own, ``{public_url}/ack/{token}``, whose token is 256
random bits; the store keeps only its hash (domain-separated from every other secret), so reading the
database gives no working link. A link works once and for ``ACK_LINK_TTL``: using it is one
conditional write (``use_ack``), so two presses, or two instances, have exactly one winner. Opening
the link changes nothing (mail scanners and chat previews fetch links); only the page's button, a
POST, acknowledges. Acknowledging stops the alert's escalation.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol

from companion.auth.device_secrets import hash_secret
from companion.care.alerting import FAMILY_SERVICE
from companion.errors import AlreadyExists, NotFound
from companion.store.base import AckRecord

ACK_LINK_TTL: Final = timedelta(days=3)  # an alert matters for hours; a link read after a weekend still
# works, then stops being a standing credential in someone's mailbox
TOKEN_BYTES: Final = 32  # 256 bits: guessing a live link is hopeless, so no throttle is needed
ISSUE_TRIES: Final = 3  # a hash collision of 256-bit tokens never happens; bounded anyway
_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{16,128}$")  # what ``new_ack_token`` makes, with room

LinkState = Literal["valid", "used", "expired", "unknown"]
LinkOutcome = Literal["acknowledged", "used", "expired", "unknown"]


def new_ack_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def ack_hash(token: str) -> str:
    # Domain-separated from the other secrets, so a link's hash can never match a token's or a cookie's.
    return hash_secret("alert-ack:" + token)


def well_formed(token: str) -> bool:
    """Junk (a truncated link, a path probe) is unknown without asking the store."""
    return bool(_TOKEN.match(token))


def link_state(record: AckRecord | None, now: datetime) -> LinkState:
    if record is None:
        return "unknown"
    if record.used_at is not None:
        return "used"
    if record.expires_at <= now:
        return "expired"
    return "valid"


class AckStore(Protocol):
    async def add_ack(self, ack: AckRecord) -> None: ...

    async def use_ack(self, token_hash: str, now: datetime) -> AckRecord | None: ...

    async def find_ack(self, token_hash: str) -> AckRecord | None: ...


# (user_id, alert_id, by, via) -> None; raises NotFound when the alert is gone
Acknowledge = Callable[[str, str, str, str], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class LinkResult:
    outcome: LinkOutcome
    by: str | None = None  # who the link was sent to (a contact's name, or the family's service)


class AckLinks:
    """Issues links with an alert's messages and spends them when their button is pressed."""

    def __init__(self, store: AckStore, acknowledge: Acknowledge, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._acknowledge = acknowledge
        self._clock = clock

    async def store_token(
        self, token: str, *, user_id: str, alert_id: str, contact: str | None, now: datetime
    ) -> None:
        """Keep the hash of a token a message will carry."""
        record = AckRecord(
            token_hash=ack_hash(token),
            user_id=user_id,
            alert_id=alert_id,
            contact=contact,
            created_at=now,
            expires_at=now + ACK_LINK_TTL,
        )
        await self._store.add_ack(record)

    async def issue(self, *, user_id: str, alert_id: str, contact: str | None) -> str:
        """A fresh token whose hash is stored (for links made outside a plan, e.g. in tests)."""
        for _ in range(ISSUE_TRIES):
            token = new_ack_token()
            try:
                await self.store_token(
                    token, user_id=user_id, alert_id=alert_id, contact=contact, now=self._clock()
                )
            except AlreadyExists:
                continue
            return token
        raise AlreadyExists("could not draw an unused acknowledgement token")

    async def state(self, token: str) -> LinkState:
        """What the link's page should say; changes nothing."""
        if not well_formed(token):
            return "unknown"
        return link_state(await self._store.find_ack(ack_hash(token)), self._clock())

    async def use(self, token: str) -> LinkResult:
        """Spend the link and acknowledge its alert, or say why not."""
        if not well_formed(token):
            return LinkResult("unknown")
        now = self._clock()
        digest = ack_hash(token)
        record = await self._store.use_ack(digest, now)
        if record is None:
            state = link_state(await self._store.find_ack(digest), now)
            return LinkResult("used" if state == "valid" else state)  # "valid": lost a race just now
        by = record.contact or FAMILY_SERVICE
        try:
            await self._acknowledge(record.user_id, record.alert_id, by, "link")
        except NotFound:
            return LinkResult("unknown")
        return LinkResult("acknowledged", by)
