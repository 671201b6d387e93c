"""Dashboard sessions in Redis, shared by every instance: any instance serves any caregiver, and a
restart (or a rolling one) signs nobody out.

One session is a hash ``companion:web:session:<sha256 of its id>`` (so the ids that open sessions are
not readable in Redis) with fields ``meta`` (CSRF token, creation time, who signed in, as JSON),
``seen``, ``order`` (the people with a draft) and one ``d:<user id>`` per wizard draft; the flash
message is a key of its own with a short life. A request reads ``meta``, ``seen``, ``order`` and the
flash in one round trip, a draft only when the wizard asks for it, and writes back only the fields it
changed (``seen`` at most once a minute), so a page that changes nothing writes nothing and two tabs
of one caregiver do not overwrite each other's drafts. The hash expires with the session (8 hours
idle, 24 at most); anonymous sessions (a login form's CSRF token) are also bounded in number.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from companion.auth import Principal, Role
from companion.auth.shared_state import redis_guard, state_key
from companion.cluster.identity import KEY_PREFIX
from companion.dashboard import websessions
from companion.dashboard.websessions import (
    IDLE_TIMEOUT_S,
    MAX_AGE_S,
    Clock,
    Drafts,
    WebSession,
    expired,
    new_session,
)
from companion.dashboard.wizard import Draft
from companion.errors import InvalidInput

log = logging.getLogger(__name__)

TOUCH_EVERY_S = 60.0  # "seen" moves the idle expiry; a minute's precision on 8 hours is plenty
FLASH_TTL_S = 10 * 60.0  # read by the page right after a redirect; a pairing code in it dies by then anyway
MAX_DRAFT_BYTES = 4 * 1024 * 1024  # three sections at the API's own size limit, twice (base and copy)
MAX_ID_CHARS = 128  # a session id is 43 characters; anything much longer is not one of ours

SESSION_KIND = "web:session"
FLASH_KIND = "web:flash"
ANONYMOUS_INDEX = KEY_PREFIX + "web:anonymous"  # hashed ids of anonymous sessions by creation time
DRAFT_FIELD = "d:"

# KEYS: session, flash. ARGV: expire_at_ms, flash_op ("keep" | "set" | "del"), flash, flash_ttl_ms,
# n_set, field_1, value_1, ..., then the fields to delete. Writes only into a session that still
# exists (a request finishing after a logout elsewhere must not bring the session back).
_SAVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[5])
for i = 0, n - 1 do redis.call('HSET', KEYS[1], ARGV[6 + 2 * i], ARGV[7 + 2 * i]) end
for i = 6 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
if ARGV[2] == 'set' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
elseif ARGV[2] == 'del' then redis.call('DEL', KEYS[2]) end
return 1
"""

# KEYS: session, flash, anonymous index. ARGV: expire_at_ms, flash ('' for none), flash_ttl_ms, now_ms,
# idle_ms, max_anonymous, hashed id ('' when signed in), session key prefix, flash key prefix,
# field_1, value_1, ... The oldest anonymous sessions beyond the bound are deleted.
_CREATE = """
for i = 10, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
if ARGV[7] ~= '' then
  local now = tonumber(ARGV[4])
  redis.call('ZADD', KEYS[3], now, ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[5]))
  local extra = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[6])
  if extra > 0 then
    local gone = redis.call('ZPOPMIN', KEYS[3], extra)
    for i = 1, #gone, 2 do redis.call('DEL', ARGV[8] .. gone[i], ARGV[9] .. gone[i]) end
  end
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
return 1
"""


# KEYS: session. ARGV: user id, its draft field. Removes the person from the order and their draft;
# 1 when the session had one. cjson writes an empty list as "{}", hence the explicit "[]".
_FORGET = """
local order = redis.call('HGET', KEYS[1], 'order')
if not order then return 0 end
local kept, found = {}, 0
for _, u in ipairs(cjson.decode(order)) do
  if u == ARGV[1] then found = 1 else kept[#kept + 1] = u end
end
redis.call('HDEL', KEYS[1], ARGV[2])
if found == 0 then return 0 end
if #kept == 0 then redis.call('HSET', KEYS[1], 'order', '[]')
else redis.call('HSET', KEYS[1], 'order', cjson.encode(kept)) end
return 1
"""
SCAN_BATCH = 500  # keys per SCAN round trip when an erasure walks every session: few trips, short ones


