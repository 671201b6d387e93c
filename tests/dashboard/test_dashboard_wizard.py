"""The profile wizard over HTTP: per-step validation, tidying, drafts, saving, conflicts."""

from __future__ import annotations

import re
import zoneinfo

import httpx

from companion.dashboard.wizard import merge
from companion.profiles.models import MemorySource
from tests.dashboard.conftest import DEMO_USER, Dash

WIZARD = f"/dashboard/people/{DEMO_USER}/wizard"
NAOMI = "נעמי שמר"
ARIK = "אריק איינשטיין"


def field_error(page: httpx.Response, field: str) -> str:
    match = re.search(rf'<p class="error" id="e-{re.escape(field)}">([^<]*)</p>', page.text)
    assert match, f"no error shown next to {field}"
    return match[1]


async def music(dash: Dash) -> dict[str, object]:
    state = await dash.services.profiles.get_section(DEMO_USER, "music")
    assert state.data is not None
    data: dict[str, object] = state.data.model_dump(mode="json", by_alias=True)
    return data | {"version": state.version}


async def open_wizard(dash: Dash) -> None:
    await dash.login()
    start = await dash.get(WIZARD)
    assert start.status_code == 303
    assert start.headers["location"] == f"{WIZARD}/1"


async def test_the_wizard_opens_filled_in_with_a_step_indicator(dash: Dash) -> None:
    await open_wizard(dash)
    first = await dash.get(f"{WIZARD}/1")
    assert 'value="משה לוי"' in first.text
    assert "שלב 1 מתוך 11" in first.text
    assert first.text.count('aria-current="step"') == 1
    assert '<label for="f-personalInfo-fullName">' in first.text
    music_step = await dash.get(f"{WIZARD}/9")
    assert f'aria-label="הסר {NAOMI}"' in music_step.text
    review = await dash.get(f"{WIZARD}/11")
    assert "שלח והשלם" in review.text


async def test_a_bad_phone_is_reported_next_to_its_field_in_hebrew(dash: Dash) -> None:
    await open_wizard(dash)
    page = await dash.step(3, {"familyMembers.0.phone": "12345"})
    assert page.status_code == 422
    assert "יש לתקן את השדות הבאים:" in page.text
    assert field_error(page, "familyMembers-0-phone") == "מספר טלפון לא תקין. לדוגמה: 050-123-4567"
    assert 'aria-invalid="true"' in page.text
    assert "שלב 3 מתוך 11" in page.text, "the caregiver stays on the step"


async def test_bad_times_are_reported_and_loose_ones_tidied(dash: Dash) -> None:
    await open_wizard(dash)
    page = await dash.step(6, {"routine.wake": "25:00", "routine.lunch": "7.30"})
    assert page.status_code == 422
    assert field_error(page, "routine-wake") == "שעה לא תקינה. יש לכתוב HH:MM, לדוגמה 08:30"
    assert 'value="07:30"' in page.text
    meds = await dash.step(5, {"medications.0.times": "8:00, 2000"})
    assert meds.status_code == 422
    assert "HH:MM" in field_error(meds, "medications-0-times")
    ok = await dash.step(5, {"medications.0.times": "8:00 20:00"})
    assert ok.status_code == 303
    assert 'value="08:00, 20:00"' in (await dash.get(f"{WIZARD}/5")).text


async def test_phone_numbers_are_normalised_as_they_are_entered(dash: Dash) -> None:
    await open_wizard(dash)
    moved = await dash.step(4, {"emergencyContacts.0.phone": "052 123 4567"})
    assert moved.status_code == 303
    assert moved.headers["location"] == f"{WIZARD}/5"
    again = await dash.get(f"{WIZARD}/4")
    assert 'value="+972-52-123-4567"' in again.text


