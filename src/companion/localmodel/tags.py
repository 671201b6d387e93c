"""Reading tagged data lines, the way the instruction builder and the relay write them.

A data line is tagged with a key in square brackets followed by values in guillemets, e.g.
``שם מועדף [preferred_name]: «משה»`` in the instructions, or ``[part_of_day]: «morning»`` in the
relay's greeting message. The label before the bracket varies by language; lines are found by their
``[key]:`` tag.
"""

from __future__ import annotations

import re
from typing import Final

_TAG: Final = re.compile(r"\[([A-Za-z0-9_.\-]+)\]\s*:(.*)$")
_VALUE: Final = re.compile(r"«([^»]*)»")


def tagged_values(text: str) -> dict[str, list[str]]:
    """``{key: [values...]}`` for every ``[key]:`` line; a key seen twice keeps its first line."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _TAG.search(line)
        if match and match.group(1) not in found:
            found[match.group(1)] = [v.strip() for v in _VALUE.findall(match.group(2)) if v.strip()]
    return found
