"""Dashboard sign-in state: a server-side session table and the login lock-out.

The cookie carries only a random 256-bit session id; who is signed in, the CSRF token and the
wizard drafts stay in this process's memory. So nothing in the cookie can be forged or replayed
after logout, and restarting the service signs everyone out (documented in the README). With more
than one instance behind a balancer, sessions need sticky routing.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from companion.auth import Principal
from companion.auth.throttle import FAILURE_WINDOW_S, LOCKOUT_S, MAX_FAILURES_PER_ADDRESS, LoginThrottle

SESSION_ID_BYTES = 32  # 256 bits: a session id cannot be guessed
CSRF_BYTES = 32
IDLE_TIMEOUT_S = 8 * 3600.0  # a working day without activity, then sign in again
MAX_AGE_S = 24 * 3600.0  # even an active session ends after a day: a stolen cookie does not live forever
MAX_SESSIONS = 10_000  # per kind (signed in, anonymous): bounds memory; the least recently used go first
MAX_DRAFTS = 8  # wizard drafts kept per session (one per person being edited)

MAX_FAILURES_PER_USERNAME = 5  # five wrong passwords in a row is guessing, not a typo
MAX_FAILURES_PER_CLIENT = MAX_FAILURES_PER_ADDRESS  # the sign-in shares the pairing's per-address rule

Clock = Callable[[], float]

__all__ = ["FAILURE_WINDOW_S", "LOCKOUT_S", "DashboardState", "LoginThrottle", "SessionTable", "WebSession"]


@dataclass(slots=True)
class WebSession:
    id: str
    csrf: str
    created: float
    seen: float
    principal: Principal | None = None
    display_name: str = ""
    drafts: OrderedDict[str, Any] = field(default_factory=OrderedDict)
    flash: dict[str, Any] | None = None  # one message carried across a redirect

    @property
    def signed_in(self) -> bool:
        return self.principal is not None

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), (token or "").encode())

    def keep_draft(self, user_id: str, draft: Any) -> None:
        self.drafts[user_id] = draft
        self.drafts.move_to_end(user_id)
        while len(self.drafts) > MAX_DRAFTS:
            self.drafts.popitem(last=False)

    def pop_flash(self) -> dict[str, Any] | None:
        flash, self.flash = self.flash, None
        return flash


class SessionTable:
    """Signed-in sessions and anonymous ones (a login form's CSRF token) are bounded separately, so
    opening the login page in a loop can never push a signed-in caregiver out."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._members: OrderedDict[str, WebSession] = OrderedDict()
        self._anonymous: OrderedDict[str, WebSession] = OrderedDict()

    def _table(self, session: WebSession) -> OrderedDict[str, WebSession]:
        return self._members if session.signed_in else self._anonymous

    def new(self, principal: Principal | None = None, display_name: str = "") -> WebSession:
        now = self._clock()
        session = WebSession(
            id=secrets.token_urlsafe(SESSION_ID_BYTES),
            csrf=secrets.token_urlsafe(CSRF_BYTES),
            created=now,
            seen=now,
            principal=principal,
            display_name=display_name,
        )
        table = self._table(session)
        table[session.id] = session
        while len(table) > MAX_SESSIONS:
            table.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> WebSession | None:
        if not session_id:
            return None
        session = self._members.get(session_id) or self._anonymous.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.seen > IDLE_TIMEOUT_S or now - session.created > MAX_AGE_S:
            self.drop(session_id)
            return None
        session.seen = now
        self._table(session).move_to_end(session_id)
        return session

    def sign_in(self, old: WebSession | None, principal: Principal, display_name: str) -> WebSession:
        """A fresh id and CSRF token on every sign-in, so a session id planted before it is worthless."""
        if old is not None:
            self.drop(old.id)
        return self.new(principal, display_name)

    def drop(self, session_id: str) -> None:
        self._members.pop(session_id, None)
        self._anonymous.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._members) + len(self._anonymous)


@dataclass(slots=True)
class DashboardState:
    """What the dashboard keeps per app: sign-ins and failed attempts."""

    sessions: SessionTable = field(default_factory=SessionTable)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
