"""Text compared the way a person means it: Hebrew with or without niqqud, English in any case.

Pure. ``words`` folds a text (compatibility forms, niqqud and other combining marks dropped, case
folded) and splits it into words; ``same_word`` lets a Hebrew word carry one attached prefix letter
("לנועם", "ונועם", "בחיפה" match "נועם", "חיפה"), as Hebrew writes "to", "and", "in" onto the word.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from typing import Final

_WORD: Final = re.compile(r"[^\W_]+")
HEBREW_PREFIXES: Final = frozenset("ובהלמשכ")  # and, in, the, to, from, that, as
MIN_STEM: Final = 2  # "בים" is "ב" + "ים": a stem this short is still a word


@functools.lru_cache(maxsize=4096)  # the same captions and names are folded at every call
def words(text: str) -> tuple[str, ...]:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return tuple(_WORD.findall(unicodedata.normalize("NFC", bare).casefold()))


def fold(text: str) -> str:
    return " ".join(words(text))


def same_word(a: str, b: str) -> bool:
    if a == b:
        return True
    return _prefixed(a, b) or _prefixed(b, a)


def _prefixed(longer: str, shorter: str) -> bool:
    return (
        len(longer) == len(shorter) + 1
        and len(shorter) >= MIN_STEM
        and longer[0] in HEBREW_PREFIXES
        and longer[1:] == shorter
    )


def contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    """Whether every word of ``needle`` is one of ``haystack``'s (in any order); an empty needle is not."""
    return bool(needle) and all(any(same_word(n, h) for h in haystack) for n in needle)
