"""Language packs, one per code registered in ``companion/languages.py``.

Adding a language = one module ``lang/<code>.py`` defining ``PACK`` + one line in that registry. The
registry lives outside this package because the profile schema validates ``language`` against it,
and the packs import the schema (see ``companion/languages.py``). A registered code without a pack,
or a pack whose ``code`` is not its module's name, fails here, at import.
"""

from __future__ import annotations

import importlib
from typing import Final

from companion.languages import DEFAULT_LANGUAGE, LANGUAGE_NAMES

from .pack import DATA_KEYS, PART_KEYS, SECTION_NAMES, LanguagePack


def _load(code: str) -> LanguagePack:
    """The ``PACK`` of ``lang/<code>.py``."""
    module = importlib.import_module(f"{__name__}.{code}")
    pack = getattr(module, "PACK", None)
    if not isinstance(pack, LanguagePack) or pack.code != code:
        raise RuntimeError(f"{module.__name__} must define PACK, a LanguagePack with code {code!r}")
    return pack


LANGUAGES: Final[dict[str, LanguagePack]] = {code: _load(code) for code in LANGUAGE_NAMES}


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