async def test_required_fields_and_english_messages(dash: Dash) -> None:
    await open_wizard(dash)
    page = await dash.step(1, {"personalInfo.fullName": ""})
    assert field_error(page, "personalInfo-fullName") == "שדה חובה."
    await dash.client.get("/dashboard/lang/en")
    page = await dash.step(3, {"familyMembers.0.phone": "abc"})
    assert field_error(page, "familyMembers-0-phone") == "Not a valid phone number. Example: 050-123-4567"
    assert '<html lang="en" dir="ltr">' in page.text
    future = await dash.step(1, {"personalInfo.fullName": "Moshe", "personalInfo.dateOfBirth": "2999-01-01"})
    assert field_error(future, "personalInfo-dateOfBirth") == "The date of birth cannot be in the future."
    zone = await dash.step(1, {"personalInfo.timezone": "Mars/Olympus"})
    assert "Unknown time zone" in field_error(zone, "personalInfo-timezone")


async def test_a_memory_too_long_is_refused_next_to_its_field(dash: Dash) -> None:
    await open_wizard(dash)
    page = await dash.step(8, {"memory.text": "א" * 2001}, action="add:memories")
    assert page.status_code == 422
    assert field_error(page, "memory-text") == "ארוך מדי (עד 2000 תווים)."


async def test_back_keeps_what_was_typed_without_validating(dash: Dash) -> None:
    await open_wizard(dash)
    back = await dash.step(3, {"familyMembers.0.phone": "12345"}, action="back")
    assert back.status_code == 303
    assert back.headers["location"] == f"{WIZARD}/2"
    assert 'value="12345"' in (await dash.get(f"{WIZARD}/3")).text
    submit = await dash.step(10, action="submit")
    assert submit.status_code == 422, "submit validates every step and shows the first bad one"
    assert "שלב 3 מתוך 11" in submit.text
    assert "לפני השליחה יש לתקן את השלב הזה." in submit.text


async def test_walking_through_without_changes_saves_nothing(dash: Dash) -> None:
    await open_wizard(dash)
    before = await music(dash)
    for number in range(1, 10):
        response = await dash.step(number)
        assert response.status_code == 303, (number, response.text[-2000:])
    assert "לא שיניתם דבר." in (await dash.get(f"{WIZARD}/11")).text
    done = await dash.step(10, action="submit")
    assert done.headers["location"] == f"/dashboard/people/{DEMO_USER}/saved"
    assert "לא היו שינויים לשמור." in (await dash.get(done.headers["location"])).text
    assert (await music(dash))["version"] == before["version"]


async def test_chips_rows_presets_and_memories_are_saved_on_submit(dash: Dash) -> None:
    await open_wizard(dash)
    await dash.step(9, action=f"remove:preferredArtists:{0}")
    await dash.step(9, {"new.preferredGenres": "חזנות"}, action="add:preferredGenres")
    await dash.step(7, action="preset:נפלתי")
    await dash.step(3, action="add:familyMembers")
    row = await dash.step(3, {"familyMembers.3.name": "נועה", "familyMembers.3.relationship": "נכדה"})
    assert row.status_code == 303
    await dash.step(
        8, {"memory.text": "אוהב קפה שחור בבוקר", "memory.type": "preference"}, action="add:memories"
    )
    await dash.step(8, action="remove:memories:0")
    review = await dash.get(f"{WIZARD}/11")
    assert NAOMI in review.text
    assert "חזנות" in review.text
    assert "נפלתי" in review.text
    assert "אוהב קפה שחור בבוקר" in review.text
    done = await dash.step(10, action="submit")
    saved = await dash.get(done.headers["location"])
    assert "פרופיל נשמר בהצלחה! השינויים יחולו בשיחה הבאה." in saved.text
    stored = await music(dash)
    assert stored["preferredArtists"] == [ARIK]
    assert stored["preferredGenres"] == ["שירי ארץ ישראל", "חזנות"]
    context = await dash.services.profiles.context(DEMO_USER)
    assert any(t.phrase == "נפלתי" for t in context.safety.crisis_triggers)
    assert context.profile is not None
    assert context.profile.family_members[-1].name == "נועה"
    texts = [m.text for m in context.memories]
    assert "אוהב קפה שחור בבוקר" in texts
    assert "אוהב לספר על הטיול לגליל עם רחל ב-1975" not in texts


