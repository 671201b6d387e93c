"""Family members ticked "emergency contact" (step 3) on the emergency contacts list (step 4).

The profile keeps the two lists apart (``profile.familyMembers`` says who the person's family is, and
``safety.emergencyContacts`` whom to call, in order, with e-mail and which alerts), but a caregiver who
ticks a family member as an emergency contact means the same person. So the wizard keeps them in step:

- ticking a member in the family step adds them to the contacts (name, relationship, phone), unless a
  contact already names them (same phone, or same name): never a duplicate;
- editing a ticked member's name, relationship or phone there changes their contact too;
- unticking them, or removing them from the family, removes their contact;
- the contacts step offers "add from the family" for a ticked member not on the list (a profile saved
  before, or a contact removed there), and the family step is never changed by the contacts step.

Only a change made in the family step moves a contact: walking past it unchanged changes nothing, and
what was typed in the contacts step (e-mail, order, which alerts) stays. Pure functions over the draft's
JSON lists, tested with plain data.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
ALL_SEVERITIES = ("critical", "high", "medium")  # a new contact hears of every alert, as the model's default


def _digits(phone: Any) -> str:
    return "".join(c for c in str(phone or "") if c.isdigit()).removeprefix("972").lstrip("0")


def _name(value: Any) -> str:
    return " ".join(str(value or "").split()).casefold()


def names_same_person(contact: JSON, member: JSON) -> bool:
    """A contact is a family member's when their phone numbers match, or (either has none) their names."""
    phone, theirs = _digits(member.get("phone")), _digits(contact.get("phone"))
    if phone and theirs:
        return phone == theirs
    return bool(_name(member.get("name"))) and _name(member.get("name")) == _name(contact.get("name"))


def _find(contacts: list[JSON], member: JSON) -> JSON | None:
    return next((c for c in contacts if names_same_person(c, member)), None)


def _ticked(member: JSON | None) -> bool:
    return bool(member and member.get("isEmergencyContact"))


def contact_from(member: JSON) -> JSON:
    return {
        "name": member.get("name") or "",
        "relationship": member.get("relationship") or "",
        "phone": member.get("phone") or "",
        "email": None,
        "notifyFor": list(ALL_SEVERITIES),
    }


def _copy_into(contact: JSON, member: JSON) -> None:
    contact["name"] = member.get("name") or ""
    contact["relationship"] = member.get("relationship") or ""
    if member.get("phone"):
        contact["phone"] = member["phone"]


def follow_family(before: list[JSON], after: list[JSON], contacts: list[JSON]) -> list[JSON]:
    """The contacts once the family step went from ``before`` to ``after`` (the same rows, by index)."""
    contacts = [dict(c) for c in contacts]
    for index, member in enumerate(after):
        old = before[index] if index < len(before) else None
        if old == member:
            continue
        if _ticked(old):
            assert old is not None
            linked = _find(contacts, old)
            if not _ticked(member):
                if linked is not None:
                    contacts.remove(linked)
            elif linked is not None:
                _copy_into(linked, member)
            elif _find(contacts, member) is None:
                contacts.append(contact_from(member))
        elif _ticked(member) and _find(contacts, member) is None:
            contacts.append(contact_from(member))
    return contacts


def follow_removal(member: JSON, contacts: list[JSON]) -> list[JSON]:
    """The contacts once ``member`` left the family list: a ticked member's contact goes with them."""
    linked = _find(contacts, member) if _ticked(member) else None
    return [c for c in contacts if c is not linked]


def missing_contacts(members: list[JSON], contacts: list[JSON]) -> list[tuple[int, JSON]]:
    """(index, member) of each ticked family member whom no contact names."""
    return [(i, m) for i, m in enumerate(members) if _ticked(m) and _find(contacts, m) is None]
