"""One backoff for every retry in the service: doubling waits, capped, jittered within the upper half.

A model connection that dropped and an alert a receiver refused are retried the same way: soon at
first, then less often, and never many at the same instant (the jitter spreads what failed together).
"""

from __future__ import annotations

from typing import Final

MAX_DOUBLINGS: Final = 30  # far past any cap; keeps the power finite however long an outage lasts


def doubling_delay(attempt: int, *, first_s: float, cap_s: float, jitter: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1 is the first retry): ``first_s`` doubling up
    to ``cap_s``, then scaled into its upper half by ``jitter`` in [0, 1)."""
    ceiling = min(cap_s, first_s * 2.0 ** min(max(attempt, 1) - 1, MAX_DOUBLINGS))
    return ceiling / 2 + jitter * ceiling / 2
