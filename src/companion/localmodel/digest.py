"""The offline engine's answer to an out-of-band text request (a summary): a deterministic digest of
what was said, so the relay's whole summary path runs without a real model.

It quotes what the person said (the last few turns, each shortened) and counts the companion's
answers, in Hebrew when the request's instructions are Hebrew. Same conversation, same digest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from companion.localmodel.items import item_text

MAX_QUOTED: Final = 4  # the person's last turns quoted
QUOTE_CHARS: Final = 80  # each shortened to this


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"


def digest(items: Sequence[Mapping[str, Any]], *, hebrew: bool) -> str:
    person = [
        _short(item_text(i))
        for i in items
        if i.get("type") == "message" and i.get("role") == "user" and item_text(i).strip()
    ]
    answers = sum(1 for i in items if i.get("type") == "message" and i.get("role") == "assistant")
    quoted = person[-MAX_QUOTED:]
    if hebrew:
        if not quoted:
            return f"האדם כמעט לא דיבר בשיחה. המלווה דיבר {answers} פעמים."
        return f"האדם אמר: {'; '.join(f'«{q}»' for q in quoted)}. המלווה ענה {answers} פעמים."
    if not quoted:
        return f"The person hardly spoke in this conversation. The companion spoke {answers} times."
    said = "; ".join(f'"{q}"' for q in quoted)
    return f"The person said: {said}. The companion answered {answers} times."
