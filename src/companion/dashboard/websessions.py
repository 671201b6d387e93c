"""Dashboard sign-in state: server-side sessions (who, CSRF token, wizard drafts, a flash message)
and the sign-in lock-out.

The cookie carries only a random 256-bit session id; everything else stays on the server, so nothing
in the cookie can be forged or replayed after logout. Where it stays is chosen once per app, at its
first request: this process's memory (one instance; a restart signs everyone out) or, in cluster mode
(``COMPANION_REDIS_URL``), Redis (``session_store``), so that any instance serves any caregiver and a
restart signs nobody out. Both implement ``SessionStore``; a request loads its session once, changes
it in memory, and ``save`` writes back only what changed.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from companion.auth import Principal
from companion.auth.throttle import (
    FAILURE_WINDOW_S,
    LOCKOUT_S,
    MAX_FAILURES_PER_ADDRESS,
    LoginThrottle,
    Throttle,
    throttle_for,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

SESSION_ID_BYTES = 32  # 256 bits: a session id cannot be guessed
CSRF_BYTES = 32
IDLE_TIMEOUT_S = 8 * 3600.0  # a working day without activity, then sign in again
MAX_AGE_S = 24 * 3600.0  # even an active session ends after a day: a stolen cookie does not live forever
MAX_SESSIONS = 10_000  # per kind (signed in, anonymous): bounds memory; the least recently used go first
MAX_DRAFTS = 8  # wizard drafts kept per session (one per person being edited)

MAX_FAILURES_PER_USERNAME = 5  # five wrong passwords in a row is guessing, not a typo
MAX_FAILURES_PER_CLIENT = MAX_FAILURES_PER_ADDRESS  # the sign-in shares the pairing's per-address rule

Clock = Callable[[], float]

__all__ = [
    "FAILURE_WINDOW_S",
    "LOCKOUT_S",
    "DashboardState",
    "Drafts",
    "LoginThrottle",
    "MemorySessions",
    "SessionStore",
    "SessionTable",
    "WebSession",
]


class Drafts:
    """A session's wizard drafts by person, oldest first, at most ``MAX_DRAFTS``.

    Which people have a draft is always known; a draft itself may still be in the store (Redis keeps
    each draft apart, so a page that does not need it does not fetch it): ``SessionStore.load_draft``
    brings it in, ``get`` answers only what is here."""

    __slots__ = ("_loaded", "_order")

    def __init__(self, order: list[str] | None = None) -> None:
        self._order: list[str] = list(order or [])
        self._loaded: dict[str, Any] = {}

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._order

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    @property
    def order(self) -> list[str]:
        return list(self._order)

    @property
    def loaded(self) -> dict[str, Any]:
        return dict(self._loaded)

    def get(self, user_id: str) -> Any | None:
        return self._loaded.get(user_id)

    def arrived(self, user_id: str, draft: Any) -> None:
        """A draft read from the store (its place in the order does not change)."""
        if user_id in self._order:
            self._loaded[user_id] = draft

    def keep(self, user_id: str, draft: Any) -> None:
        """``draft`` is the newest; the oldest beyond ``MAX_DRAFTS`` go."""
        if user_id in self._order:
            self._order.remove(user_id)
        self._order.append(user_id)
        self._loaded[user_id] = draft
        while len(self._order) > MAX_DRAFTS:
            self._loaded.pop(self._order.pop(0), None)

    def pop(self, user_id: str, default: Any = None) -> Any:
        if user_id not in self._order:
            return default
        self._order.remove(user_id)
        return self._loaded.pop(user_id, default)


@dataclass(slots=True)
class WebSession:
    id: str
    csrf: str
    created: float
    seen: float
    principal: Principal | None = None
    display_name: str = ""
    drafts: Drafts = field(default_factory=Drafts)
    flash: dict[str, Any] | None = None  # one message carried across a redirect
    stored: Any = None  # the store's own record of what it last wrote (None: never written)

    @property
    def signed_in(self) -> bool:
        return self.principal is not None

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), (token or "").encode())

    def keep_draft(self, user_id: str, draft: Any) -> None:
        self.drafts.keep(user_id, draft)

    def pop_flash(self) -> dict[str, Any] | None:
        flash, self.flash = self.flash, None
        return flash


def new_session(now: float, principal: Principal | None, display_name: str) -> WebSession:
    return WebSession(
        id=secrets.token_urlsafe(SESSION_ID_BYTES),
        csrf=secrets.token_urlsafe(CSRF_BYTES),
        created=now,
        seen=now,
        principal=principal,
        display_name=display_name,
    )


def expired(session: WebSession, now: float) -> bool:
    return now - session.seen > IDLE_TIMEOUT_S or now - session.created > MAX_AGE_S


class SessionStore(Protocol):
    """Where dashboard sessions live. ``new`` only builds one; ``save`` makes it (and every later
    change) durable; ``get`` answers a live session and notes that it was seen."""

    def new(self, principal: Principal | None = None, display_name: str = "") -> WebSession: ...

    async def get(self, session_id: str | None) -> WebSession | None: ...

    async def load_draft(self, session: WebSession, user_id: str) -> Any | None:
        """The session's draft for ``user_id`` (None when it has none)."""
        ...

    async def save(self, session: WebSession) -> None:
        """Write what this request changed (nothing when nothing did)."""
        ...

    async def drop(self, session_id: str) -> None: ...

    async def forget_person(self, user_id: str) -> int:
        """Remove the person's wizard draft from every session (an erasure); how many had one."""
        ...


