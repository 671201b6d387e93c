"""The severity the instructions give a crisis phrase, read the way the model is told to read it.

The instruction builder lists the profile's crisis phrases on one tagged line
(``Crisis phrases [crisis_phrases]: «I fell», «I'm scared»``), says "call alert_family with severity
critical, unless another severity is listed next to the phrase", and then lists the phrases that have
another severity (or an action) as items: ``- «I'm scared»; severity: «high»``. The label is in the
instructions' language; the value is the profile's own word. So the engine's alert carries the severity
of the profile's rule, never one of its own choosing.
"""

from __future__ import annotations

import re
from typing import Final

CRISIS_KEY: Final = "crisis_phrases"  # the builder's tag for crisis phrases (prompt/render.py: safety)
DEFAULT_SEVERITY: Final = "critical"  # what the instructions say when no other is listed
# The profile's severities as the builder writes them; the engine reads text only, like a real model.
SEVERITIES: Final = frozenset({"critical", "high", "medium"})
_ITEM: Final = re.compile(r"^- «([^»]*)»(.*)$")
_VALUE: Final = re.compile(r"«([^»]*)»")
_TAGGED: Final = re.compile(r"\[[A-Za-z0-9_.\-]+\]\s*:")


def crisis_severity(instructions: str, phrase: str) -> str:
    """The severity listed next to ``phrase`` among the items after the crisis phrases' line, or
    ``critical`` when none is (the builder lists only the phrases that are not plain critical)."""
    lines = instructions.splitlines()
    start = next((i for i, line in enumerate(lines) if f"[{CRISIS_KEY}]" in line), None)
    if start is None:
        return DEFAULT_SEVERITY
    for line in lines[start + 1 :]:
        if _TAGGED.search(line) or line.startswith("#"):
            break  # the next data line or section: the crisis items are over
        item = _ITEM.match(line)
        if item is None or item.group(1) != phrase:
            continue
        listed: list[str] = [value for value in _VALUE.findall(item.group(2)) if value in SEVERITIES]
        if listed:
            return listed[0]
    return DEFAULT_SEVERITY
