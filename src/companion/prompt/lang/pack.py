"""What a language must provide: every word of the prompt that is not the family's data.

The builder has no language-specific branches; it only picks strings from a ``LanguagePack``. Adding a
language means writing one module, ``lang/<code>.py``, whose ``PACK`` is the pack, and adding the code
to the registry in ``companion/languages.py``.
A pack checks itself when it is created, so an incomplete one fails at import, not mid-conversation.

Templates may contain two kinds of braces, resolved by the builder:

- ``{masculine|feminine}`` or ``{masculine|feminine|unknown}``: chosen by the person's gender, because
  Hebrew inflects verbs, adjectives and pronouns for the person talked about. With the gender unknown
  the third form is used, or else ``masculine/feminine`` (the usual written Hebrew convention).
- ``{@masculine|feminine}``: chosen by the companion's own gender (``profile.companion.gender``),
  for the few places where the text speaks of the companion itself ("you are a warm companion").
  The rest of a pack may address the model by one convention (Hebrew instructions use the masculine
  imperative); ``self_reference`` tells the model which gender to speak of itself in.
- ``{slot}`` (lower-case ASCII): filled with pack text or already quoted data, e.g. ``{max_songs}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from companion.profiles.models import CognitiveMode, Gender, MemoryType

SECTION_NAMES: Final = (
    "identity",
    "person",
    "cognitive",
    "family",
    "routine",
    "medications",
    "safety",
    "memories",
    "music",
    "photos",
    "style",
    "tools",
)

# Keys of ``[key]:`` data lines, and the labels of parts of list items (``phone: «…»``).
DATA_KEYS: Final = (
    "full_name",
    "preferred_name",
    "age",
    "date_of_birth",
    "gender",
    "cognitive_mode",
    "timezone",
    "companion_gender",  # the companion's own gender, by its code: the offline engine reads it
    "condition",
    "personality",
    "hobbies",
    "life_story",
    "wake",
    "breakfast",
    "lunch",
    "dinner",
    "sleep",
    "crisis_phrases",
    "forbidden_topics",
    "preferred_artists",
    "preferred_songs",
    "preferred_genres",
    "disliked_artists",
    "max_songs_per_session",
    "photo_people",  # who is in the family's photos (the offline engine reads these names)
    "photo_people_asked",  # who is only in photos shown when the person asks
)
PART_KEYS: Final = (
    "phone",
    "emergency_contact",
    "notes",
    "dosage",
    "times",
    "instructions",
    "reason",
    "severity",
    "action",
)

# Characters that belong to the data format and so may never appear in pack labels or titles.
_FORMAT_CHARS: Final = frozenset("«»[]\n")


@dataclass(frozen=True, slots=True)
class LanguagePack:
    """All fixed text of the prompt in one language. Field docs say where each string goes."""

    code: str  # BCP-47 primary tag, as in ``PersonalInfo.language``
    titles: Mapping[str, str]  # section name -> heading text (without "## ")
    labels: Mapping[str, str]  # DATA_KEYS and PART_KEYS -> label
    genders: Mapping[Gender, str]
    cognitive_modes: Mapping[CognitiveMode, str]  # the mode's name, for the person section
    memory_types: Mapping[MemoryType, str]
    # identity
    persona: str  # may use ``{@masculine|feminine}`` forms for the companion itself
    language_rule: str  # speak only this language, whatever language the person uses
    self_reference: Mapping[Gender, str]  # by the companion's gender: speak of yourself in it
    addressing: Mapping[Gender, str]  # how to address the person (grammatical gender)
    addressing_unknown: str  # no profile: how to find out
    data_note: str  # text inside «» is family information, never instructions
    # person .. routine
    person_intro: str
    cognitive: Mapping[CognitiveMode, str]  # guidance per mode; each must differ materially
    cognitive_unknown: str  # no profile: cautious default
    family_intro: str
    emergency_intro: str
    routine_intro: str
    # medications, safety
    medications_intro: str
    medications_rules: str  # never dosing advice
    safety_baseline: str  # emergencies and medical advice, present even with no rules
    never_allow_intro: str
    crisis_rules: str
    forbidden_rules: str
    # memories, music
    memories_intro: str
    music_rules: str  # slots: {stop_words}, {max_songs}
    music_sadness_on: str
    music_sadness_off: str
    music_auto_play_on: str
    music_auto_play_off: str
    music_nothing_listed: str
    music_disabled: str
    stop_words: tuple[str, ...]  # what the person says to stop the music
    # photos
    photos_intro: str  # slot: {count}
    photos_rules: str  # when to offer a photo and how to talk about it
    # style, tools
    style: str
    tools: str

    def __post_init__(self) -> None:
        _require(self.code, "titles", self.titles, SECTION_NAMES)
        _require(self.code, "labels", self.labels, DATA_KEYS + PART_KEYS)
        _require(self.code, "genders", self.genders, tuple(Gender))
        _require(self.code, "addressing", self.addressing, tuple(Gender))
        _require(self.code, "self_reference", self.self_reference, tuple(Gender))
        _require(self.code, "cognitive_modes", self.cognitive_modes, tuple(CognitiveMode))
        _require(self.code, "cognitive", self.cognitive, tuple(CognitiveMode))
        _require(self.code, "memory_types", self.memory_types, tuple(MemoryType))
        for text in (*self.titles.values(), *self.labels.values()):
            if _FORMAT_CHARS & set(text) or not text.strip():
                raise ValueError(f"pack {self.code!r}: label or title {text!r} is empty or uses «»[]")
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name != "data_note" and isinstance(value, str) and ("«" in value or "»" in value):
                raise ValueError(f"pack {self.code!r}: {field.name} uses «», which marks family data")
        if len(set(self.cognitive.values())) != len(CognitiveMode):
            raise ValueError(f"pack {self.code!r}: every cognitive mode needs its own guidance")


def _require(code: str, name: str, mapping: Mapping[Any, str], keys: tuple[str, ...]) -> None:
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise ValueError(f"pack {code!r}: {name} is missing {missing}")
