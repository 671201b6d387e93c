"""Words kept as data: a folder with ``he.json`` and ``en.json`` (the same keys) per user interface.

Hebrew is the default and is written right to left; a missing English string falls back to Hebrew and a
missing key shows itself, so a gap is visible instead of breaking a page. The dashboard and the elder's
page each have their own folder of words and share this one way of reading them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES: tuple[str, ...] = ("he", "en")
DEFAULT_LANGUAGE = "he"  # most of the people the companion serves speak Hebrew
DIRECTION = {"he": "rtl", "en": "ltr"}


def pick_language(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


class Words:
    """The strings of one interface, read once per language."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def strings(self, lang: str) -> dict[str, str]:
        return _read(self._folder / f"{lang}.json")

    def translate(self, lang: str, key: str, **values: Any) -> str:
        text = self.strings(lang).get(key) or self.strings(DEFAULT_LANGUAGE).get(key) or key
        return text.format(**values) if values else text


@cache
def _read(path: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data
