"""A token estimate that errs on the high side, without shipping a tokenizer.

The budget only has to be safe, not exact, and the builder must stay pure and dependency-free, so
instead of running the model's tokenizer we cost each character by the length of its UTF-8 encoding,
which sorts scripts well enough:

- 1 byte (ASCII: English, digits, punctuation, tool names): 4 characters per token;
- 2 bytes (Hebrew letters and niqqud, Arabic, Cyrillic, Greek, accented Latin, the ``«»`` quotes):
  2.5 characters per token. Hebrew runs at roughly 2.5 to 3.5 characters per token in the o200k
  tokenizer of the realtime models, so this over-counts rather than under-counts;
- 3 bytes (CJK, most symbols and typographic punctuation such as ``—`` and ``…``): 1 token each;
- 4 bytes (emoji, rare scripts): 2 tokens each.

A space costs what the letter before it costs: tokenizers glue a space to the next word, which in
Hebrew text is Hebrew, so plain Hebrew prose comes to exactly ``ceil(chars / 2.5)``, English prose to
``ceil(chars / 4)``.

Counting is done in C (``bytes.translate``, one regular expression), so a 400,000-character draft
costs a few milliseconds, and in integer twentieths of a token so rounding never depends on floats.
"""

from __future__ import annotations

import functools
from typing import Final

_UNITS_PER_TOKEN: Final = 20
_UNITS_BY_LEAD_BYTES: Final = (
    (range(0x00, 0x80), 5),  # ASCII: 1/4 token
    (range(0xC0, 0xE0), 8),  # lead byte of a 2-byte character: 1/2.5 token
    (range(0xE0, 0xF0), 20),  # lead byte of a 3-byte character: 1 token
    (range(0xF0, 0x100), 40),  # lead byte of a 4-byte character: 2 tokens
)
# For each class, the bytes to delete so that only that class's lead bytes remain.
_DELETE_ALL_BUT: Final = tuple(
    (bytes(b for b in range(0x100) if b not in lead), units) for lead, units in _UNITS_BY_LEAD_BYTES
)


# A space after a non-ASCII character follows a UTF-8 continuation byte (0x80-0xBF). Mapping those to
# 0x01, spaces to themselves and the rest to 0x00 lets ``bytes.count`` find such pairs in C.
_AFTER_NON_ASCII_TABLE: Final = bytes(1 if 0x80 <= b <= 0xBF else b if b == 0x20 else 0 for b in range(256))
_SPACE_AFTER_NON_ASCII: Final = b"\x01 "
_SPACE_SURCHARGE: Final = 8 - 5  # such a space is costed as a 2-byte character, not as ASCII


@functools.lru_cache(maxsize=4096)  # the same memory lines and sections are costed at every refresh
def estimate_units(text: str) -> int:
    """The estimate in twentieths of a token, before rounding.

    Units add up exactly over texts joined by newlines (ASCII, and not a space), which lets the
    builder cost a candidate text from the costs of its parts without rendering and rescanning it.
    """
    data = text.encode("utf-8", "surrogatepass")
    units = sum(len(data.translate(None, delete)) * units for delete, units in _DELETE_ALL_BUT)
    spaces = data.translate(_AFTER_NON_ASCII_TABLE).count(_SPACE_AFTER_NON_ASCII)
    return units + spaces * _SPACE_SURCHARGE


def units_to_tokens(units: int) -> int:
    return -(-units // _UNITS_PER_TOKEN)


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text`` (see the module docstring for the heuristic)."""
    return units_to_tokens(estimate_units(text))
