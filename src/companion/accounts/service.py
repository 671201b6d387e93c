"""``AccountService``: the one place that says who may create, assign, erase and revoke, and how.

The API, the CLI and the dashboard all call this, so a rule (a caregiver is assigned the person they
add; a caregiver is told "not found" about a person who is not theirs) is written once. Every operation
is one store transaction: a person is never created without the caregiver who added them, nor a
caregiver without the people they were created for.

**Who may erase a person:** an administrator, or a caregiver assigned to that person. The family who
look after someone are the ones who decide about their data on their behalf; making them wait for an
operator to exercise that right would be wrong, and they can already read, change and delete every
part of the profile one piece at a time. An erasure cannot be undone, so the dashboard asks for the
person's id to be typed, and every erasure is audited (who, when, which id). A caregiver who is not
assigned gets the same 404 as for an unknown person. Caregiver accounts and tokens are administrators'
business only: a caregiver cannot remove another family member's access.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from companion.auth import AuthService, Principal, Role
from companion.auth.principal import token_device_key
from companion.errors import AlreadyExists, NotFound
from companion.realtime.endings import Ending
from companion.services import Services
from companion.store import CaregiverRecord, ErasureCounts, SqlStore, TokenRecord

# What the command line acts as: an operator with the machine's database in hand is an administrator.
CLI_ACTOR = Principal(role=Role.ADMIN, token_id="cli")


class EndSessions(Protocol):
    def __call__(
        self, ending: Ending, *, user_id: str | None = None, device_key: str | None = None
    ) -> Awaitable[int]: ...


@dataclass(frozen=True, slots=True)
class CaregiverView:
    """A caregiver account as lists show it: the record (never its hash in output) and its people."""

    record: CaregiverRecord
    users: list[str]


def actor_of(principal: Principal) -> str:
    """The audit log's "who": a caregiver by their account, anyone else by their token's id."""
    return principal.caregiver_id or principal.token_id


async def _nothing_to_forget(user_id: str) -> None:
    return None


class AccountService:
    def __init__(
        self,
        store: SqlStore,
        auth: AuthService,
        end_sessions: EndSessions,
        forget_person: Callable[[str], Awaitable[None]] = _nothing_to_forget,
    ) -> None:
        self._store = store
        self._auth = auth
        self._end_sessions = end_sessions
        self._forget_person = forget_person

    @classmethod
    def of(cls, services: Services) -> AccountService:
        """Built from the running services on demand: it holds no state of its own."""
        return cls(services.store, services.auth, services.end_sessions, services.forget_person)

    # ---- people --------------------------------------------------------------------------------

    async def create_person(self, actor: Principal, user_id: str) -> None:
        """Register a person; a caregiver is assigned the person they add, in the same transaction.

        A caregiver who names a person that exists but is not theirs gets the 404 an unknown person
        gets, not a 409: "taken" would tell them another family's person exists."""
        caregiver_id = actor.caregiver_id if actor.role is Role.CAREGIVER else None
        if actor.role is Role.DEVICE:
            raise NotFound(f"User {user_id} not found")
        try:
            await self._store.create_user_assigned(user_id, caregiver_id)
        except AlreadyExists:
            await self._auth.require_user(actor, user_id)  # 404 unless they may see the person
            raise

    async def erase_person(self, actor: Principal, user_id: str) -> ErasureCounts:
        """Everything about the person, in one transaction, audited. Their live conversations end before
        (so none saves a memory after the erasure and brings data back) and again after (one that opened
        in between: afterwards no credential of theirs is left to open another). Then the copies outside
        the store go (wizard drafts in every dashboard session, caches): also when the person is already
        gone from the store, so repeating an erasure that failed half-way (Redis down) completes it."""
        if actor.role is Role.CAREGIVER:
            await self._auth.require_user(actor, user_id)
        else:
            actor.require_admin()
        await self._end_sessions(Ending.PERSON_ERASED, user_id=user_id)
        try:
            counts = await self._store.erase_user(user_id, actor=actor_of(actor))
        except NotFound:
            await self._forget_person(user_id)
            raise NotFound(f"User {user_id} not found", field="userId") from None
        await self._end_sessions(Ending.PERSON_ERASED, user_id=user_id)
        await self._forget_person(user_id)
        return counts

    # ---- caregivers ----------------------------------------------------------------------------

    async def create_caregiver(
        self, actor: Principal, *, name: str, username: str, password: str, user_ids: Sequence[str] = ()
    ) -> CaregiverRecord:
        """The account and its assignments in one transaction (an unknown person: NotFound, no account)."""
        actor.require_admin()
        return await self._auth.create_caregiver(
            name=name, username=username, password=password, user_ids=user_ids
        )

    async def list_caregivers(self, actor: Principal) -> list[CaregiverView]:
        """Every account with its people: two queries, however many caregivers there are."""
        actor.require_admin()
        assigned = await self._store.assignments()
        return [CaregiverView(r, assigned.get(r.id, [])) for r in await self._store.list_caregivers()]

    async def assign(self, actor: Principal, caregiver_id: str, user_id: str) -> list[str]:
        """Idempotent; the caregiver's people afterwards. NotFound names what is unknown."""
        actor.require_admin()
        try:
            await self._store.assign(caregiver_id, user_id)
        except NotFound as exc:
            what = f"Caregiver {caregiver_id}" if exc.field == "caregiver_id" else f"User {user_id}"
            raise NotFound(f"{what} not found") from None
        return await self._store.users_of(caregiver_id)

    async def unassign(self, actor: Principal, caregiver_id: str, user_id: str) -> list[str]:
        actor.require_admin()
        if not await self._store.unassign(caregiver_id, user_id):
            raise NotFound(f"Caregiver {caregiver_id} is not assigned to {user_id}")
        return await self._store.users_of(caregiver_id)

    async def erase_caregiver(self, actor: Principal, caregiver_id: str) -> ErasureCounts:
        """The account, its tokens and assignments, audited. Its dashboard sign-ins end at their next
        request (``AuthService.still_valid``)."""
        actor.require_admin()
        try:
            return await self._store.erase_caregiver(caregiver_id, actor=actor_of(actor))
        except NotFound:
            raise NotFound(f"Caregiver {caregiver_id} not found") from None

    # ---- tokens --------------------------------------------------------------------------------

    async def create_token(
        self,
        actor: Principal,
        role: Role,
        *,
        user_id: str | None = None,
        caregiver_id: str | None = None,
        label: str | None = None,
        expires_in: int | None = None,
    ) -> tuple[str, TokenRecord]:
        actor.require_admin()
        return await self._auth.create_token(
            role, user_id=user_id, caregiver_id=caregiver_id, label=label, expires_in=expires_in
        )

    async def list_tokens(self, actor: Principal) -> list[TokenRecord]:
        """Every token, oldest first; callers show its fields, never its hash."""
        actor.require_admin()
        return await self._store.list_tokens()

    async def revoke_token(self, actor: Principal, token_id: str) -> TokenRecord:
        """The token stops working at once (every request reads its row); a device token's live
        conversations end. Audited."""
        actor.require_admin()
        record = await self._store.revoke_token(token_id, actor=actor_of(actor))
        if record is None:
            raise NotFound(f"Token {token_id} not found")
        if record.role == Role.DEVICE.value:
            await self._end_sessions(Ending.TOKEN_REVOKED, device_key=token_device_key(record.id))
        return record
