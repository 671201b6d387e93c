"""Each kind of the seed system's documents mapped by its pure function: both safety-config shapes,
both memory-category enums, the phone formats, missing fields and fields the data model does not
describe (named, never silently dropped)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from companion.importers.conversations import map_conversation
from companion.importers.history import map_incident, map_reminder
from companion.importers.memories import map_memory
from companion.importers.music import map_music
from companion.importers.people import map_user
from companion.importers.photos import map_photo, photo_id
from companion.importers.safety import map_safety_config, newest, shape_of
from companion.importers.values import written_at

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def fields(notes: list[Any]) -> dict[str, str]:
    return {n.field: n.reason for n in notes}


# ---- users ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("052-1234567", "+972-52-123-4567"),
        ("0521234567", "+972-52-123-4567"),
        ("052-123-4567", "+972-52-123-4567"),
        ("+972-52-123-4567", "+972-52-123-4567"),
        ("+972521234567", "+972-52-123-4567"),
        ("972521234567", "+972-52-123-4567"),
        ("(052) 123 4567", "+972-52-123-4567"),
        ("03-6123456", "+972-3-612-3456"),
        ("+972-3-612-3456", "+972-3-612-3456"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_family_phones_in_every_format_the_wizard_took(raw: str, normalised: str) -> None:
    profile, notes = map_user(
        {"id": "u", "familyMembers": [{"name": "Dana", "relationship": "daughter", "phone": raw}]}
    )
    assert profile["familyMembers"] == [
        {"name": "Dana", "relationship": "daughter", "isEmergencyContact": False, "phone": normalised}
    ]
    assert notes == []


def test_a_phone_that_is_not_one_is_named_and_the_member_kept_without_it() -> None:
    profile, notes = map_user(
        {"id": "u", "familyMembers": [{"name": "Dana", "relationship": "daughter", "phone": "call me"}]}
    )
    assert profile["familyMembers"] == [
        {"name": "Dana", "relationship": "daughter", "isEmergencyContact": False}
    ]
    assert "not a phone number" in fields(notes)["familyMembers[0].phone"]


def test_a_member_without_a_relationship_is_not_carried_and_named() -> None:
    profile, notes = map_user({"id": "u", "familyMembers": [{"name": "Dana"}]})
    assert profile["familyMembers"] == []
    assert "not carried" in fields(notes)["familyMembers[0].relationship"]


def test_personal_info_genders_languages_and_what_is_missing() -> None:
    profile, notes = map_user(
        {
            "id": "u",
            "userId": "u",
            "type": "user_profile",
            "personalInfo": {
                "fullName": " Rina ",
                "gender": "נקבה",
                "language": "he-IL",
                "age": "old",
                "timezone": "Mars/Base",
            },
            "cognitiveMode": "dementia_moderate",
        }
    )
    assert profile == {
        "personalInfo": {"fullName": "Rina", "gender": "female", "language": "he"},
        "cognitiveMode": "dementia-moderate",
    }
    assert set(fields(notes)) == {"personalInfo.age", "personalInfo.timezone"}


def test_an_unknown_language_mode_and_extra_fields_are_named() -> None:
    profile, notes = map_user(
        {
            "id": "u",
            "personalInfo": {"fullName": "Moshe", "language": "xx", "shoeSize": 43},
            "cognitiveMode": "sleepy",
            "hobbyRoom": True,
            "_ts": 1,
        }
    )
    assert profile == {"personalInfo": {"fullName": "Moshe"}}
    got = fields(notes)
    assert "no language pack" in got["personalInfo.language"]
    assert "not part of the seed system's data model" in got["personalInfo.shoeSize"]
    assert "not one of" in got["cognitiveMode"]
    assert "not part of" in got["hobbyRoom"]
    assert got["_ts"] == "Cosmos DB's own metadata"


def test_an_empty_profile_document_gives_nothing_and_notes_nothing() -> None:
    assert map_user({"id": "u", "userId": "u"}) == ({}, [])


# ---- safety-config ------------------------------------------------------------------------------------

SHAPE_A: dict[str, Any] = {
    "id": "config-u-1764590400000",
    "userId": "u",
    "emergencyContacts": [
        {"name": "Sarah", "phone": "050-123-4567", "relationship": "daughter"},
        {"name": "No phone", "relationship": "son"},
    ],
    "medications": [
        {"name": "Aricept", "dosage": "5 mg", "time": "20:00", "specialInstructions": "after food"},
        {"name": "Aricept", "dosage": "5 mg", "time": "8:00", "specialInstructions": "after food"},
        {"name": "Bad", "dosage": "1", "time": "25:00"},
    ],
    "crisisTriggers": [{"keyword": "help me", "severity": "urgent", "action": "Call Sarah now, gently"}],
    "boundaries": {"forbiddenTopics": ["politics", "politics", "money"], "notes": "be kind"},
    "routines": {"wakeTime": "06:30", "sleepTime": "late"},
    "musicPreferences": {"enabled": True, "preferredArtists": "A, B, ,C", "maxSongsPerSession": 9},
    "yamlConfig": "x: 1",
    "updatedAt": "2025-12-01T10:00:00Z",
}
SHAPE_B: dict[str, Any] = {
    "id": "u",
    "userId": "u",
    "type": "safety_config",
    "neverAllow": [{"rule": "Never give medical advice", "reason": "Only the doctor"}, {"reason": "no rule"}],
    "crisisTriggers": ["I want to die", "  "],
    "redirectToFamily": ["money"],
    "approvedActivities": ["chess"],
    "medications": [{"name": "Metformin", "dosage": "500 mg", "time": "08:00"}],
    "forbiddenTopics": ["the war"],
}


def test_shape_a_the_dashboard_wizard() -> None:
    mapped = map_safety_config(SHAPE_A)
    assert mapped.shape == "A"
    assert mapped.safety == {
        "emergencyContacts": [{"name": "Sarah", "relationship": "daughter", "phone": "+972-50-123-4567"}],
        "medications": [
            {"name": "Aricept", "dosage": "5 mg", "times": ["08:00", "20:00"], "instructions": "after food"}
        ],
        "forbiddenTopics": ["politics", "money"],
        "crisisTriggers": [{"phrase": "help me", "severity": "critical", "action": "Call Sarah now, gently"}],
    }
    assert mapped.profile == {"routine": {"wake": "06:30"}}
    assert mapped.music == {"enabled": True, "preferredArtists": ["A", "B", "C"], "maxSongsPerSession": 5}
    got = fields(mapped.notes)
    assert "not carried" in got["emergencyContacts[1]"]
    assert "not carried" in got["medications[2]"] and "HH:MM" in got["medications[2].time"]
    assert "critical is used" in got["crisisTriggers[0].severity"]
    assert "boundary notes" in got["boundaries.notes"]
    assert "HH:MM" in got["routines.sleepTime"]
    assert "brought within" in got["musicPreferences.maxSongsPerSession"]
    assert "rendering" in got["yamlConfig"]


def test_shape_b_the_seed_scripts() -> None:
    mapped = map_safety_config(SHAPE_B)
    assert mapped.shape == "B"
    assert mapped.safety == {
        "medications": [{"name": "Metformin", "dosage": "500 mg", "times": ["08:00"], "instructions": ""}],
        "neverAllow": [{"rule": "Never give medical advice", "reason": "Only the doctor"}],
        "forbiddenTopics": ["the war"],
        "crisisTriggers": [{"phrase": "I want to die", "severity": "critical", "action": ""}],
    }
    got = fields(mapped.notes)
    assert set(got) == {"redirectToFamily", "approvedActivities", "neverAllow[1].rule"}


@pytest.mark.parametrize(
    ("body", "shape"),
    [
        ({"type": "safety_config"}, "B"),
        ({"neverAllow": []}, "B"),
        ({"crisisTriggers": ["lost"]}, "B"),
        ({"crisisTriggers": [{"keyword": "lost"}]}, "A"),
        ({"patientBackground": {}}, "A"),
    ],
)
def test_which_shape(body: dict[str, Any], shape: str) -> None:
    assert shape_of(body) == shape


def test_the_newest_safety_config_wins_by_updated_created_id_or_ts() -> None:
    by_updated = {"id": "a", "updatedAt": "2026-01-02T00:00:00Z"}
    by_id = {"id": "config-u-1767398400000"}  # 2026-01-03
    by_ts = {"id": "b", "_ts": 1767225600}  # 2026-01-01
    chosen, older = newest([by_updated, by_ts, by_id])
    assert chosen is by_id and older == [by_updated, by_ts]
    assert written_at({"id": "x"}) == datetime.min.replace(tzinfo=UTC)


def test_limits_keep_the_first_and_say_so() -> None:
    body = {
        "id": "c",
        "emergencyContacts": [
            {"name": f"C{i}", "phone": f"050-123-456{i}", "relationship": "friend"} for i in range(5)
        ],
        "forbiddenTopics": [f"topic {i}" for i in range(20)],
    }
    mapped = map_safety_config(body)
    assert len(mapped.safety["emergencyContacts"]) == 3 and len(mapped.safety["forbiddenTopics"]) == 15
    assert set(fields(mapped.notes)) == {"emergencyContacts", "forbiddenTopics"}


def test_the_background_and_its_texts() -> None:
    mapped = map_safety_config(
        {
            "id": "c",
            "patientBackground": {
                "fullName": "T",
                "age": 200,
                "medicalCondition": "x" * 400,
                "hobbies": "knitting, chess",
                "importantMemories": "Haifa",
            },
        }
    )
    assert mapped.profile["background"] == {
        "condition": "x" * 300,
        "hobbies": ["knitting", "chess"],
        "lifeStory": "Haifa",
    }
    assert mapped.profile["personalInfo"] == {"fullName": "T"}
    assert set(fields(mapped.notes)) == {"patientBackground.age", "patientBackground.medicalCondition"}


# ---- music, memories ----------------------------------------------------------------------------------


def test_music_preferences_from_the_backend() -> None:
    music, notes = map_music(
        {
            "id": "music-pref-u",
            "userId": "u",
            "preferredSongs": ["Hallelujah"],
            "musicService": "spotify",
            "allowAutoPlay": "yes",
        }
    )
    assert music == {"preferredSongs": ["Hallelujah"]}
    assert set(fields(notes)) == {"musicService", "allowAutoPlay"}


@pytest.mark.parametrize(
    ("memory_type", "ours"),
    [
        ("family_info", "family"),
        ("medical_info", "health"),
        ("preferences", "preference"),
        ("routine", "routine"),
        ("personal_history", "life-story"),
        ("preference", "preference"),
        ("health", "health"),
    ],
)
def test_both_memory_enums(memory_type: str, ours: str) -> None:
    memory, notes = map_memory(
        {
            "id": "m1",
            "memoryType": memory_type,
            "key": "k",
            "value": "v",
            "importance": "low",
            "extractedAt": "2026-01-01T00:00:00Z",
        },
        fallback_time=NOW,
    )
    assert memory == {
        "id": "na-m1",
        "text": "k: v",
        "type": ours,
        "importance": 2,
        "source": "conversation",
        "createdAt": "2026-01-01T00:00:00+00:00",
    }
    assert notes == []


def test_a_memory_in_neither_enum_without_a_time_and_with_extras() -> None:
    memory, notes = map_memory(
        {
            "id": "m",
            "memoryType": "dream",
            "value": "Flying",
            "importance": "huge",
            "confidence": 0.95,
            "colour": "red",
        },
        fallback_time=NOW,
    )
    assert memory is not None
    assert (memory["type"], memory["importance"], memory["createdAt"], memory["text"]) == (
        "life-story",
        3,
        NOW.isoformat(),
        "Flying",
    )
    assert set(fields(notes)) == {"memoryType", "importance", "extractedAt", "confidence", "colour"}


def test_a_memory_without_words_is_not_carried() -> None:
    memory, notes = map_memory({"id": "m", "memoryType": "routine", "key": "k"}, fallback_time=NOW)
    assert memory is None and "not carried" in fields(notes)["value"]


def test_an_id_that_is_not_plain_becomes_a_digest() -> None:
    memory, _ = map_memory({"id": "a/b c" * 30, "value": "v"}, fallback_time=NOW)
    assert memory is not None and memory["id"].startswith("na-") and len(memory["id"]) == 35


# ---- reminders and incidents ------------------------------------------------------------------------


def reminder(status: str, hours_ago: float = 5, kind: str = "medication", **extra: Any) -> dict[str, Any]:
    return {
        "id": "r",
        "userId": "u",
        "type": kind,
        "status": status,
        "scheduledFor": (NOW - timedelta(hours=hours_ago)).isoformat(),
        "metadata": {"medicationName": "Aricept", "dosage": "5 mg"},
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("completed", "acknowledged"),
        ("acknowledged", "acknowledged"),
        ("missed", "missed"),
        ("declined", "missed"),
        ("triggered", "missed"),
        ("snoozed", "cancelled"),
        ("pending", "void"),
    ],
)
def test_every_reminder_state(status: str, state: str) -> None:
    record, _ = map_reminder(reminder(status), user_id="u", zone="Asia/Jerusalem", now=NOW)
    assert record is not None
    assert (record.state, record.kind, record.label, record.local_time) == (
        state,
        "medication",
        "Aricept 5 mg",
        "09:00",
    )


def test_the_same_dose_gets_the_id_the_schedule_gives_it() -> None:
    from companion.care.schedule import reminder_id

    record, _ = map_reminder(reminder("completed"), user_id="u", zone="Asia/Jerusalem", now=NOW)
    assert record is not None
    day = (NOW - timedelta(hours=5)).date()
    assert record.id == reminder_id("u", "medication", "Aricept 5 mg", day, "09:00", "Asia/Jerusalem")


def test_reminders_that_do_not_come_over() -> None:
    future, notes = map_reminder(reminder("pending", hours_ago=-3), user_id="u", zone="UTC", now=NOW)
    assert future is None and "still to come" in fields(notes)["scheduledFor"]
    appointment, notes = map_reminder(
        reminder("pending", kind="appointment"), user_id="u", zone="UTC", now=NOW
    )
    assert appointment is None and "appointments" in fields(notes)["type"]
    odd, notes = map_reminder(reminder("exploded"), user_id="u", zone="UTC", now=NOW)
    assert odd is None and "not carried" in fields(notes)["status"]


def test_a_check_in() -> None:
    record, _ = map_reminder(
        reminder("acknowledged", kind="daily_check_in"), user_id="u", zone="UTC", now=NOW
    )
    assert record is not None and (record.kind, record.label, record.local_time) == ("checkin", "", "07:00")


def test_a_safety_incident_open_and_one_resolved() -> None:
    body = {
        "id": "incident_1_x",
        "userId": "u",
        "type": "safety_incident",
        "timestamp": "2026-11-30T10:00:00Z",
        "conversationId": "c",
        "sessionId": "s",
        "severity": "high",
        "userRequest": "asked to go out",
        "safetyRuleViolated": "going out alone",
        "resolved": False,
    }
    alert, notes = map_incident(body, language="en", reminder_ids={}, now=NOW)
    assert alert == {
        "id": "na-incident_1_x",
        "createdAt": "2026-11-30T10:00:00+00:00",
        "importedAt": NOW.isoformat(),
        "resolved": False,
        "severity": "high",
        "summary": "asked to go out",
        "rule": "going out alone",
        "sessionId": "s",
    }
    assert set(fields(notes)) == {"conversationId"}
    resolved, _ = map_incident(
        body | {"resolved": True, "resolvedBy": "Dana"}, language="en", reminder_ids={}, now=NOW
    )
    assert resolved is not None
    assert (resolved["resolvedBy"], resolved["resolvedAt"], resolved["acknowledgedBy"]) == (
        "Dana",
        "2026-11-30T10:00:00+00:00",
        "Dana",
    )


def test_a_missed_dose_names_the_dose_and_links_its_reminder() -> None:
    body = {
        "id": "incident_2_y",
        "userId": "u",
        "type": "missed_medication",
        "timestamp": "2026-11-30T08:30:00Z",
        "details": {
            "reminderId": "r1",
            "medicationName": "Aricept",
            "dosage": "5 mg",
            "scheduledFor": "2026-11-30T08:00:00Z",
        },
    }
    alert, _ = map_incident(body, language="en", reminder_ids={"r1": "rem-ours"}, now=NOW)
    assert alert is not None
    assert (alert["severity"], alert["rule"], alert["reminderId"]) == ("medium", "reminder", "rem-ours")
    assert "Aricept 5 mg" in alert["summary"]
    lost, notes = map_incident(body, language="en", reminder_ids={}, now=NOW)
    assert (
        lost is not None
        and lost["reminderId"] is None
        and "did not come over" in fields(notes)["details.reminderId"]
    )


# ---- conversations, photos ----------------------------------------------------------------------------

CONVERSATION = {
    "id": "c1",
    "userId": "u",
    "type": "conversation",
    "startedAt": "2026-11-30T10:00:00Z",
    "turns": [
        {"role": "assistant", "timestamp": "2026-11-30T10:00:01Z", "transcript": "Hello"},
        {"role": "user", "timestamp": "2026-11-30T10:00:05Z", "transcript": "Hi"},
        {"role": "system", "timestamp": "2026-11-30T10:00:06Z", "transcript": "?"},
    ],
}


@pytest.mark.parametrize("records", ["none", "summary", "transcript"])
def test_a_conversation_under_each_records_setting(records: Any) -> None:
    mapped, notes = map_conversation(CONVERSATION, user_id="u", records=records, retention_days=90, now=NOW)
    assert mapped is not None
    record, turns = mapped
    assert (record.records, record.person_turns, record.companion_turns) == (records, 1, 1)
    assert record.ended_at == datetime(2026, 11, 30, 10, 0, 5, tzinfo=UTC)  # no endedAt: its last turn
    assert [t.text for t in turns] == (["Hello", "Hi"] if records == "transcript" else [])
    assert ("turns" in fields(notes)) is (records != "transcript")
    assert "turns[2].role" in fields(notes)


def test_a_conversation_older_than_the_retention_does_not_come() -> None:
    mapped, notes = map_conversation(
        CONVERSATION, user_id="u", records="summary", retention_days=7, now=NOW + timedelta(days=30)
    )
    assert mapped is None and "retention" in fields(notes)["startedAt"]


def test_photo_metadata() -> None:
    photo, notes = map_photo(
        {
            "id": "p1",
            "userId": "u",
            "blobUrl": "https://dash.example/api/photos/u/17-wedding%20day.jpg",
            "fileName": "wedding day.jpg",
            "manualTags": ["Sarah", "David"],
            "caption": "The wedding",
            "uploadedAt": "2026-01-01T00:00:00Z",
            "shownCount": 3,
        },
        user_id="u",
    )
    assert photo is not None
    assert (photo.blob_path, photo.people, photo.caption) == (
        "u/17-wedding day.jpg",
        ("Sarah", "David"),
        "The wedding",
    )
    assert (photo.when, photo.where) == ("", "")  # no day it was taken
    assert photo.id == photo_id("u", "u/17-wedding day.jpg") and photo.id.startswith("photo-")
    assert set(fields(notes)) == {"shownCount", "uploadedAt"}


@pytest.mark.parametrize(
    ("captured", "when", "noted"),
    [
        ("1987-06-01T00:00:00Z", "1987-06-01", False),  # set by someone: the day it was taken
        ("2026-01-01T09:30:00Z", "", True),  # the seed system's bulk write: the day of the upload
        (None, "", False),
    ],
)
def test_a_photo_is_from_the_day_it_was_taken_never_the_upload(
    captured: str | None, when: str, noted: bool
) -> None:
    body = {
        "id": "p1",
        "blobUrl": "/api/photos/u/17-a.jpg",
        "uploadedAt": "2026-01-01T00:00:00Z",
        "capturedDate": captured,
        "location": "x" * 100,
        "caption": "c" * 400,
        "triggerKeywords": ["beach"],
    }
    photo, notes = map_photo(body, user_id="u")
    assert photo is not None and photo.when == when
    assert ("capturedDate" in fields(notes)) is noted
    assert (len(photo.where), len(photo.caption)) == (80, 300)
    assert {"location", "caption", "triggerKeywords"} <= set(fields(notes))


def test_a_photo_without_a_file_is_not_carried() -> None:
    photo, notes = map_photo({"id": "p1", "caption": "c"}, user_id="u")
    assert photo is None and "blobUrl" in fields(notes)
