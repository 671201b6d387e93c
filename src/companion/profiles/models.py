"""The care profile: one schema, split into documents that caregivers save one at a time.

Pure pydantic models, no I/O. Every text field and list has a limit so that a profile can never grow
past what the instruction builder's budget can hold, and unknown fields are refused (no mass
assignment). JSON names are camelCase, as the dashboard and the API speak them.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

# Limits: long enough for real life stories, short enough that a full profile fits the prompt budget.
SHORT_TEXT = 80  # names, labels, artists
MEDIUM_TEXT = 300  # one rule, one note, one instruction
LONG_TEXT = 2000  # life story, memory text
MAX_FAMILY = 20
MAX_CONTACTS = 3  # the onboarding asks for one to three emergency contacts
MAX_MEDICATIONS = 20
MAX_TIMES_PER_MEDICATION = 8
MAX_RULES = 30
MAX_MUSIC_ITEMS = 30
MAX_HOBBIES = 20

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SHORT_TEXT)]
MediumText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MEDIUM_TEXT)]
OptionalMedium = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MEDIUM_TEXT)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=LONG_TEXT)]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_PHONE_CHARS = re.compile(r"[\s\-().]")


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError("time must be HH:MM on a 24-hour clock, e.g. 08:30")
    return value


def normalise_phone(value: str) -> str:
    """Israeli numbers become +972-XX-XXX-XXXX; other international numbers keep their digits.

    Accepts 05X-XXX-XXXX, 0X-XXX-XXXX, 972..., +972...; refuses anything that is not a phone number.
    """
    raw = _PHONE_CHARS.sub("", value.strip())
    if raw.startswith("+"):
        digits = raw[1:]
        international = True
    else:
        digits = raw
        international = False
    if not digits.isdigit():
        raise ValueError("phone number may contain only digits, spaces, dashes and a leading +")
    if digits.startswith("972"):
        national = digits[3:]
    elif digits.startswith("0") and not international:
        national = digits[1:]
    elif international:
        if not 8 <= len(digits) <= 15:
            raise ValueError("international phone number must have 8 to 15 digits")
        return "+" + digits
    else:
        raise ValueError("phone number must start with 0, 972 or +")
    national = national.removeprefix("0")
    if len(national) == 9:  # mobile: 5X-XXX-XXXX
        return f"+972-{national[:2]}-{national[2:5]}-{national[5:]}"
    if len(national) == 8:  # landline: X-XXX-XXXX
        return f"+972-{national[:1]}-{national[1:4]}-{national[4:]}"
    raise ValueError("Israeli phone number must have 9 or 10 digits, e.g. 050-123-4567")


HHMM = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_check_hhmm)]
Phone = Annotated[str, StringConstraints(max_length=25), AfterValidator(normalise_phone)]


class Model(BaseModel):
    """Base: camelCase on the wire, unknown fields refused, assignments validated."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
        str_strip_whitespace=True,
    )


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


class CognitiveMode(StrEnum):
    STANDARD = "standard"
    ELDERLY = "elderly"
    DEMENTIA_MILD = "dementia-mild"
    DEMENTIA_MODERATE = "dementia-moderate"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"


class MemoryType(StrEnum):
    FAMILY = "family"
    PREFERENCE = "preference"
    HEALTH = "health"
    ROUTINE = "routine"
    LIFE_STORY = "life-story"


class MemorySource(StrEnum):
    CAREGIVER = "caregiver"
    CONVERSATION = "conversation"


Language = Literal["he", "en"]


class PersonalInfo(Model):
    full_name: ShortText
    preferred_name: ShortText | None = None
    gender: Gender
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    date_of_birth: date | None = None
    language: Language = "he"
    timezone: Annotated[str, StringConstraints(max_length=64)] = "Asia/Jerusalem"

    @model_validator(mode="after")
    def _birth_not_future(self) -> PersonalInfo:
        if self.date_of_birth is not None and self.date_of_birth > date.today():
            raise ValueError("dateOfBirth cannot be in the future")
        return self


