"""System notes that ask the offline engine to say something.

Contract (the relay's reminder note and any other system note may use it): a system message carries
a line tagged ``[say]`` with the words in guillemets, e.g.
``Now, warmly and briefly, say to the person in Hebrew [say]: «הגיע הזמן לקחת אקמול. לקחת כבר?»``.
Such a note is *pending* until the companion next speaks: the engine's next response says the value,
word for word (after its greeting, when the conversation has not been greeted yet). A response that is
cut off still counts as the companion having spoken: a note is said once per asking, and asking again
means sending the note again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from companion.localmodel.items import item_text
from companion.localmodel.tags import tagged_values

SAY_KEY: Final = "say"


def pending_say(items: Sequence[Mapping[str, Any]]) -> str | None:
    """The ``[say]`` value of the latest system note since the companion last spoke, if any."""
    for item in reversed(items):
        if item.get("type") != "message":
            continue
        role = item.get("role")
        if role == "assistant":
            return None
        if role == "system":
            said = tagged_values(item_text(item)).get(SAY_KEY, [])
            if said:
                return said[0]
    return None


def has_spoken(items: Sequence[Mapping[str, Any]]) -> bool:
    """The companion has said something in this conversation (so it has greeted already)."""
    return any(i.get("type") == "message" and i.get("role") == "assistant" for i in items)