async def test_a_conflict_shows_their_change_and_reload_takes_theirs(dash: Dash) -> None:
    await open_wizard(dash)
    await dash.step(9, action="remove:preferredArtists:0")
    current = await music(dash)
    body = {k: v for k, v in current.items() if k != "version"} | {"maxSongsPerSession": 5}
    version = current["version"]
    assert isinstance(version, int)
    await dash.services.profiles.save_section(DEMO_USER, "music", body, if_match=version)
    submitted = await dash.step(10, action="submit")
    assert submitted.headers["location"] == f"/dashboard/people/{DEMO_USER}/conflict"
    conflict = await dash.get(submitted.headers["location"])
    assert "מישהו אחר שמר בינתיים" in conflict.text
    assert "מספר שירים לשיחה" in conflict.text, "their change is named"
    assert (await music(dash))["preferredArtists"] == [NAOMI, ARIK], "nothing overwritten"
    reloaded = await dash.post(f"/dashboard/people/{DEMO_USER}/conflict", {"action": "reload:music"})
    assert reloaded.headers["location"] == f"{WIZARD}/11"
    review = await dash.get(f"{WIZARD}/11")
    assert "נטענה הגרסה העדכנית" in review.text
    assert "לא שיניתם דבר." in review.text
    assert (await music(dash))["maxSongsPerSession"] == 5


async def test_a_new_person_gets_every_section(dash: Dash) -> None:
    await dash.login()
    await dash.post("/dashboard/people", {"user_id": "user-rivka-002"})
    wizard = "/dashboard/people/user-rivka-002/wizard"
    await dash.get(wizard)
    empty = await dash.step(1, user="user-rivka-002")
    assert empty.status_code == 422
    assert field_error(empty, "personalInfo-fullName") == "שדה חובה."
    assert field_error(empty, "personalInfo-timezone") == "שדה חובה.", "no zone is assumed for a new person"
    filled = {
        "personalInfo.fullName": "רבקה כהן",
        "personalInfo.gender": "female",
        "personalInfo.age": "88",
        "personalInfo.timezone": "Asia/Jerusalem",
    }
    assert (await dash.step(1, filled, user="user-rivka-002")).status_code == 303
    done = await dash.step(10, action="submit", user="user-rivka-002")
    assert done.status_code == 303
    assert "פרופיל נשמר בהצלחה!" in (await dash.get(done.headers["location"])).text
    states, _ = await dash.services.profiles.all_sections("user-rivka-002")
    assert all(s.version == 1 for s in states)


async def test_alerts_newest_first_and_resolved(dash: Dash) -> None:
    alerts = dash.services.alerts
    await alerts.record(DEMO_USER, {"severity": "high", "summary": "ישן מאוחר"}, session_id=None)
    newest, _ = await alerts.record(
        DEMO_USER, {"severity": "critical", "summary": "נפל במטבח"}, session_id=None
    )
    await dash.login()
    page = await dash.get(f"/dashboard/people/{DEMO_USER}/alerts")
    assert page.text.index("נפל במטבח") < page.text.index("ישן מאוחר")
    resolved = await dash.post(f"/dashboard/people/{DEMO_USER}/alerts/{newest.id}/resolve", {})
    assert resolved.status_code == 303
    assert (await alerts.list(DEMO_USER))[0].resolved


async def test_what_the_ai_is_told_is_shown_escaped(dash: Dash) -> None:
    await dash.services.profiles.add_memory(DEMO_USER, {"text": "<b>אוהב</b> תה"})
    await dash.login()
    page = await dash.get(f"/dashboard/people/{DEMO_USER}/instructions")
    assert page.status_code == 200
    assert "משה" in page.text
    assert "<b>אוהב</b>" not in page.text
    assert "&lt;b&gt;אוהב&lt;/b&gt; תה" in page.text


def test_reapplying_merges_my_changes_onto_theirs() -> None:
    base = {"artists": ["a", "b"], "max": 3, "auto": False}
    mine = {"artists": ["b"], "max": 3, "auto": True}
    theirs = {"artists": ["a", "b", "c"], "max": 5, "auto": False}
    assert merge(base, mine, theirs) == {"artists": ["b", "c"], "max": 5, "auto": True}


