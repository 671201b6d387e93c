"""The care profile: one schema, split into documents that caregivers save one at a time.

Pure pydantic models, no I/O. Every text field and list has a limit, and unknown fields are refused
(no mass assignment). JSON names are camelCase, as the dashboard and the API speak them.

The limits are set so that a profile at every limit fits the instruction builder's default budget
(6,000 estimated tokens) with its safety and medication content whole: every never-allow rule with
its reason, every crisis phrase with its action, every forbidden topic, every emergency contact and
every medication with its dosage, all its times and its instructions. Only what the builder may cut
has room to spare: memories, the life story, background and family notes, and the optional lists
(hobbies, music, family members beyond the emergency contacts). ``tests/prompt/test_budget.py``
proves it for Hebrew text; text in scripts that cost more tokens per character (CJK, emoji) may not
fit, and then the builder keeps the safety content whole anyway and flags the result ``over_budget``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from companion.languages import DEFAULT_LANGUAGE, check_language

# Limits of what the builder may cut when over budget: generous, for real life stories.
SHORT_TEXT = 80  # one entry of an optional list (hobby, artist, song title, genre); a memory id
MEDIUM_TEXT = 300  # one optional note: condition, personality, a family member; also alert texts
LONG_TEXT = 2000  # the life story, one memory
MAX_FAMILY = 20  # an extended family; beyond the emergency contacts the builder may shorten the list
MAX_MUSIC_ITEMS = 30  # per music list; the builder may shorten it
MAX_HOBBIES = 20  # the builder may shorten the list
TIMEZONE_TEXT = 64  # an IANA zone name; the longest in use is about 30 characters

# Limits of what always reaches the model whole: together they must fit the default budget.
NAME_TEXT = 60  # a person's or contact's name: long Hebrew full names are about 40 characters
RELATIONSHIP_TEXT = 40  # "daughter", "grandson", "neighbour from the second floor"
MAX_CONTACTS = 3  # the onboarding asks for one to three emergency contacts
RULE_TEXT = 120  # one never-allow rule, or the reason for it: one clear sentence
MAX_NEVER_ALLOW = 10  # ten firm rules are followed; a long rulebook dilutes each rule
PHRASE_TEXT = 60  # a crisis phrase or forbidden topic: a few words the model listens for
ACTION_TEXT = 120  # what to do when a crisis phrase is heard: one clear sentence
MAX_CRISIS_TRIGGERS = 10  # the phrases that signal distress for this person
MAX_FORBIDDEN_TOPICS = 15  # topics to steer away from; each is only a few words
MEDICATION_NAME_TEXT = 60  # brand and generic name, e.g. "Aricept (donepezil hydrochloride)"
DOSAGE_TEXT = 40  # e.g. "5 mg, half a tablet", "two drops in each eye"
INSTRUCTIONS_TEXT = 120  # e.g. "after breakfast, with a full glass of water; never on an empty stomach"
MAX_MEDICATIONS = 12  # a heavy daily regimen for an elderly person; more belongs in a care plan
MAX_TIMES_PER_MEDICATION = 6  # every four hours around the clock
EMAIL_TEXT = 254  # the longest address SMTP carries
MAX_CHECKINS = 6  # "how are you?" moments a day, from the routine

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SHORT_TEXT)]
OptionalMedium = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MEDIUM_TEXT)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=LONG_TEXT)]

NameText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_TEXT)]
RelationshipText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=RELATIONSHIP_TEXT)
]
PhraseText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=PHRASE_TEXT)]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_PHONE_CHARS = re.compile(r"[\s\-().]")
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]{2,}$")


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError("time must be HH:MM on a 24-hour clock, e.g. 08:30")
    return value


def _check_email(value: str) -> str:
    """A plausible address (one @, a dotted domain, no spaces); the mail server is the real judge."""
    if not _EMAIL.match(value):
        raise ValueError("e-mail address must look like name@example.com")
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
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=EMAIL_TEXT), AfterValidator(_check_email)
]
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


class Voice(StrEnum):
    """The realtime models' built-in voices (OpenAI and Azure OpenAI)."""

    ALLOY = "alloy"
    ASH = "ash"
    BALLAD = "ballad"
    CORAL = "coral"
    ECHO = "echo"
    SAGE = "sage"
    SHIMMER = "shimmer"
    VERSE = "verse"
    MARIN = "marin"
    CEDAR = "cedar"


