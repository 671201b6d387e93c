"""The dashboard's words, kept as data: ``strings/he.json`` and ``strings/en.json`` (same keys)."""

from __future__ import annotations

from pathlib import Path

from companion.i18n import DEFAULT_LANGUAGE, DIRECTION, LANGUAGES, Words, pick_language

WORDS = Words(Path(__file__).parent / "strings")
strings = WORDS.strings
translate = WORDS.translate

__all__ = ["DEFAULT_LANGUAGE", "DIRECTION", "LANGUAGES", "pick_language", "strings", "translate"]
