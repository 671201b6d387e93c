"""The seed system's example people, shaped as its data model says (field names and containers its
own), covering every shape: both safety-config shapes (the dashboard's A, the seed scripts' B, and a
person with several of them), both memory-category enums, the phone formats the wizard accepts, every
reminder state and type, both incident types, conversations, photos, music from both places, extra
fields the model does not describe, and fields missing.

``containers()`` is every container's documents, as the Cosmos DB server is seeded and as an export
folder holds them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the import's clock
TIFERET = "user-tiferet-001"
MOSHE = "user-moshe-002"
RINA = "user-rina-003"  # only a profile document, without a gender, and no safety-config
BROKEN = "user-" + "x" * 240  # an id longer than any id here: this person fails, the others go on


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


DAY = timedelta(days=1)
OLD_CONFIG_AT = NOW - 40 * DAY
NEW_CONFIG_AT = NOW - 3 * DAY

META = {
    "_rid": "abc==",
    "_self": "dbs/x/colls/y/docs/z/",
    "_etag": '"0000"',
    "_attachments": "attachments/",
    "_ts": 1764590400,
}


def users() -> list[dict[str, Any]]:
    return [
        {
            "id": TIFERET,
            "userId": TIFERET,
            "type": "user_profile",
            "personalInfo": {
                "fullName": "תפארת כהן",
                "age": 82,
                "dateOfBirth": "1944-03-15",
                "gender": "female",
                "language": "he",
                "timezone": "Asia/Jerusalem",
            },
            "cognitiveMode": "dementia_mild",
            "medicalInfo": {
                "conditions": ["early-stage Alzheimer's", "hypertension"],
                "allergies": ["penicillin"],
            },
            "lifestyle": {"hobbies": ["gardening", "Shabbat songs"], "dailyWalk": True},
            "familyMembers": [
                {
                    "name": "שרה",
                    "relationship": "daughter",
                    "phone": "052-1234567",
                    "isEmergencyContact": True,
                },
                {"name": "דוד", "relationship": "son", "phone": "+972501234567"},
                {"name": "מיכל", "relationship": "granddaughter"},
                {"name": "יוסי", "relationship": "neighbour", "phone": "03-6123456"},
            ],
            "createdAt": iso(NOW - 60 * DAY),
            "favouriteColour": "blue",  # not in the data model: named in the report
            **META,
        },
        {
            "id": MOSHE,
            "userId": MOSHE,
            "type": "user_profile",
            "personalInfo": {
                "fullName": "Moshe Levi",
                "age": 88,
                "gender": "male",
                "language": "en",
                "timezone": "Europe/London",
            },
            "cognitiveMode": "elderly",
            "familyMembers": [{"name": "Ruth", "relationship": "wife", "phone": "+44 20 7946 0958"}],
        },
        {
            "id": RINA,
            "userId": RINA,
            "type": "user_profile",
            "personalInfo": {"fullName": "Rina", "language": "he"},
        },
        {
            "id": BROKEN,
            "userId": BROKEN,
            "type": "user_profile",
            "personalInfo": {"fullName": "Broken", "gender": "male"},
        },
    ]


def safety_configs() -> list[dict[str, Any]]:
    older_a = {
        "id": "6f1c2a9e-1b7d-4e55-9a4e-3c1d2b0a9f11",
        "userId": TIFERET,
        "patientBackground": {
            "fullName": "Tiferet",
            "age": 81,
            "medicalCondition": "mild memory loss, older note",
            "personality": "quiet",
            "hobbies": "reading",
        },
        "emergencyContacts": [{"name": "Old Contact", "phone": "050-000-0000", "relationship": "friend"}],
        "medications": [{"name": "Old pill", "dosage": "1 mg", "time": "09:00"}],
        "crisisTriggers": [
            {"keyword": "lost", "severity": "high", "action": "Call the family at once please"}
        ],
        "createdAt": iso(OLD_CONFIG_AT),
        "updatedAt": iso(OLD_CONFIG_AT),
    }
    newer_a = {
        "id": f"config-{TIFERET}-{ms(NEW_CONFIG_AT)}",
        "userId": TIFERET,
        "patientBackground": {
            "fullName": "Tiferet Cohen",
            "age": 82,
            "medicalCondition": "Early-stage Alzheimer's, high blood pressure",
            "personality": "Warm, loves to tell stories about her childhood",
            "hobbies": "gardening, knitting, Shabbat songs",
            "familyContext": "Widowed; her daughter Sarah visits on Fridays.",
            "importantMemories": "Grew up in Haifa; was a teacher for 35 years.",
        },
        "emergencyContacts": [
            {"name": "שרה", "phone": "052-123-4567", "relationship": "daughter"},
            {"name": "דוד", "phone": "0501234567", "relationship": "son"},
            {"name": "Dr. Avi", "phone": "+972-3-612-3456", "relationship": "family doctor"},
        ],
        "medications": [
            {"name": "Aricept", "dosage": "5 mg", "time": "08:00", "specialInstructions": "after breakfast"},
            {"name": "Aricept", "dosage": "5 mg", "time": "20:00", "specialInstructions": "after breakfast"},
            {"name": "Amlodipine", "dosage": "10 mg", "time": "9:30"},
        ],
        "routines": {
            "wakeTime": "07:00",
            "breakfastTime": "08:00",
            "lunchTime": "13:00",
            "dinnerTime": "19:00",
            "sleepTime": "22:00",
        },
        "boundaries": {
            "forbiddenTopics": ["politics", "her late husband's illness"],
            "notes": "Avoid news about wars",
        },
        "crisisTriggers": [
            {
                "keyword": "lost",
                "severity": "critical",
                "action": "Stay calm, reassure her and alert the family",
            },
            {"keyword": "help me", "severity": "high", "action": "Ask what is wrong and alert the family"},
            {"keyword": "scared", "severity": "medium", "action": "Comfort her and suggest calling Sarah"},
        ],
        "photos": [
            {
                "id": "p-1",
                "fileName": "wedding.jpg",
                "blobUrl": f"/api/photos/{TIFERET}/1733000000000-wedding.jpg",
                "uploadedAt": iso(NEW_CONFIG_AT),
                "manualTags": ["Sarah", "David"],
                "caption": "Sarah's wedding",
                "size": 123456,
            }
        ],
        "musicPreferences": {
            "enabled": True,
            "preferredArtists": "Naomi Shemer, Arik Einstein",
            "preferredSongs": "Jerusalem of Gold",
            "preferredGenres": "Israeli folk",
            "allowAutoPlay": False,
            "playOnSadness": True,
            "maxSongsPerSession": 3,
        },
        "yamlConfig": "patient:\n  name: Tiferet Cohen\n",
        "createdAt": iso(NEW_CONFIG_AT),
        "updatedAt": iso(NEW_CONFIG_AT),
    }
    shape_b = {
        "id": MOSHE,
        "userId": MOSHE,
        "type": "safety_config",
        "neverAllow": [
            {"rule": "Never suggest leaving the house alone", "reason": "He gets lost"},
            {"rule": "Never discuss his medication doses", "reason": "Only his doctor decides"},
        ],
        "crisisTriggers": ["I want to die", "chest pain", "I fell"],
        "redirectToFamily": ["money", "the will"],
        "approvedActivities": ["chess", "listening to the radio"],
        "medications": [
            {"name": "Metformin", "dosage": "500 mg", "time": "08:00"},
            {"name": "Metformin", "dosage": "500 mg", "time": "19:00"},
        ],
        "forbiddenTopics": ["the war"],
        "emergencyContacts": [
            {"name": "Ruth", "phone": "+44 20 7946 0958", "relationship": "wife"},
            {"name": "Nobody", "phone": "not a number", "relationship": "x"},
        ],
    }
    return [older_a, newer_a, shape_b]


def music_preferences() -> list[dict[str, Any]]:
    return [
        {
            "id": f"music-pref-{TIFERET}",
            "userId": TIFERET,
            "enabled": True,
            "preferredArtists": ["Naomi Shemer", "Yehoram Gaon"],
            "preferredSongs": ["Jerusalem of Gold", "Hallelujah"],
            "preferredGenres": ["Israeli folk", "classical"],
            "musicService": "spotify",
            "allowAutoPlay": True,
            "playOnSadness": True,
            "maxSongsPerSession": 4,
            "updatedAt": iso(NOW - 2 * DAY),
        }
    ]


def memories() -> list[dict[str, Any]]:
    def memory(
        user: str, mid: str, kind: str, key: str, value: str, importance: str, days: int, **extra: Any
    ) -> dict[str, Any]:
        return {
            "id": mid,
            "userId": user,
            "memoryType": kind,
            "key": key,
            "value": value,
            "extractedAt": iso(NOW - days * DAY),
            "context": "talking about the family",
            "importance": importance,
            "confidence": 0.95,
            "accessCount": 3,
            "lastAccessed": iso(NOW - DAY),
            "tags": value.split()[:5],
            **extra,
        }

    return [
        # the interface's enum
        memory(
            TIFERET,
            "0b5d3c8e-0000-4000-8000-000000000001",
            "family_info",
            "daughter_name",
            "Her daughter is Sarah",
            "high",
            30,
        ),
        memory(
            TIFERET,
            "0b5d3c8e-0000-4000-8000-000000000002",
            "medical_info",
            "knee",
            "Her left knee hurts on cold days",
            "medium",
            20,
        ),
        memory(
            TIFERET,
            "0b5d3c8e-0000-4000-8000-000000000003",
            "preferences",
            "tea",
            "Likes mint tea with honey",
            "low",
            10,
        ),
        memory(
            TIFERET,
            "0b5d3c8e-0000-4000-8000-000000000004",
            "personal_history",
            "career",
            "Taught literature for 35 years",
            "high",
            5,
            mood="proud",
        ),
        memory(
            TIFERET,
            "0b5d3c8e-0000-4000-8000-000000000005",
            "routine",
            "walk",
            "Walks to the park after lunch",
            "medium",
            4,
        ),
        # the tool's enum, and one in neither
        memory(
            MOSHE,
            "1c6e4d9f-0000-4000-8000-000000000001",
            "preference",
            "radio",
            "Listens to the BBC every morning",
            "medium",
            9,
        ),
        memory(
            MOSHE,
            "1c6e4d9f-0000-4000-8000-000000000002",
            "health",
            "hearing",
            "Hard of hearing in the right ear",
            "high",
            8,
        ),
        memory(
            MOSHE,
            "1c6e4d9f-0000-4000-8000-000000000003",
            "family_info",
            "wife",
            "Married to Ruth for 60 years",
            "high",
            7,
        ),
        memory(
            MOSHE,
            "1c6e4d9f-0000-4000-8000-000000000004",
            "hobby",
            "chess",
            "Plays chess on Tuesdays",
            "urgent",
            6,
        ),
        {
            "id": "1c6e4d9f-0000-4000-8000-000000000005",
            "userId": MOSHE,
            "memoryType": "routine",
            "key": "empty",
        },  # no value
    ]


def reminders() -> list[dict[str, Any]]:
    def reminder(
        rid: str, status: str, hours_ago: float, kind: str = "medication", **extra: Any
    ) -> dict[str, Any]:
        due = NOW - timedelta(hours=hours_ago)
        body: dict[str, Any] = {
            "id": rid,
            "userId": TIFERET,
            "type": kind,
            "scheduledFor": iso(due),
            "status": status,
            "declineCount": 0,
            "snoozeCount": 0,
            "createdAt": iso(due - timedelta(hours=8)),
        }
        if kind == "medication":
            body["metadata"] = {
                "medicationName": "Aricept",
                "dosage": "5 mg",
                "specialInstructions": "after breakfast",
            }
        if status in ("completed", "acknowledged", "missed", "triggered", "declined"):
            body["triggeredAt"] = iso(due)
        if status == "completed":
            body["completedAt"] = iso(due + timedelta(minutes=3))
        if status == "missed":
            body["missedAt"] = iso(due + timedelta(minutes=30))
        return body | extra

    return [
        reminder("rem-completed", "completed", 28),
        reminder("rem-missed", "missed", 52),
        reminder("rem-snoozed", "snoozed", 76),
        reminder(
            "rem-snooze-follow",
            "completed",
            75.8,
            metadata={"medicationName": "Aricept", "dosage": "5 mg", "isSnooze": True},
        ),
        reminder("rem-pending-past", "pending", 100),
        reminder("rem-triggered", "triggered", 124),
        reminder("rem-declined", "declined", 148, declinedAt=iso(NOW - timedelta(hours=147))),
        reminder(
            "rem-checkin",
            "acknowledged",
            26,
            kind="daily_check_in",
            acknowledgedAt=iso(NOW - timedelta(hours=26)),
        ),
        reminder("rem-appointment", "pending", 30, kind="appointment"),
        reminder("rem-future", "pending", -20),
    ]


def incidents() -> list[dict[str, Any]]:
    return [
        {
            "id": "incident_1764400000000_ab12cd",
            "userId": TIFERET,
            "type": "safety_incident",
            "timestamp": iso(NOW - 5 * DAY),
            "conversationId": "conv-1",
            "sessionId": "sess-1",
            "severity": "critical",
            "userRequest": "She asked how to get to the bus station alone at night",
            "safetyRuleViolated": "leaving the house alone",
            "resolved": False,
        },
        {
            "id": "incident_1764300000000_ef34gh",
            "userId": TIFERET,
            "type": "safety_incident",
            "timestamp": iso(NOW - 6 * DAY),
            "severity": "high",
            "userRequest": "She said she feels lost",
            "safetyRuleViolated": "crisis trigger: lost",
            "resolved": True,
            "resolvedBy": "Sarah",
            "resolvedAt": iso(NOW - 6 * DAY + timedelta(hours=1)),
        },
        {
            "id": "incident_1764200000000_ij56kl",
            "userId": TIFERET,
            "type": "missed_medication",
            "timestamp": iso(NOW - timedelta(hours=51, minutes=30)),
            "severity": "medium",
            "details": {
                "reminderId": "rem-missed",
                "medicationName": "Aricept",
                "dosage": "5 mg",
                "scheduledFor": iso(NOW - timedelta(hours=52)),
                "missedAt": iso(NOW - timedelta(hours=51, minutes=30)),
            },
            "resolved": False,
        },
    ]


def conversations() -> list[dict[str, Any]]:
    start = NOW - 2 * DAY
    return [
        {
            "id": "conv-1",
            "conversationId": "conv-1",
            "sessionId": "sess-1",
            "userId": TIFERET,
            "type": "conversation",
            "startedAt": iso(start),
            "endedAt": iso(start + timedelta(minutes=4)),
            "turns": [
                {"role": "assistant", "timestamp": iso(start), "transcript": "בוקר טוב תפארת!"},
                {"role": "user", "timestamp": iso(start + timedelta(seconds=20)), "transcript": "בוקר טוב"},
                {
                    "role": "assistant",
                    "timestamp": iso(start + timedelta(minutes=1)),
                    "transcript": "איך ישנת?",
                },
            ],
            "totalTurns": 3,
            "tokenUsage": 0,
        },
        {
            "id": "conv-old",
            "userId": TIFERET,
            "type": "conversation",
            "startedAt": iso(NOW - 200 * DAY),
            "endedAt": iso(NOW - 200 * DAY + timedelta(minutes=2)),
            "turns": [],
            "totalTurns": 0,
            "tokenUsage": 0,
        },
    ]


GARDEN = f"{TIFERET}/1733000000001-garden.jpg"  # a photo whose file is a real photo
WEDDING = f"{TIFERET}/1733000000000-wedding.jpg"  # the wizard's photo: its file is damaged
GRANDCHILDREN = f"{MOSHE}/1733000000002-grandchildren.png"  # no file in the copy of the Blob container


def photos() -> list[dict[str, Any]]:
    return [
        {
            "id": "9d0e1f2a-0000-4000-8000-000000000001",
            "userId": TIFERET,
            "blobUrl": f"https://dashboard.example/api/photos/{GARDEN}",
            "fileName": "garden.jpg",
            "uploadedAt": iso(NOW - 10 * DAY),
            "uploadedBy": "sarah",
            "manualTags": ["Tiferet", "Sarah"],
            "caption": "In the garden",
            "location": "Grandma's balcony in Haifa",
            "capturedDate": "2019-06-01T10:00:00Z",
            "shownCount": 2,
        },
        # what the seed system's POST /photo/bulk wrote from the wizard's photo: the same file
        {
            "id": "9d0e1f2a-0000-4000-8000-000000000002",
            "userId": TIFERET,
            "blobUrl": f"https://dashboard.example/api/photos/{WEDDING}",
            "fileName": "wedding.jpg",
            "uploadedAt": iso(NEW_CONFIG_AT),
            "uploadedBy": "sarah",
            "manualTags": ["Sarah", "David"],
            "caption": "Sarah's wedding",
            "location": "",
            "capturedDate": iso(NEW_CONFIG_AT),
            "shownCount": 0,
        },
        {
            "id": "9d0e1f2a-0000-4000-8000-000000000003",
            "userId": MOSHE,
            "blobUrl": f"/api/photos/{GRANDCHILDREN}",
            "fileName": "grandchildren.png",
            "uploadedAt": iso(NOW - 20 * DAY),
            "manualTags": ["Noam", "Maya"],
            "caption": "The grandchildren at Hanukkah",
            "shownCount": 1,
        },
    ]


def playback() -> list[dict[str, Any]]:
    return [
        {
            "id": f"playback-{ms(NOW - DAY)}-{TIFERET}",
            "userId": TIFERET,
            "conversationId": "conv-1",
            "songName": "Jerusalem of Gold",
            "artistName": "Naomi Shemer",
            "playedAt": iso(NOW - DAY),
            "triggeredBy": "user_request",
        }
    ]


def containers() -> dict[str, list[dict[str, Any]]]:
    """Every container's documents, fresh copies each call."""
    return copy.deepcopy(
        {
            "users": users(),
            "safety-config": safety_configs(),
            "user-music-preferences": music_preferences(),
            "memories": memories(),
            "reminders": reminders(),
            "safety-incidents": incidents(),
            "conversations": conversations(),
            "photos": photos(),
            "music-playback-history": playback(),
            # the dashboard's demo container: present, not imported
            "FamilyMembers": [
                {"id": "fm-1", "userId": TIFERET, "email": "sarah@example.com", "password": "plain"}
            ],
        }
    )
