"""What the example people must look like once imported, written out field by field from the seed
documents (``seed_data``), and checked against what the service's API returns: each person's export
(profile sections, memories, alerts, reminders, conversations)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.conftest import Api
from companion.importers.report import ImportReport
from importers import seed_data as S

CONTACT_DEFAULTS = {
    "email": None,
    "notifyFor": ["critical", "high", "medium"],
    "digest": "none",
    "digestTime": "19:00",
}
PROFILE_DEFAULTS = {
    "companion": {"gender": "female", "voice": None},
    "conversationRecords": "summary",
    "conversationRetentionDays": 90,
}
JERUSALEM = ZoneInfo("Asia/Jerusalem")


def at(days: float = 0, hours: float = 0) -> str:
    return (S.NOW - timedelta(days=days, hours=hours)).isoformat()


def tiferet_profile() -> dict[str, Any]:
    return {
        "personalInfo": {
            "fullName": "תפארת כהן",
            "preferredName": None,
            "gender": "female",
            "age": 82,
            "dateOfBirth": "1944-03-15",
            "language": "he",
            "timezone": "Asia/Jerusalem",
        },
        "cognitiveMode": "dementia-mild",
        "background": {
            "condition": "early-stage Alzheimer's, hypertension",  # the profile document wins
            "personality": "Warm, loves to tell stories about her childhood",
            "hobbies": ["gardening", "Shabbat songs"],
            "lifeStory": (
                "Widowed; her daughter Sarah visits on Fridays.\n\n"
                "Grew up in Haifa; was a teacher for 35 years."
            ),
        },
        "familyMembers": [
            {
                "name": "שרה",
                "relationship": "daughter",
                "phone": "+972-52-123-4567",
                "isEmergencyContact": True,
                "notes": "",
            },
            {
                "name": "דוד",
                "relationship": "son",
                "phone": "+972-50-123-4567",
                "isEmergencyContact": False,
                "notes": "",
            },
            {
                "name": "מיכל",
                "relationship": "granddaughter",
                "phone": None,
                "isEmergencyContact": False,
                "notes": "",
            },
            {
                "name": "יוסי",
                "relationship": "neighbour",
                "phone": "+972-3-612-3456",
                "isEmergencyContact": False,
                "notes": "",
            },
        ],
        "routine": {
            "wake": "07:00",
            "breakfast": "08:00",
            "lunch": "13:00",
            "dinner": "19:00",
            "sleep": "22:00",
            "checkins": [],
        },
        **PROFILE_DEFAULTS,
    }


def tiferet_safety() -> dict[str, Any]:
    return {
        "emergencyContacts": [
            {"name": "שרה", "relationship": "daughter", "phone": "+972-52-123-4567", **CONTACT_DEFAULTS},
            {"name": "דוד", "relationship": "son", "phone": "+972-50-123-4567", **CONTACT_DEFAULTS},
            {
                "name": "Dr. Avi",
                "relationship": "family doctor",
                "phone": "+972-3-612-3456",
                **CONTACT_DEFAULTS,
            },
        ],
        "medications": [
            {
                "name": "Aricept",
                "dosage": "5 mg",
                "times": ["08:00", "20:00"],
                "instructions": "after breakfast",
            },
            {"name": "Amlodipine", "dosage": "10 mg", "times": ["09:30"], "instructions": ""},
        ],
        "neverAllow": [],
        "forbiddenTopics": ["politics", "her late husband's illness"],
        "crisisTriggers": [
            {
                "phrase": "lost",
                "severity": "critical",
                "action": "Stay calm, reassure her and alert the family",
            },
            {"phrase": "help me", "severity": "high", "action": "Ask what is wrong and alert the family"},
            {"phrase": "scared", "severity": "medium", "action": "Comfort her and suggest calling Sarah"},
        ],
        "escalationMinutes": None,
    }


def tiferet_music() -> dict[str, Any]:
    return {  # user-music-preferences wins over the wizard's musicPreferences
        "enabled": True,
        "preferredArtists": ["Naomi Shemer", "Yehoram Gaon"],
        "preferredSongs": ["Jerusalem of Gold", "Hallelujah"],
        "preferredGenres": ["Israeli folk", "classical"],
        "dislikedArtists": [],
        "allowAutoPlay": True,
        "playOnSadness": True,
        "maxSongsPerSession": 4,
    }


def memory(mid: str, text: str, kind: str, importance: int, days: int) -> dict[str, Any]:
    return {
        "id": f"na-{mid}",
        "text": text,
        "type": kind,
        "importance": importance,
        "source": "conversation",
        "createdAt": z(at(days)),
        "confirmedAt": None,
        "conversationId": None,
        "editedAt": None,
    }


def tiferet_memories() -> list[dict[str, Any]]:
    m = "0b5d3c8e-0000-4000-8000-00000000000"
    return [  # oldest first, as the export lists them
        memory(m + "1", "daughter name: Her daughter is Sarah", "family", 5, 30),
        memory(m + "2", "Her left knee hurts on cold days", "health", 3, 20),  # the key is in the value
        memory(m + "3", "Likes mint tea with honey", "preference", 2, 10),  # the key is in the value
        memory(m + "4", "career: Taught literature for 35 years", "life-story", 5, 5),
        memory(m + "5", "Walks to the park after lunch", "routine", 3, 4),
    ]


def moshe_memories() -> list[dict[str, Any]]:
    m = "1c6e4d9f-0000-4000-8000-00000000000"
    return [
        memory(m + "1", "radio: Listens to the BBC every morning", "preference", 3, 9),
        memory(m + "2", "Hard of hearing in the right ear", "health", 5, 8),
        memory(m + "3", "wife: Married to Ruth for 60 years", "family", 5, 7),
        memory(m + "4", "Plays chess on Tuesdays", "life-story", 3, 6),  # "hobby": in neither enum
    ]


def z(value: str) -> str:
    """A time as the documents (pydantic) write it: UTC as "Z"."""
    return value.replace("+00:00", "Z")


def local(hours_ago: float) -> tuple[str, str]:
    due = S.NOW - timedelta(hours=hours_ago)
    return due.isoformat(), due.astimezone(JERUSALEM).strftime("%H:%M")


def tiferet_reminders() -> list[dict[str, Any]]:
    """(hours ago, state, acked, missed) of every dose and check-in whose time passed; the appointment
    and the future dose do not come over."""
    rows = []
    aricept = "Aricept 5 mg"
    for hours, kind, state, acked, missed, delivered in (
        (148, "medication", "missed", None, at(hours=147), at(hours=148)),  # declined
        (124, "medication", "missed", None, at(hours=124), at(hours=124)),  # triggered, never answered
        (100, "medication", "void", None, None, None),  # pending: never brought to her
        (76, "medication", "cancelled", None, None, None),  # snoozed: the follow-up carries it
        (75.8, "medication", "acknowledged", at(hours=75.75), None, at(hours=75.8)),  # the follow-up
        (52, "medication", "missed", None, at(hours=51.5), at(hours=52)),
        (28, "medication", "acknowledged", at(hours=27.95), None, at(hours=28)),  # completed 3 min later
        (26, "checkin", "acknowledged", at(hours=26), None, at(hours=26)),
    ):
        due, hhmm = local(hours)
        rows.append(
            {
                "kind": kind,
                "label": aricept if kind == "medication" else "",
                "localTime": hhmm,
                "dueAt": due,
                "state": state,
                "deliveredAt": delivered,
                "deliveredVia": "conversation" if delivered else None,
                "ackedAt": acked,
                "ackedVia": None,
                "snoozedUntil": None,
                "missedAt": missed,
            }
        )
    return rows


def strip(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in keys} for row in rows]


async def export_of(api: Api, user_id: str) -> dict[str, Any]:
    answer = await api.admin("GET", f"/api/users/{user_id}/export")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def check_everything(api: Api, report: ImportReport) -> None:
    tiferet = await export_of(api, S.TIFERET)
    assert tiferet["profile"]["profile"]["data"] == tiferet_profile()
    assert tiferet["profile"]["safety"]["data"] == tiferet_safety()
    assert tiferet["profile"]["music"]["data"] == tiferet_music()
    assert {s["version"] for s in tiferet["profile"].values()} == {1}
    assert tiferet["memories"] == tiferet_memories()
    # the history; the schedule here makes the days to come itself, from the imported medications
    reminders = sorted(
        (r for r in tiferet["reminders"] if parse(r["dueAt"]) < S.NOW), key=lambda r: r["dueAt"]
    )
    assert strip(reminders, "id") == tiferet_reminders()
    alerts = {a["id"]: a for a in tiferet["alerts"]}
    missed_dose = next(r for r in reminders if r["dueAt"] == local(52)[0])
    open_alert = alerts["na-incident_1764400000000_ab12cd"]
    assert {
        k: open_alert[k] for k in ("severity", "summary", "rule", "sessionId", "createdAt", "resolved")
    } == {
        "severity": "critical",
        "summary": "She asked how to get to the bus station alone at night",
        "rule": "leaving the house alone",
        "sessionId": "sess-1",
        "createdAt": z(at(5)),
        "resolved": False,
    }
    assert open_alert["acknowledgedAt"] is None and open_alert["importedAt"] == z(S.NOW.isoformat())
    assert open_alert["deliveries"] == []
    resolved = alerts["na-incident_1764300000000_ef34gh"]
    expected_resolved = z(at(6, hours=-1))
    assert (resolved["severity"], resolved["resolved"], resolved["resolvedBy"], resolved["resolvedAt"]) == (
        "high",
        True,
        "Sarah",
        expected_resolved,
    )
    assert resolved["acknowledgedAt"] == expected_resolved
    dose = alerts["na-incident_1764200000000_ij56kl"]
    assert (dose["severity"], dose["rule"], dose["reminderId"], dose["resolved"]) == (
        "medium",
        "reminder",
        missed_dose["id"],
        False,
    )
    assert "Aricept 5 mg" in dose["summary"] and local(52)[1] not in ("",)
    assert len(tiferet["alerts"]) == 3
    [conversation] = tiferet["conversations"]
    start = S.NOW - timedelta(days=2)
    assert conversation["startedAt"] == start.isoformat()
    assert conversation["endedAt"] == (start + timedelta(minutes=4)).isoformat()
    assert conversation["records"] == "summary"
    assert conversation["turns"] == {"person": 1, "companion": 2}
    assert conversation.get("transcript") in (None, [])  # summary: the words are not kept
    assert conversation["summary"] is None

    moshe = await export_of(api, S.MOSHE)
    assert moshe["profile"]["profile"]["data"]["personalInfo"] == {
        "fullName": "Moshe Levi",
        "preferredName": None,
        "gender": "male",
        "age": 88,
        "dateOfBirth": None,
        "language": "en",
        "timezone": "Europe/London",
    }
    assert moshe["profile"]["profile"]["data"]["familyMembers"] == [
        {
            "name": "Ruth",
            "relationship": "wife",
            "phone": "+442079460958",
            "isEmergencyContact": False,
            "notes": "",
        }
    ]
    assert moshe["profile"]["safety"]["data"] == {
        "emergencyContacts": [
            {"name": "Ruth", "relationship": "wife", "phone": "+442079460958", **CONTACT_DEFAULTS}
        ],
        "medications": [
            {"name": "Metformin", "dosage": "500 mg", "times": ["08:00", "19:00"], "instructions": ""}
        ],
        "neverAllow": [
            {"rule": "Never suggest leaving the house alone", "reason": "He gets lost", "severity": "high"},
            {
                "rule": "Never discuss his medication doses",
                "reason": "Only his doctor decides",
                "severity": "high",
            },
        ],
        "forbiddenTopics": ["the war"],
        "crisisTriggers": [
            {"phrase": p, "severity": "critical", "action": ""}
            for p in ("I want to die", "chest pain", "I fell")
        ],
        "escalationMinutes": None,
    }
    assert moshe["profile"]["music"]["data"] is None
    assert moshe["memories"] == moshe_memories()

    rina = await export_of(api, S.RINA)
    info = rina["profile"]["profile"]["data"]["personalInfo"]
    assert (info["fullName"], info["gender"], info["language"]) == ("Rina", "male", "he")

    # the report names what did not come over, and why
    notes = {(n.container, n.field) for p in report.people for n in p.not_carried}
    for expected in (
        ("users", "favouriteColour"),
        ("users", "_etag"),
        ("users", "medicalInfo.allergies"),
        ("safety-config", "yamlConfig"),
        ("safety-config", "boundaries.notes"),
        ("safety-config", "*"),  # the older safety-config
        ("safety-config", "redirectToFamily"),
        ("safety-config", "approvedActivities"),
        ("safety-config", "emergencyContacts[1].phone"),
        ("user-music-preferences", "musicService"),
        ("memories", "confidence"),
        ("memories", "mood"),
        ("memories", "memoryType"),
        ("memories", "value"),
        ("reminders", "type"),  # the appointment
        ("reminders", "scheduledFor"),  # the future dose
        ("conversations", "turns"),  # summary: the words are not kept
        ("conversations", "startedAt"),  # older than the retention
        ("photos", "shownCount"),
        ("photos", "uploadedBy"),
        ("photos", "capturedDate"),  # the day of the upload there, not when it was taken
        ("safety-config", "photos"),  # the wizard's copy of the wedding photo: the photos document wins
        ("music-playback-history", "*"),
    ):
        assert expected in notes, expected
    remarks = [r for p in report.people for r in p.remarks]
    assert any("2 safety-config documents: the newest" in r for r in remarks)
    assert any("the dashboard's (A) shape" in r for r in remarks)
    assert any("the seed scripts' (B) shape" in r for r in remarks)


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)