# How each voice sounds, so that a voice never contradicts the companion's grammatical gender; a
# neutral voice (None) suits either. Names the service's ``voice`` setting may hold beyond these
# (a custom voice) are taken as neutral.
VOICE_GENDERS: dict[Voice, Gender | None] = {
    Voice.ALLOY: None,
    Voice.ASH: Gender.MALE,
    Voice.BALLAD: Gender.MALE,
    Voice.CORAL: Gender.FEMALE,
    Voice.ECHO: Gender.MALE,
    Voice.SAGE: Gender.FEMALE,
    Voice.SHIMMER: Gender.FEMALE,
    Voice.VERSE: Gender.MALE,
    Voice.MARIN: Gender.FEMALE,
    Voice.CEDAR: Gender.MALE,
}
# The voice of each gender when neither the family nor the service chose one that suits it: voices that
# every realtime model version has had since the first preview.
DEFAULT_VOICES: dict[Gender, Voice] = {Gender.FEMALE: Voice.SHIMMER, Gender.MALE: Voice.ECHO}
# The page has always spoken of the companion in the feminine ("מקשיבה", "מדברת"), so a profile saved
# before this setting existed keeps the words its person knows.
DEFAULT_COMPANION_GENDER = Gender.FEMALE


def voice_gender(voice: str) -> Gender | None:
    """How ``voice`` sounds: a gender, or None for a neutral or unknown (custom) voice."""
    try:
        return VOICE_GENDERS[Voice(voice)]
    except ValueError:
        return None


def session_voice(chosen: str | None, gender: Gender, service_voice: str) -> str:
    """The voice a conversation starts with: the family's choice; else the service's ``voice`` setting
    when it does not sound like the other gender; else the default voice of the companion's gender."""
    if chosen:
        return chosen
    sounds = voice_gender(service_voice)
    return service_voice if sounds in (None, gender) else DEFAULT_VOICES[gender].value


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


# A code registered in ``companion/languages.py``, i.e. one that has a language pack.
LanguageCode = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=16), AfterValidator(check_language)
]


class ConversationRecords(StrEnum):
    """What is kept of each conversation (the family's choice; the person should be told)."""

    NONE = "none"  # counts only: when, how long, how many turns, how it ended, what the companion did
    SUMMARY = "summary"  # and a short summary and the timeline's words
    TRANSCRIPT = "transcript"  # and every turn's words

    def narrower_than(self, other: ConversationRecords) -> bool:
        order = (ConversationRecords.NONE, ConversationRecords.SUMMARY, ConversationRecords.TRANSCRIPT)
        return order.index(self) < order.index(other)


class DigestFrequency(StrEnum):
    """How often a contact gets the day's summary by e-mail."""

    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"  # on Sundays, the week's


MIN_RETENTION_DAYS = 7
MAX_RETENTION_DAYS = 365
DEFAULT_RETENTION_DAYS = 90


class PersonalInfo(Model):
    full_name: NameText
    preferred_name: NameText | None = None
    gender: Gender
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    date_of_birth: date | None = None
    language: LanguageCode = DEFAULT_LANGUAGE
    timezone: Annotated[str, StringConstraints(max_length=TIMEZONE_TEXT)] = "Asia/Jerusalem"

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
    name: NameText
    relationship: RelationshipText
    phone: Phone | None = None
    is_emergency_contact: bool = False
    notes: OptionalMedium = ""


class Routine(Model):
    wake: HHMM | None = None
    breakfast: HHMM | None = None
    lunch: HHMM | None = None
    dinner: HHMM | None = None
    sleep: HHMM | None = None
    checkins: Annotated[list[HHMM], Field(max_length=MAX_CHECKINS)] = []  # "how are you?" reminders


