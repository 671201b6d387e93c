"""What the next conversation recalls of the last ones: pure rules on plain data."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

RECALL_TURNS_WITHIN: Final = timedelta(minutes=30)  # a conversation that ended this recently goes on


def recall_window(ended_at: datetime, now: datetime) -> bool:
    """The last conversation ended less than :data:`RECALL_TURNS_WITHIN` ago (and not in the future):
    the next one picks up where it stopped, with its last turns."""
    return timedelta(0) <= now - ended_at < RECALL_TURNS_WITHIN
