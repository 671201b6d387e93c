"""Where an instance stands in the change log, as plain data: which ids it has read, which it saw
missing.

Ids come from the database and grow, but two transactions may commit out of order: id 7 can be read
while id 6 is still uncommitted. A reader that only kept its high mark would skip 6 for ever. So an id
below the high mark that was never seen is kept as *missing* and asked for again on every read until it
appears, or until ``GAP_WAIT_S`` shows it belonged to a transaction that rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

GAP_WAIT_S: Final = 30.0  # far longer than any save's transaction; an id missing this long never comes
MAX_MISSING: Final = 1000  # a jump in the sequence (a crash, a cache) must not grow this without bound


@dataclass(slots=True)
class ChangeCursor:
    high: int = 0  # the highest id read
    missing: dict[int, float] = field(default_factory=dict)  # id -> when it was first seen missing

    def take(self, ids: Iterable[int], now: float) -> list[int]:
        """Record a read of ``ids``; the ones not read before, oldest first."""
        fresh: list[int] = []
        for change_id in sorted(set(ids)):
            if self.missing.pop(change_id, None) is not None:
                fresh.append(change_id)
            elif change_id > self.high:
                for gap in range(max(self.high + 1, change_id - MAX_MISSING), change_id):
                    self.missing.setdefault(gap, now)
                self.high = change_id
                fresh.append(change_id)
        self.forget_old(now)
        return fresh

    def forget_old(self, now: float) -> None:
        for change_id, since in list(self.missing.items()):
            if now - since > GAP_WAIT_S:
                del self.missing[change_id]
        while len(self.missing) > MAX_MISSING:
            del self.missing[min(self.missing)]