async def test_contacts_email_who_hears_what_escalation_and_checkins_are_saved(dash: Dash) -> None:
    await open_wizard(dash)
    contacts = await dash.step(
        4,
        {
            "emergencyContacts.0.email": " dana@example.com ",
            "emergencyContacts.0.notifyFor": "critical",
            "escalationMinutes": "5",
        },
    )
    assert contacts.status_code == 303
    bad = await dash.step(4, {"emergencyContacts.0.email": "dana at example"})
    assert bad.status_code == 422
    assert "e-mail" in field_error(bad, "emergencyContacts-0-email") or "דוא" in field_error(
        bad, "emergencyContacts-0-email"
    )
    await dash.step(4, {"emergencyContacts.0.email": "dana@example.com"})
    routine = await dash.step(6, {"routine.checkins": "11:00, 5.30"})
    assert routine.status_code == 303
    done = await dash.step(10, action="submit")
    assert done.status_code == 303
    context = await dash.services.profiles.context(DEMO_USER)
    first = context.safety.emergency_contacts[0]
    assert first.email == "dana@example.com"
    assert [s.value for s in first.notify_for] == ["critical"]
    assert context.safety.escalation_minutes == 5
    assert context.profile is not None and context.profile.routine.checkins == ["11:00", "05:30"]


async def test_memories_learned_in_conversation_are_marked_and_the_family_can_keep_or_remove_them(
    dash: Dash,
) -> None:
    learned, _ = await dash.services.profiles.add_memory(
        DEMO_USER, {"text": "הנכדה נועה מתחתנת באביב"}, source=MemorySource.CONVERSATION
    )
    doubtful, _ = await dash.services.profiles.add_memory(
        DEMO_USER, {"text": "גר פעם בירח"}, source=MemorySource.CONVERSATION
    )
    await open_wizard(dash)
    page = await dash.get(f"{WIZARD}/8")
    assert page.text.count("נלמד בשיחה") == 2  # the family's own memories carry no such mark
    texts = [m.text for m in await dash.services.profiles.list_memories(DEMO_USER)]
    index = {text: i for i, text in enumerate(texts)}
    await dash.step(8, action=f"confirm:memories:{index[learned.text]}")
    await dash.step(8, action=f"remove:memories:{index[doubtful.text]}")
    page = await dash.get(f"{WIZARD}/8")
    assert "נשמר על ידי המשפחה" in page.text and "גר פעם בירח" not in page.text
    done = await dash.step(10, action="submit")
    assert done.status_code == 303
    stored = {m.text: m for m in await dash.services.profiles.list_memories(DEMO_USER)}
    assert stored[learned.text].confirmed_at is not None
    assert stored[learned.text].source is MemorySource.CONVERSATION  # where it came from is kept
    assert doubtful.text not in stored


async def test_next_without_a_change_leaves_no_unsent_edit_to_continue(dash: Dash) -> None:
    continue_edit = "המשך את העריכה שלא נשלחה"
    person = f"/dashboard/people/{DEMO_USER}"
    await open_wizard(dash)
    for number in (1, 2, 3, 4):
        assert (await dash.step(number)).status_code == 303
    page = await dash.get(person)
    assert page.status_code == 200
    assert "עריכת הפרופיל" in page.text
    assert continue_edit not in page.text, "a draft identical to the saved profile is no draft"
    await dash.step(9, {"maxSongsPerSession": "5"})
    assert continue_edit in (await dash.get(person)).text, "a real change is offered to continue"
    await dash.step(9, {"maxSongsPerSession": "3"})
    assert continue_edit not in (await dash.get(person)).text, "changed back: nothing left to send"
    await dash.step(8, {"memory.text": "אוהב תה עם נענע"}, action="add:memories")
    assert continue_edit in (await dash.get(person)).text, "a memory waiting to be saved is a change"