@dataclass(slots=True)
class _Stored:
    """What Redis holds for a session as of this request: compared with the session at ``save``."""

    seen: float
    order: str
    flash: str | None
    drafts: dict[str, str] = field(default_factory=dict)  # user id -> the draft's JSON, as loaded


def principal_json(principal: Principal | None) -> dict[str, Any] | None:
    if principal is None:
        return None
    return {
        "role": principal.role.value,
        "tokenId": principal.token_id,
        "userId": principal.user_id,
        "caregiverId": principal.caregiver_id,
        "deviceId": principal.device_id,
    }


def principal_from_json(body: dict[str, Any] | None) -> Principal | None:
    if body is None:
        return None
    return Principal(
        role=Role(body["role"]),
        token_id=str(body["tokenId"]),
        user_id=body.get("userId"),
        caregiver_id=body.get("caregiverId"),
        device_id=body.get("deviceId"),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))  # keeps key order: the pages show it


def _drafts_json(session: WebSession) -> tuple[dict[str, str], InvalidInput | None]:
    """Each loaded draft as JSON. One too large to keep leaves the session (the rest is still saved)
    and is reported as the error to show."""
    drafts, error = {}, None
    for user_id, draft in session.drafts.loaded.items():
        if not isinstance(draft, Draft):
            raise TypeError(f"a session keeps wizard drafts only, not {type(draft).__name__}")
        raw = _dumps(draft.to_json())
        if len(raw.encode()) > MAX_DRAFT_BYTES:
            session.drafts.pop(user_id)
            error = InvalidInput(
                f"This wizard draft is larger than {MAX_DRAFT_BYTES // (1024 * 1024)} MiB and was not kept",
                field="draft",
            )
            continue
        drafts[user_id] = raw
    return drafts, error


