"""Family members ticked as emergency contacts, kept on the contacts list: plain data, then the wizard."""

from __future__ import annotations

import re

from companion.dashboard.family_contacts import follow_family, follow_removal, missing_contacts
from tests.dashboard.conftest import DEMO_USER, Dash, form_fields

WIZARD = f"/dashboard/people/{DEMO_USER}/wizard"
DANA = {"name": "דנה", "relationship": "בת", "phone": "+972-50-111-2222", "isEmergencyContact": True}
DANA_CONTACT = {
    "name": "דנה",
    "relationship": "בת",
    "phone": "+972-50-111-2222",
    "email": None,
    "notifyFor": ["critical", "high", "medium"],
}


def test_ticking_adds_a_contact_once() -> None:
    unticked = DANA | {"isEmergencyContact": False}
    assert follow_family([unticked], [DANA], []) == [DANA_CONTACT]
    typed_before = {"name": "דנה לוי", "relationship": "בת", "phone": "050-111-2222", "email": "d@x.org"}
    assert follow_family([unticked], [DANA], [typed_before]) == [typed_before], "same phone: no duplicate"
    assert follow_family([DANA], [DANA], []) == [], "an unchanged row moves nothing"


def test_edits_follow_and_unticking_or_removing_takes_the_contact_away() -> None:
    kept = DANA_CONTACT | {"email": "d@example.com", "notifyFor": ["critical"]}
    other = {"name": "יוסי", "relationship": "בן", "phone": "+972-52-765-4321"}
    renamed = DANA | {"name": "דנה כהן", "phone": "+972-50-333-4444"}
    [moved, same] = follow_family([DANA], [renamed], [kept, other])
    assert moved == kept | {"name": "דנה כהן", "phone": "+972-50-333-4444"}, "e-mail and alerts stay"
    assert same == other
    assert follow_family([DANA], [DANA | {"isEmergencyContact": False}], [kept, other]) == [other]
    assert follow_removal(DANA, [kept, other]) == [other]
    assert follow_removal(DANA | {"isEmergencyContact": False}, [kept, other]) == [kept, other]


def test_a_ticked_member_without_a_contact_is_offered() -> None:
    no_phone = {"name": "רות", "relationship": "נכדה", "phone": None, "isEmergencyContact": True}
    members = [DANA, {"name": "יוסי", "isEmergencyContact": False}, no_phone]
    assert missing_contacts(members, [DANA_CONTACT]) == [(2, no_phone)]
    assert missing_contacts(members, [DANA_CONTACT, {"name": " רות ", "phone": "054-000-0000"}]) == []


def contact_names(html: str) -> list[str]:
    return re.findall(r'name="emergencyContacts\.\d+\.name" type="text" value="([^"]*)"', html)


async def test_a_family_member_ticked_in_step_3_is_on_the_contacts_step(dash: Dash) -> None:
    await dash.login()
    await dash.get(WIZARD)
    ticked = await dash.step(3, {"familyMembers.2.isEmergencyContact": "on"})  # יוסי, the son
    assert ticked.status_code == 303
    contacts = await dash.get(f"{WIZARD}/4")
    assert contact_names(contacts.text) == ["תפארת", "יוסי"]
    assert 'value="+972-52-765-4321"' in contacts.text, "his phone, not typed again"
    assert (await dash.step(3)).status_code == 303
    assert contact_names((await dash.get(f"{WIZARD}/4")).text) == ["תפארת", "יוסי"], "no duplicate"

    await dash.step(3, {"familyMembers.2.name": "יוסף", "familyMembers.2.phone": "052-765-0000"})
    contacts = await dash.get(f"{WIZARD}/4")
    assert contact_names(contacts.text) == ["תפארת", "יוסף"]
    assert 'value="+972-52-765-0000"' in contacts.text and "+972-52-765-4321" not in contacts.text

    # Removed on the contacts step: the family step is left alone and the contacts step offers him back.
    await dash.step(4, action="remove:emergencyContacts:1")
    offer = await dash.get(f"{WIZARD}/4")
    assert contact_names(offer.text) == ["תפארת"]
    assert "בני משפחה שסומנו כאיש קשר לחירום ואינם ברשימה:" in offer.text
    await dash.step(4, action="family:2")
    assert contact_names((await dash.get(f"{WIZARD}/4")).text) == ["תפארת", "יוסף"]

    done = await dash.step(10, action="submit")
    assert done.status_code == 303, done.text[-2000:]
    context = await dash.services.profiles.context(DEMO_USER)
    assert [(c.name, c.phone) for c in context.safety.emergency_contacts] == [
        ("תפארת", "+972-50-123-4567"),
        ("יוסף", "+972-52-765-0000"),
    ]


async def test_unticking_in_step_3_takes_the_contact_off_the_list(dash: Dash) -> None:
    await dash.login()
    await dash.get(WIZARD)
    page = await dash.get(f"{WIZARD}/3")
    fields = [(k, v) for k, v in form_fields(page.text) if k != "familyMembers.0.isEmergencyContact"]
    await dash.post(f"{WIZARD}/3", [*fields, ("action", "next")])
    assert contact_names((await dash.get(f"{WIZARD}/4")).text) == []