class Companion(Model):
    """How the companion speaks of itself and sounds: one setting for the instructions, the tablet's
    words and the offline engine, so that all three agree.

    ``gender`` is the companion's grammatical gender: Hebrew inflects first-person verbs and adjectives
    ("אני מקשיבה" / "אני מקשיב"). ``voice`` is the realtime model's voice; None lets the service choose
    one that suits ``gender`` (``session_voice``). A voice that sounds like the other gender is refused.
    """

    gender: Gender = DEFAULT_COMPANION_GENDER
    voice: Voice | None = None

    @model_validator(mode="after")
    def _voice_agrees(self) -> Companion:
        if self.voice is None:
            return self
        sounds = VOICE_GENDERS[self.voice]
        if sounds is not None and sounds is not self.gender:
            raise ValueError(
                f"voice {self.voice.value!r} sounds {sounds.value}; choose a {self.gender.value} or neutral "
                "voice, or change the companion's gender"
            )
        return self


class Profile(Model):
    """Section ``profile``: who the person is, and how their companion speaks (``companion``)."""

    personal_info: PersonalInfo
    companion: Companion = Companion()
    cognitive_mode: CognitiveMode = CognitiveMode.STANDARD
    background: Background = Background()
    family_members: Annotated[list[FamilyMember], Field(max_length=MAX_FAMILY)] = []
    routine: Routine = Routine()
    # What is kept of each conversation, and for how many days (then it is deleted)
    conversation_records: ConversationRecords = ConversationRecords.SUMMARY
    conversation_retention_days: Annotated[int, Field(ge=MIN_RETENTION_DAYS, le=MAX_RETENTION_DAYS)] = (
        DEFAULT_RETENTION_DAYS
    )


class EmergencyContact(Model):
    """In the order they are called on: an unacknowledged critical alert escalates down this list."""

    name: NameText
    relationship: RelationshipText
    phone: Phone
    email: Email | None = None
    # which alerts reach this contact by e-mail
    # (medium covers a missed medication); a critical one always reaches the first contact
    notify_for: Annotated[list[Severity], Field(max_length=3)] = [
        Severity.CRITICAL,
        Severity.HIGH,
        Severity.MEDIUM,
    ]
    # the day's summary by e-mail (needs an e-mail address), at this local time; weekly: on Sundays
    digest: DigestFrequency = DigestFrequency.NONE
    digest_time: HHMM = "19:00"

    @model_validator(mode="after")
    def _digest_needs_email(self) -> EmergencyContact:
        if self.digest is not DigestFrequency.NONE and not self.email:
            raise ValueError("a digest e-mail needs the contact's e-mail address")
        return self


class Medication(Model):
    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MEDICATION_NAME_TEXT)
    ]
    dosage: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=DOSAGE_TEXT)]
    times: Annotated[list[HHMM], Field(min_length=1, max_length=MAX_TIMES_PER_MEDICATION)]
    instructions: Annotated[str, StringConstraints(strip_whitespace=True, max_length=INSTRUCTIONS_TEXT)] = ""


class NeverAllowRule(Model):
    rule: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=RULE_TEXT)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=RULE_TEXT)] = ""
    severity: Severity = Severity.HIGH


class CrisisTrigger(Model):
    phrase: PhraseText
    severity: Severity = Severity.CRITICAL
    action: Annotated[str, StringConstraints(strip_whitespace=True, max_length=ACTION_TEXT)] = ""


class Safety(Model):
    """Section ``safety``: whom to call, what to take, what never to allow."""

    emergency_contacts: Annotated[list[EmergencyContact], Field(max_length=MAX_CONTACTS)] = []
    medications: Annotated[list[Medication], Field(max_length=MAX_MEDICATIONS)] = []
    never_allow: Annotated[list[NeverAllowRule], Field(max_length=MAX_NEVER_ALLOW)] = []
    forbidden_topics: Annotated[list[PhraseText], Field(max_length=MAX_FORBIDDEN_TOPICS)] = []
    crisis_triggers: Annotated[list[CrisisTrigger], Field(max_length=MAX_CRISIS_TRIGGERS)] = []
    # minutes before an unacknowledged critical alert goes to the next contact; None: the service's setting
    escalation_minutes: Annotated[int, Field(ge=1, le=24 * 60)] | None = None


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
    source: MemorySource = MemorySource.CAREGIVER  # learned in conversation: the family may review it
    created_at: datetime
    confirmed_at: datetime | None = None  # when the family kept a memory learned in conversation
    conversation_id: Annotated[str, StringConstraints(max_length=SHORT_TEXT)] | None = None  # who taught it
    edited_at: datetime | None = None  # when the family last changed its text


