"""Redis as the state every instance shares (sign-ins, drafts, lock-outs): one translation of its
failures into the service's own error.

A Redis that cannot be reached answers ``ClusterUnavailable`` (503, "try again in a minute"), never
a 500 and never a silent pass: a lock-out that cannot be read is treated as a lock-out that holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from companion.errors import ClusterUnavailable
from companion.keyspace import KEY_PREFIX

UNAVAILABLE_RETRY_S = 60  # what the 503's Retry-After says: Redis restarts or fails over in about that


@contextmanager
def redis_guard(what: str) -> Iterator[None]:
    """Turn Redis's errors (refused, timed out, reset, script errors) into ``ClusterUnavailable``."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise ClusterUnavailable(
            f"The service's shared state is unavailable ({what}); try again in a minute",
            retryAfter=UNAVAILABLE_RETRY_S,
        ) from exc


def state_key(kind: str, name: str) -> str:
    """``companion:<kind>:<sha256 of name>``: names (usernames, addresses, session ids) never appear
    in Redis as they are, and a key's length does not depend on what a client sent."""
    return f"{KEY_PREFIX}{kind}:{hashlib.sha256(name.encode()).hexdigest()}"
