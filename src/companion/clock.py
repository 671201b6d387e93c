"""The app-wide wall clock: ``utcnow()``, an aware datetime in UTC.

Every part that stamps or compares wall-clock times takes a ``clock: Clock`` argument that defaults to
``utcnow``, and the composition root (``app.build_services``) hands the same one to all of them, so a
test moves the whole service through a day by injecting one function. Durations and timeouts use
``time.monotonic`` instead: this clock may jump (NTP, DST has no effect: it is UTC).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]  # returns an aware datetime in UTC


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = ["Clock", "utcnow"]
