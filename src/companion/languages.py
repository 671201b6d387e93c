"""The languages the companion speaks: the one registry of language codes.

Two parts of the code need it, and one of them imports the other, so it lives here, importing
nothing from the project:

- the profile schema (``profiles.models``) accepts ``personalInfo.language`` only if it is registered
  here (:func:`check_language`);
- the instruction builder (``prompt.lang``) loads, for every code registered here, the pack defined
  as ``PACK`` in ``companion/prompt/lang/<code>.py``, and fails at import if one is missing.

The schema cannot read the packs themselves: the packs import the schema's enums (gender, cognitive
mode, memory type), so importing either module would import the other half-initialised. Adding a
language is therefore one pack module plus one line below.
"""

from __future__ import annotations

from typing import Final

# code (ISO 639-1, also the name of the pack's module) -> the language's English name
LANGUAGE_NAMES: Final[dict[str, str]] = {
    "he": "Hebrew",
    "en": "English",
}

DEFAULT_LANGUAGE: Final = "he"  # most of the people the companion talks with speak Hebrew


def check_language(code: str) -> str:
    """``code`` if a language pack is registered for it; otherwise a ``ValueError`` naming the choices."""
    if code not in LANGUAGE_NAMES:
        supported = ", ".join(f"{known} ({name})" for known, name in LANGUAGE_NAMES.items())
        raise ValueError(f"language must be one of the supported codes: {supported}")
    return code