class MemorySessions:
    """Sessions in this process's memory. Signed-in sessions and anonymous ones (a login form's CSRF
    token) are bounded separately, so opening the login page in a loop can never push a signed-in
    caregiver out. Objects are kept as they are, so ``save`` has nothing to write."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._members: OrderedDict[str, WebSession] = OrderedDict()
        self._anonymous: OrderedDict[str, WebSession] = OrderedDict()

    def _table(self, session: WebSession) -> OrderedDict[str, WebSession]:
        return self._members if session.signed_in else self._anonymous

    def new(self, principal: Principal | None = None, display_name: str = "") -> WebSession:
        session = new_session(self._clock(), principal, display_name)
        table = self._table(session)
        table[session.id] = session
        while len(table) > MAX_SESSIONS:
            table.popitem(last=False)
        return session

    async def get(self, session_id: str | None) -> WebSession | None:
        if not session_id:
            return None
        session = self._members.get(session_id) or self._anonymous.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if expired(session, now):
            await self.drop(session_id)
            return None
        session.seen = now
        self._table(session).move_to_end(session_id)
        return session

    async def load_draft(self, session: WebSession, user_id: str) -> Any | None:
        return session.drafts.get(user_id)

    async def save(self, session: WebSession) -> None:
        return None

    async def drop(self, session_id: str) -> None:
        self._members.pop(session_id, None)
        self._anonymous.pop(session_id, None)

    async def forget_person(self, user_id: str) -> int:
        """A request in flight holds the same objects, so its draft is gone for it too."""
        had = [s for t in (self._members, self._anonymous) for s in t.values() if user_id in s.drafts]
        for session in had:
            session.drafts.pop(user_id)
        return len(had)

    def __len__(self) -> int:
        return len(self._members) + len(self._anonymous)


SessionTable = MemorySessions  # the name it had when memory was the only place


class DashboardState:
    """What the dashboard keeps per app: sessions and failed sign-ins. The app is built before its
    services (and so before the Redis client) exist, so the place is chosen at the first request."""

    def __init__(self) -> None:
        self._sessions: SessionStore | None = None
        self._throttle: Throttle | None = None

    def bind(self, redis: Redis | None) -> None:
        """Memory without Redis, Redis with it; the first call decides."""
        if self._sessions is not None:
            return
        if redis is None:
            self._sessions, self._throttle = MemorySessions(), LoginThrottle()
            return
        from companion.dashboard.session_store import RedisSessions

        self._sessions, self._throttle = RedisSessions(redis), throttle_for(redis, "dashboard")

    async def forget_person(self, user_id: str) -> int:
        """The person's drafts in this app's sessions. Before the first request there are none (and
        with Redis the shared sessions are purged there whether or not this app has bound)."""
        return 0 if self._sessions is None else await self._sessions.forget_person(user_id)

    @property
    def sessions(self) -> SessionStore:
        if self._sessions is None:
            self.bind(None)
        assert self._sessions is not None
        return self._sessions

    @property
    def throttle(self) -> Throttle:
        if self._throttle is None:
            self.bind(None)
        assert self._throttle is not None
        return self._throttle