class MemoryEdit(Model):
    """What the family may change of a memory (``PATCH``): its text, type and importance."""

    text: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LONG_TEXT)] | None
    ) = None
    type: MemoryType | None = None
    importance: Annotated[int, Field(ge=1, le=5)] | None = None


class PastTurn(BaseModel):
    """One of the last turns of the previous conversation, as recorded (untrusted data)."""

    model_config = ConfigDict(frozen=True)

    role: str  # person | companion
    text: str
    cut: bool = False


class PastConversation(BaseModel):
    """A previous conversation, as the next one's instructions recall it: when, and its summary (a
    model's words about the person's words: untrusted data)."""

    model_config = ConfigDict(frozen=True)

    started_at: datetime
    ended_at: datetime
    summary: str


MAX_MEMORIES = 200  # beyond this the oldest, least important would be cut from the prompt anyway


SECTION_MODELS: dict[str, type[Model]] = {"profile": Profile, "safety": Safety, "music": Music}
SECTIONS: tuple[str, ...] = tuple(SECTION_MODELS)


# ---- the family's photos: what the family says about each (the pixels are the store's) --------------
# A photo's metadata is a document of kind ``photo`` beside the profile (the document id is the photo's),
# so it travels with the care context (the instructions' photo index, the ``show_photos`` tool's choice)
# and every edit is versioned like every other document.

PHOTO_KIND = "photo"  # the documents' kind; the document id is the photo's id
CAPTION_TEXT = MEDIUM_TEXT  # "Noam's first day at school, with his new bag"
WHEN_TEXT = 40  # "1987", "the eighties", "summer 2019": a year or a decade is enough
WHERE_TEXT = SHORT_TEXT  # "Grandma's balcony in Haifa"
MAX_PEOPLE = MAX_FAMILY  # one photo may show the whole extended family
MAX_POSITION = 100_000  # far beyond any library (the quota is a few hundred)

Caption = Annotated[str, StringConstraints(strip_whitespace=True, max_length=CAPTION_TEXT)]
When = Annotated[str, StringConstraints(strip_whitespace=True, max_length=WHEN_TEXT)]
Where = Annotated[str, StringConstraints(strip_whitespace=True, max_length=WHERE_TEXT)]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_TEXT)]
People = Annotated[list[PersonName], Field(max_length=MAX_PEOPLE)]
Position = Annotated[int, Field(ge=0, le=MAX_POSITION)]


class PhotoEdit(Model):
    """A change the family makes (``PATCH``): only the fields given change."""

    caption: Caption | None = None
    people: People | None = None
    when: When | None = None
    where: Where | None = None
    only_when_asked: bool | None = None
    position: Position | None = None


class Photo(Model):
    """One photo as the family described it; ``id`` and ``createdAt`` are set by the service."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=SHORT_TEXT)]
    caption: Caption = ""
    people: People = []
    when: When = ""
    where: Where = ""
    only_when_asked: bool = False  # a photo that may sadden (a late spouse): shown only when asked for
    position: Position = 0  # the family's order: lower first
    created_at: datetime

    def edited(self, edit: PhotoEdit) -> Photo:
        """This photo with ``edit`` applied (validated again as a whole)."""
        changes = edit.model_dump(exclude_none=True, exclude={"position"})
        return Photo.model_validate({**self.model_dump(), **changes})


def ordered(photos: list[Photo]) -> list[Photo]:
    """The family's order: position, then upload time, then id (a total order, whatever the input's)."""
    return sorted(photos, key=lambda p: (p.position, p.created_at, p.id))


class CareContext(BaseModel):
    """Everything the instruction builder needs about one person: one snapshot, immutable."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    profile: Profile | None = None
    safety: Safety = Safety()
    music: Music = Music()
    memories: tuple[Memory, ...] = ()
    # the family's photos in their order (metadata only; ``profiles.photos``)
    photos: tuple[Photo, ...] = ()
    # What the next conversation recalls (the relay's loader fills them; empty elsewhere): the last
    # conversations' summaries, newest first, and the last turns of one that ended minutes ago.
    history: tuple[PastConversation, ...] = ()
    recent_turns: tuple[PastTurn, ...] = ()
