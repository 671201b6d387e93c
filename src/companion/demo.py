"""The demo person, ``user-tiferet-001``: a Hebrew-speaking man with mild dementia, and his caregiver.

Seeding is idempotent: sections that already exist are left as they are (a caregiver may have edited
them). Tokens are issued once, by the run that creates the demo person (they are shown that once and
stored only as hashes); later runs issue none, so restarting the demo does not pile up valid tokens.
``companion tokens list`` shows them and ``companion tokens create`` makes new ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from companion.accounts import CLI_ACTOR, AccountService
from companion.auth import Role
from companion.errors import AlreadyExists
from companion.services import Services

DEMO_USER = "user-tiferet-001"
DEMO_CAREGIVER_USERNAME = "tiferet"
DEMO_CAREGIVER_PASSWORD = "demo-password"  # a demo account on a local machine; shown in the README

DEMO_SECTIONS: dict[str, dict[str, Any]] = {
    "profile": {
        "personalInfo": {
            "fullName": "משה לוי",
            "preferredName": "משה",
            "gender": "male",
            "age": 82,
            "language": "he",
            "timezone": "Asia/Jerusalem",
        },
        "cognitiveMode": "dementia-mild",
        "background": {
            "condition": "דמנציה בשלב מוקדם",
            "personality": "חם, אוהב לספר סיפורים, לפעמים מתבלבל בשעות הערב",
            "hobbies": ["גינון", "שחמט", "שירי ארץ ישראל"],
            "lifeStory": "נולד בחיפה, עבד ארבעים שנה כמורה למתמטיקה, גידל שלושה ילדים עם אשתו רחל.",
        },
        "familyMembers": [
            {"name": "תפארת", "relationship": "בת", "phone": "050-123-4567", "isEmergencyContact": True},
            {"name": "רחל", "relationship": "אשה", "notes": "נפטרה לפני חמש שנים; לדבר עליה בעדינות"},
            {"name": "יוסי", "relationship": "בן", "phone": "052-765-4321"},
        ],
        "routine": {
            "wake": "07:00",
            "breakfast": "08:00",
            "lunch": "13:00",
            "dinner": "19:00",
            "sleep": "22:30",
        },
    },
    "safety": {
        "emergencyContacts": [{"name": "תפארת", "relationship": "בת", "phone": "050-123-4567"}],
        "medications": [
            {"name": "אריספט", "dosage": '5 מ"ג', "times": ["08:00"], "instructions": "עם ארוחת הבוקר"},
            {"name": "אלטרוקסין", "dosage": '50 מק"ג', "times": ["07:00"], "instructions": "על קיבה ריקה"},
        ],
        "neverAllow": [
            {"rule": "לצאת מהבית לבד", "reason": "סכנת התמצאות", "severity": "critical"},
            {"rule": "להדליק את הגז", "reason": "סכנת שריפה", "severity": "high"},
        ],
        "forbiddenTopics": ["פוליטיקה", "מצב כלכלי"],
        "crisisTriggers": [
            {"phrase": "אני הולך לאיבוד", "severity": "critical"},
            {"phrase": "אני מפחד", "severity": "high"},
            {"phrase": "תעזרו לי", "severity": "critical"},
            # the same in English: the offline engine hears English only, so the safety path can be
            # tried by voice (README, "What the offline engine hears")
            {"phrase": "I fell", "severity": "critical"},
            {"phrase": "Help me", "severity": "critical"},
            {"phrase": "I'm scared", "severity": "high"},
            {"phrase": "I am lost", "severity": "critical"},
        ],
    },
    "music": {
        "enabled": True,
        "preferredArtists": ["נעמי שמר", "אריק איינשטיין"],
        "preferredSongs": ["ירושלים של זהב", "אני ואתה"],
        "preferredGenres": ["שירי ארץ ישראל"],
        "dislikedArtists": [],
        "allowAutoPlay": False,
        "playOnSadness": True,
        "maxSongsPerSession": 3,
    },
}

DEMO_MEMORIES: tuple[dict[str, Any], ...] = (
    {"text": "אוהב לספר על הטיול לגליל עם רחל ב-1975", "type": "life-story", "importance": 4},
    {"text": "הנכדה נועה מבקרת בימי שישי", "type": "family", "importance": 5},
)


DEMO_LABELS = ("demo admin", "demo caregiver", "demo device")


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    """The demo's sign-in, and its tokens when this run issued them (None on every later run)."""

    user_id: str
    caregiver_id: str
    caregiver_username: str
    caregiver_password: str
    admin_token: str | None = None
    caregiver_token: str | None = None
    device_token: str | None = None

    @property
    def issued_tokens(self) -> bool:
        return self.admin_token is not None


async def seed_demo(services: Services) -> DemoCredentials:
    """Seed through the account service, as the CLI's operator (``CLI_ACTOR``)."""
    store = services.store
    accounts = AccountService.of(services)
    try:
        await accounts.create_person(CLI_ACTOR, DEMO_USER)
        first_run = True
    except AlreadyExists:  # seeded before, by an earlier start or another instance right now
        first_run = False
    for section, body in DEMO_SECTIONS.items():
        if await store.get(DEMO_USER, section, "main") is None:
            await services.profiles.save_section(DEMO_USER, section, body, if_match=None)
    if not await services.profiles.list_memories(DEMO_USER):
        for memory in DEMO_MEMORIES:
            await services.profiles.add_memory(DEMO_USER, memory)
    caregiver = await store.find_caregiver_by_username(DEMO_CAREGIVER_USERNAME)
    if caregiver is None:
        try:
            caregiver = await accounts.create_caregiver(
                CLI_ACTOR,
                name="תפארת",
                username=DEMO_CAREGIVER_USERNAME,
                password=DEMO_CAREGIVER_PASSWORD,
                user_ids=[DEMO_USER],
            )
        except AlreadyExists:  # another instance seeded it at the same moment
            caregiver = await store.find_caregiver_by_username(DEMO_CAREGIVER_USERNAME)
            assert caregiver is not None
    await accounts.assign(CLI_ACTOR, caregiver.id, DEMO_USER)  # idempotent: an earlier seed's caregiver
    credentials = DemoCredentials(
        user_id=DEMO_USER,
        caregiver_id=caregiver.id,
        caregiver_username=DEMO_CAREGIVER_USERNAME,
        caregiver_password=DEMO_CAREGIVER_PASSWORD,
    )
    if not first_run:
        return credentials
    admin_label, caregiver_label, device_label = DEMO_LABELS
    admin, _ = await accounts.create_token(CLI_ACTOR, Role.ADMIN, label=admin_label)
    care, _ = await accounts.create_token(
        CLI_ACTOR, Role.CAREGIVER, caregiver_id=caregiver.id, label=caregiver_label
    )
    device, _ = await accounts.create_token(CLI_ACTOR, Role.DEVICE, user_id=DEMO_USER, label=device_label)
    return replace(credentials, admin_token=admin, caregiver_token=care, device_token=device)