class RedisSessions:
    """``SessionStore`` in Redis. The clock is the wall clock: every instance must agree on it."""

    def __init__(self, redis: Redis, clock: Clock = time.time) -> None:
        self._redis = redis
        self._clock = clock
        self._save = redis.register_script(_SAVE)
        self._create = redis.register_script(_CREATE)
        self._forget = redis.register_script(_FORGET)

    @staticmethod
    def _keys(session_id: str) -> tuple[str, str]:
        return state_key(SESSION_KIND, session_id), state_key(FLASH_KIND, session_id)

    def _expire_at_ms(self, session: WebSession) -> int:
        return int(min(session.seen + IDLE_TIMEOUT_S, session.created + MAX_AGE_S) * 1000)

    def new(self, principal: Principal | None = None, display_name: str = "") -> WebSession:
        return new_session(self._clock(), principal, display_name)

    async def get(self, session_id: str | None) -> WebSession | None:
        if not session_id or len(session_id) > MAX_ID_CHARS:
            return None
        key, flash_key = self._keys(session_id)
        with redis_guard("sessions"):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hmget(key, ["meta", "seen", "order"])
                pipe.get(flash_key)
                (meta, seen, order), flash = await pipe.execute()
        if meta is None or seen is None:
            return None
        try:
            body = json.loads(meta)
            session = WebSession(
                id=session_id,
                csrf=str(body["csrf"]),
                created=float(body["created"]),
                seen=float(seen),
                principal=principal_from_json(body["principal"]),
                display_name=str(body["name"]),
                drafts=Drafts([str(u) for u in json.loads(order or "[]")]),
                flash=json.loads(flash) if flash else None,
            )
        except (ValueError, KeyError, TypeError):
            log.warning("an unreadable dashboard session was dropped")
            await self.drop(session_id)
            return None
        now = self._clock()
        if expired(session, now):
            await self.drop(session_id)
            return None
        session.stored = _Stored(seen=session.seen, order=order or "[]", flash=flash)
        if now - session.seen >= TOUCH_EVERY_S:
            session.seen = now
        return session

    async def load_draft(self, session: WebSession, user_id: str) -> Any | None:
        if user_id not in session.drafts or session.drafts.get(user_id) is not None:
            return session.drafts.get(user_id)
        stored = session.stored
        if not isinstance(stored, _Stored):  # never written: every draft is in memory
            return None
        with redis_guard("sessions"):
            raw = await self._redis.hget(self._keys(session.id)[0], DRAFT_FIELD + user_id)
        if raw is None:
            return None
        try:
            draft = Draft.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            log.warning("an unreadable wizard draft was dropped")
            return None
        stored.drafts[user_id] = str(raw)
        session.drafts.arrived(user_id, draft)
        return draft

    async def save(self, session: WebSession) -> None:
        stored = session.stored
        if not isinstance(stored, _Stored):
            await self._create_session(session)
            return
        drafts, error = _drafts_json(session)
        changed: dict[str, str] = {}
        if session.seen != stored.seen:
            changed["seen"] = repr(session.seen)
        order = _dumps(session.drafts.order)
        if order != stored.order:
            changed["order"] = order
        changed.update({DRAFT_FIELD + u: raw for u, raw in drafts.items() if raw != stored.drafts.get(u)})
        gone = [DRAFT_FIELD + u for u in json.loads(stored.order) if u not in session.drafts]
        flash = _dumps(session.flash) if session.flash else None
        flash_op = "keep" if flash == stored.flash else ("set" if flash else "del")
        if not changed and not gone and flash_op == "keep":
            if error is not None:
                raise error
            return
        key, flash_key = self._keys(session.id)
        pairs = [item for pair in changed.items() for item in pair]
        args: list[str | int] = [self._expire_at_ms(session), flash_op, flash or "", int(FLASH_TTL_S * 1000)]
        args.append(len(changed))
        with redis_guard("sessions"):
            await self._save(keys=[key, flash_key], args=[*args, *pairs, *gone])
        session.stored = _Stored(seen=session.seen, order=order, flash=flash, drafts=drafts)
        if error is not None:
            raise error

    async def _create_session(self, session: WebSession) -> None:
        meta = {
            "csrf": session.csrf,
            "created": session.created,
            "principal": principal_json(session.principal),
            "name": session.display_name,
        }
        drafts, error = _drafts_json(session)
        order = _dumps(session.drafts.order)
        fields = {"meta": _dumps(meta), "seen": repr(session.seen), "order": order}
        fields.update({DRAFT_FIELD + u: raw for u, raw in drafts.items()})
        flash = _dumps(session.flash) if session.flash else None
        key, flash_key = self._keys(session.id)
        hashed = "" if session.signed_in else key.rsplit(":", 1)[1]
        args: list[str | int] = [
            self._expire_at_ms(session),
            flash or "",
            int(FLASH_TTL_S * 1000),
            int(self._clock() * 1000),
            int(IDLE_TIMEOUT_S * 1000),
            websessions.MAX_SESSIONS,
            hashed,
            key.rsplit(":", 1)[0] + ":",
            flash_key.rsplit(":", 1)[0] + ":",
            *[item for pair in fields.items() for item in pair],
        ]
        with redis_guard("sessions"):
            await self._create(keys=[key, flash_key, ANONYMOUS_INDEX], args=args)
        session.stored = _Stored(seen=session.seen, order=order, flash=flash, drafts=drafts)
        if error is not None:
            raise error

    async def forget_person(self, user_id: str) -> int:
        """Every session of every instance loses the person's draft: the sessions are walked with SCAN
        (an erasure is rare; an index of drafts by person would be one more thing to keep true)."""
        pattern = f"{KEY_PREFIX}{SESSION_KIND}:*"
        found = 0
        with redis_guard("sessions"):
            async for key in self._redis.scan_iter(match=pattern, count=SCAN_BATCH):
                found += int(await self._forget(keys=[key], args=[user_id, DRAFT_FIELD + user_id]))
        return found

    async def drop(self, session_id: str) -> None:
        key, flash_key = self._keys(session_id)
        with redis_guard("sessions"):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(key, flash_key)
                pipe.zrem(ANONYMOUS_INDEX, key.rsplit(":", 1)[1])
                await pipe.execute()
