"""The dashboard's words, kept as data: ``strings/he.json`` and ``strings/en.json`` (same keys).

Hebrew is the default and is written right to left; a missing English string falls back to Hebrew
and a missing key shows itself, so a gap is visible instead of breaking a page.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES: tuple[str, ...] = ("he", "en")
DEFAULT_LANGUAGE = "he"
DIRECTION = {"he": "rtl", "en": "ltr"}
STRINGS_DIR = Path(__file__).parent / "strings"


@cache
def strings(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STRINGS_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def pick_language(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def translate(lang: str, key: str, **values: Any) -> str:
    text = strings(lang).get(key) or strings(DEFAULT_LANGUAGE).get(key) or key
    return text.format(**values) if values else text
