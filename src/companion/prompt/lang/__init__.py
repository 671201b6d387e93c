"""Language packs, registered in one dict. Adding a language = one module + one line below."""

from __future__ import annotations

from typing import Final

from .en import ENGLISH
from .he import HEBREW
from .pack import DATA_KEYS, PART_KEYS, SECTION_NAMES, LanguagePack

DEFAULT_LANGUAGE: Final = "he"  # most of the people the companion talks with speak Hebrew

LANGUAGES: Final[dict[str, LanguagePack]] = {pack.code: pack for pack in (HEBREW, ENGLISH)}


def pack_for(code: str | None) -> LanguagePack:
    """The pack for ``code``; the default language when there is no profile or no such pack."""
    if code is not None and code in LANGUAGES:
        return LANGUAGES[code]
    return LANGUAGES[DEFAULT_LANGUAGE]


__all__ = [
    "DATA_KEYS",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "PART_KEYS",
    "SECTION_NAMES",
    "LanguagePack",
    "pack_for",
]