async def test_a_new_persons_untouched_wizard_is_no_draft(dash: Dash) -> None:
    await dash.login()
    await dash.post("/dashboard/people", {"user_id": "user-rivka-002"})
    await dash.get("/dashboard/people/user-rivka-002/wizard")
    assert (await dash.step(1, user="user-rivka-002")).status_code == 422  # nothing typed yet
    page = await dash.get("/dashboard/people/user-rivka-002")
    assert "עריכת הפרופיל" in page.text
    assert "המשך את העריכה שלא נשלחה" not in page.text
    await dash.step(1, {"personalInfo.fullName": "רבקה כהן"}, user="user-rivka-002")
    assert "המשך את העריכה שלא נשלחה" in (await dash.get("/dashboard/people/user-rivka-002")).text


async def test_the_time_zone_is_chosen_from_every_known_zone_and_checked(dash: Dash) -> None:
    await open_wizard(dash)
    page = await dash.get(f"{WIZARD}/1")
    listed = re.search(r'<datalist id="timezones">(.*?)</datalist>', page.text, re.S)
    assert listed, "the time zone field has a list to search"
    assert re.findall(r'<option value="([^"]+)">', listed[1]) == sorted(zoneinfo.available_timezones())
    assert 'list="timezones"' in page.text and 'value="Asia/Jerusalem"' in page.text
    unknown = await dash.step(1, {"personalInfo.timezone": "Asia/Jerusalm"})
    assert unknown.status_code == 422
    unknown_zone = "אזור זמן לא מוכר. בחרו אחד מהרשימה, למשל Asia/Jerusalem."
    assert field_error(unknown, "personalInfo-timezone") == unknown_zone
    empty = await dash.step(1, {"personalInfo.timezone": ""})
    assert field_error(empty, "personalInfo-timezone") == "שדה חובה."
    loose = await dash.step(1, {"personalInfo.timezone": " america/new york "})
    assert loose.status_code == 303, "typed loosely, the zone is found and spelled as the list spells it"
    assert 'value="America/New_York"' in (await dash.get(f"{WIZARD}/1")).text
    await dash.step(10, action="submit")
    context = await dash.services.profiles.context(DEMO_USER)
    assert context.profile is not None and context.profile.personal_info.timezone == "America/New_York"


async def test_the_companions_gender_and_voice_are_chosen_in_the_first_step_and_saved(dash: Dash) -> None:
    await open_wizard(dash)
    first = await dash.get(f"{WIZARD}/1")
    assert "בעברית המלווה מדבר על עצמו בלשון נקבה או בלשון זכר" in first.text  # the plain explanation
    assert re.search(r'name="companion\.gender" value="female" checked', first.text)  # the default
    assert re.search(r'<option value="" selected>אוטומטי', first.text)
    assert '<option value="ash" >Ash (קול גברי)</option>' in first.text
    mismatch = await dash.step(1, {"companion.gender": "male", "companion.voice": "shimmer"})
    assert mismatch.status_code == 422
    assert field_error(mismatch, "companion-voice").startswith("הקול הזה לא מתאים ללשון שנבחרה.")
    moved = await dash.step(1, {"companion.gender": "male", "companion.voice": "ash"})
    assert moved.status_code == 303
    review = await dash.get(f"{WIZARD}/11")
    assert "המלווה › מגדר" in review.text and "המלווה › קול" in review.text
    done = await dash.step(10, action="submit")
    assert done.status_code == 303
    state = await dash.services.profiles.get_section(DEMO_USER, "profile")
    assert state.data is not None
    assert state.data.model_dump(mode="json", by_alias=True)["companion"] == {
        "gender": "male",
        "voice": "ash",
    }
    automatic = await dash.step(1, {"companion.gender": "female", "companion.voice": ""})
    assert automatic.status_code == 303
    assert (await dash.step(10, action="submit")).status_code == 303
    state = await dash.services.profiles.get_section(DEMO_USER, "profile")
    assert state.data is not None and state.data.model_dump(mode="json", by_alias=True)["companion"] == {
        "gender": "female",
        "voice": None,
    }