class Background(Model):
    condition: OptionalMedium = ""
    personality: OptionalMedium = ""
    hobbies: Annotated[list[ShortText], Field(max_length=MAX_HOBBIES)] = []
    life_story: LongText = ""


class FamilyMember(Model):
    name: ShortText
    relationship: ShortText
    phone: Phone | None = None
    is_emergency_contact: bool = False
    notes: OptionalMedium = ""


class Routine(Model):
    wake: HHMM | None = None
    breakfast: HHMM | None = None
    lunch: HHMM | None = None
    dinner: HHMM | None = None
    sleep: HHMM | None = None


class Profile(Model):
    """Section ``profile``: who the person is."""

    personal_info: PersonalInfo
    cognitive_mode: CognitiveMode = CognitiveMode.STANDARD
    background: Background = Background()
    family_members: Annotated[list[FamilyMember], Field(max_length=MAX_FAMILY)] = []
    routine: Routine = Routine()


class EmergencyContact(Model):
    name: ShortText
    relationship: ShortText
    phone: Phone


class Medication(Model):
    name: ShortText
    dosage: ShortText
    times: Annotated[list[HHMM], Field(min_length=1, max_length=MAX_TIMES_PER_MEDICATION)]
    instructions: OptionalMedium = ""


class NeverAllowRule(Model):
    rule: MediumText
    reason: OptionalMedium = ""
    severity: Severity = Severity.HIGH


class CrisisTrigger(Model):
    phrase: ShortText
    severity: Severity = Severity.CRITICAL
    action: OptionalMedium = ""


class Safety(Model):
    """Section ``safety``: whom to call, what to take, what never to allow."""

    emergency_contacts: Annotated[list[EmergencyContact], Field(max_length=MAX_CONTACTS)] = []
    medications: Annotated[list[Medication], Field(max_length=MAX_MEDICATIONS)] = []
    never_allow: Annotated[list[NeverAllowRule], Field(max_length=MAX_RULES)] = []
    forbidden_topics: Annotated[list[ShortText], Field(max_length=MAX_RULES)] = []
    crisis_triggers: Annotated[list[CrisisTrigger], Field(max_length=MAX_RULES)] = []


class Music(Model):
    """Section ``music``: what the companion may play."""

    enabled: bool = True
    preferred_artists: Annotated[list[ShortText], Field(max_length=MAX_MUSIC_ITEMS)] = []
    preferred_songs: Annotated[list[ShortText], Field(max_length=MAX_MUSIC_ITEMS)] = []
    preferred_genres: Annotated[list[ShortText], Field(max_length=MAX_MUSIC_ITEMS)] = []
    disliked_artists: Annotated[list[ShortText], Field(max_length=MAX_MUSIC_ITEMS)] = []
    allow_auto_play: bool = False
    play_on_sadness: bool = True
    max_songs_per_session: Annotated[int, Field(ge=1, le=5)] = 3


class MemoryInput(Model):
    """What a caregiver (or the ``remember`` tool) sends to add a memory."""

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LONG_TEXT)]
    type: MemoryType = MemoryType.LIFE_STORY
    importance: Annotated[int, Field(ge=1, le=5)] = 3


class Memory(MemoryInput):
    """A stored memory; ``id`` and ``createdAt`` are set by the service."""

    id: ShortText
    source: MemorySource = MemorySource.CAREGIVER
    created_at: datetime


MAX_MEMORIES = 200  # beyond this the oldest, least important would be cut from the prompt anyway


SECTION_MODELS: dict[str, type[Model]] = {"profile": Profile, "safety": Safety, "music": Music}
SECTIONS: tuple[str, ...] = tuple(SECTION_MODELS)


class CareContext(BaseModel):
    """Everything the instruction builder needs about one person: one snapshot, immutable."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    profile: Profile | None = None
    safety: Safety = Safety()
    music: Music = Music()
    memories: tuple[Memory, ...] = ()
