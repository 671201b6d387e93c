"""Caregiver text is data, never instructions.

Everything a family member types ends up inside the model's instructions, so every value passes
through :func:`sanitize_value` before it is wrapped in ``«»``. After sanitising, a value:

- is one line: every kind of line break, tab and other whitespace becomes one space, so a value can
  never start a new line (and so never fake a ``[key]:`` data line or a Markdown heading);
- has no invisible characters that could hide text from a human reviewer but not from the model:
  control (Cc), format (Cf: zero-width, bidi overrides/isolates, BOM), surrogates, private-use and
  unassigned code points, Unicode tag characters, variation selectors and blank "filler" letters;
- is NFKC-normalised, so look-alike compatibility forms (full-width ``［``, presentation forms) become
  the plain characters that the delimiter check below then catches;
- cannot close its own quote or open a tag: ``«`` ``»`` become ``‹`` ``›`` and ``[`` ``]`` become
  ``(`` ``)``;
- is at most ``max_chars`` long, cut with ``…`` so the model can tell it was shortened.

Runs of combining marks are capped too: Hebrew needs at most three marks on a letter (dagesh, vowel,
cantillation); longer runs are only ever "Zalgo" noise that costs tokens.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

MAX_VALUE_CHARS: Final = 2000  # the longest caregiver field (life story, memory) in the schema
ELLIPSIS: Final = "…"
MAX_COMBINING_RUN: Final = 4  # one more than Hebrew ever needs on a single letter
QUOTE_OPEN: Final = "«"
QUOTE_CLOSE: Final = "»"

# Delimiters of the prompt's data format, mapped to harmless look-alikes inside values.
_DELIMITERS: Final = {"«": "‹", "»": "›", "[": "(", "]": ")"}

# Categories that never carry visible meaning in a name, a rule or a life story.
_DROP_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})

# Invisible code points outside those categories: variation selectors (Mn), the combining grapheme
# joiner, Hangul and braille blanks, Khmer inherent vowels. Each renders as nothing.
_INVISIBLE_RANGES: Final = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong/jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors
    (0x2800, 0x2800),  # braille pattern blank
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xE0000, 0xE007F),  # Unicode tag characters (also Cf/Cn, listed so the intent is explicit)
    (0xE0100, 0xE01EF),  # variation selectors supplement
)


def is_invisible(char: str) -> bool:
    """True for a character that sanitising removes outright."""
    code = ord(char)
    if unicodedata.category(char) in _DROP_CATEGORIES:
        return True
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES)


_KEEP, _SPACE, _DROP, _MARK = range(4)

# Printable ASCII but brackets, Hebrew letters and punctuation, spaces: most caregiver text is only
# this. Such text (with single inner spaces) is already clean and NFKC-stable, so it skips the work.
_PLAIN = re.compile(r"[ !-Z\\^-~\u05be\u05d0-\u05ea\u05f3\u05f4]*")


@functools.lru_cache(maxsize=65536)  # per distinct character: texts repeat their alphabet
def _kind(char: str) -> int:
    if char.isspace():  # \n \r \t \v \f, U+0085, U+2028/9, no-break and other spaces
        return _SPACE
    if is_invisible(char):
        return _DROP
    if unicodedata.category(char) in ("Mn", "Me"):  # combining marks, e.g. niqqud
        return _MARK
    return _KEEP


def _one_of(chars: list[str]) -> str:
    """A regex character class matching any of ``chars``."""
    return "[" + "".join(re.escape(char) for char in sorted(chars)) + "]"


@functools.lru_cache(maxsize=16384)  # pure; a refresh re-sanitises the same values, often several times
def sanitize_value(value: str, max_chars: int = MAX_VALUE_CHARS) -> str:
    """Return ``value`` as inert, single-line, visible text of at most ``max_chars`` characters.

    An empty result means the value had nothing visible in it; callers leave such values out.
    Characters are classified once per distinct character and then removed or replaced with
    regular expressions (in C), because a full profile has 400,000 characters of memories and the
    budget search may render them several times.
    """
    if max_chars <= 0:
        return ""
    if _PLAIN.fullmatch(value) and "  " not in value and value.strip(" ") == value:
        return value if len(value) <= max_chars else value[: max_chars - 1].rstrip() + ELLIPSIS
    text = unicodedata.normalize("NFKC", value)
    by_kind: dict[int, list[str]] = {_SPACE: [], _DROP: [], _MARK: [], _KEEP: []}
    for char in set(text):
        by_kind[_kind(char)].append(char)
    if by_kind[_DROP]:
        text = re.sub(_one_of(by_kind[_DROP]), "", text)
    if by_kind[_SPACE]:
        text = re.sub(_one_of(by_kind[_SPACE]) + "+", " ", text).strip(" ")
    if by_kind[_MARK]:
        marks = _one_of(by_kind[_MARK])
        text = re.sub(f"({marks}{{{MAX_COMBINING_RUN}}}){marks}+", r"\1", text)
    for delimiter, replacement in _DELIMITERS.items():
        text = text.replace(delimiter, replacement)
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + ELLIPSIS
    return text


@functools.lru_cache(maxsize=4096)  # names repeat: every play_music call folds the whole music list
def fold_name(text: str) -> str:
    """The form names are compared in: the name as the instructions show it (:func:`sanitize_value`),
    case-folded, with runs of spaces as one. The music guard and the music library both use it, so
    "Ofra Haza" matches "ofra  HAZA", and a name stored with a zero-width space or brackets matches
    the name the model read and asks for."""
    return " ".join(sanitize_value(text).casefold().split())


def quote(clean: str) -> str:
    """Wrap an already sanitised value in the prompt's data quotes."""
    return f"{QUOTE_OPEN}{clean}{QUOTE_CLOSE}"
