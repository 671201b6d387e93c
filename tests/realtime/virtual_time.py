"""Virtual time for code that takes a clock and a timer (a loop's ``call_later``): a test moves it
forward with ``advance`` and the timers that came due fire then, in order, without any waiting."""

from __future__ import annotations

from collections.abc import Callable


class VirtualTimer:
    __slots__ = ("callback", "cancelled", "due")

    def __init__(self, due: float, callback: Callable[[], None]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualTime:
    """``clock`` reads it; ``timer(delay, callback)`` arms a timer on it. With ``base`` (a clock that
    has an ``advance``, as the session harness's), it moves that clock too, so both agree."""

    def __init__(self, base: Callable[[], float] | None = None) -> None:
        self._base = base
        self._now = 0.0
        self._timers: list[VirtualTimer] = []

    def clock(self) -> float:
        return self._base() if self._base is not None else self._now

    def timer(self, delay: float, callback: Callable[[], None]) -> VirtualTimer:
        armed = VirtualTimer(self.clock() + delay, callback)
        self._timers.append(armed)
        return armed

    @property
    def pending(self) -> list[float]:
        """When the armed timers are due, soonest first."""
        return sorted(t.due for t in self._timers if not t.cancelled)

    def advance(self, seconds: float) -> None:
        if self._base is not None:
            self._base.advance(seconds)  # type: ignore[attr-defined]
        else:
            self._now += seconds
        while True:
            due = [t for t in self._timers if not t.cancelled and t.due <= self.clock()]
            if not due:
                break
            first = min(due, key=lambda t: t.due)
            first.cancelled = True
            first.callback()
        self._timers = [t for t in self._timers if not t.cancelled]
