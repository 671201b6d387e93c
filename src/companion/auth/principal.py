"""The authenticated caller and the access rule every route applies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from companion.errors import Forbidden


class Role(StrEnum):
    ADMIN = "admin"
    CAREGIVER = "caregiver"
    DEVICE = "device"


def token_device_key(token_id: str) -> str:
    """The key a device token's live conversations are counted and ended by (``api/live.py`` gives each
    conversation this key; revoking the token ends the conversations holding it)."""
    return "token:" + token_id


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    token_id: str
    user_id: str | None = None  # devices: the one user they speak for
    caregiver_id: str | None = None  # caregivers: whose assignments apply
    device_id: str | None = None  # a paired tablet's client secret: which device, so it can be revoked
    # caregivers: the person the request names, found assigned to them in the same query as the token
    # (this request only: nothing keeps a principal that carries it)
    assigned_user: str | None = None
    expires_at: datetime | None = None  # when the token stops working (None: never, or not a token)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("This action needs an admin token")
