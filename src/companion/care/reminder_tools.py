"""The model's reminder tools, ``medication_taken`` and ``snooze_reminder``, answered with the truth.

The answer tells the model exactly what was recorded, so it never thanks the person for a dose that
was not written down, and says when nothing was (no reminder waiting): then it must not claim it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from companion.errors import CompanionError, NotFound

if TYPE_CHECKING:
    from companion.care.reminders import ReminderService

REMINDER_TOOL_NAMES: Final = frozenset({"medication_taken", "snooze_reminder"})
NAME_ARG_MAX: Final = 80  # a medication's name as the model heard it


def _text(args: dict[str, Any], key: str) -> str | None:
    value = args.get(key)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:NAME_ARG_MAX]


async def run_reminder_tool(
    service: ReminderService, name: str, args: dict[str, Any], user_id: str
) -> dict[str, Any]:
    try:
        if name == "medication_taken":
            return await _taken(service, args, user_id)
        if name == "snooze_reminder":
            return await _snooze(service, args, user_id)
    except NotFound:
        return {
            "ok": False,
            "error": "no_reminder",
            "message": "No reminder is waiting, so nothing was recorded. Do not say that it was.",
        }
    except CompanionError as exc:
        return {"ok": False, "error": exc.code, "message": exc.message}
    return {"ok": False, "error": "unknown_tool", "message": f"No tool named {name}"}


async def _taken(service: ReminderService, args: dict[str, Any], user_id: str) -> dict[str, Any]:
    reminder = await service.acknowledge(
        user_id, _text(args, "reminder_id"), via="tool", medication=_text(args, "medication")
    )
    done = "answered the check-in" if reminder.kind == "checkin" else f"took {reminder.label}"
    return {
        "ok": True,
        "reminderId": reminder.id,
        "medication": reminder.label,
        "message": f"Recorded that the person {done}. Thank them briefly and go on.",
    }


async def _snooze(service: ReminderService, args: dict[str, Any], user_id: str) -> dict[str, Any]:
    reminder = await service.snooze(user_id, _text(args, "reminder_id"), args.get("minutes"))
    assert reminder.snoozed_until is not None
    person = await service.person(user_id)
    at = service.local_time_of(reminder.snoozed_until, person)
    return {
        "ok": True,
        "reminderId": reminder.id,
        "remindAt": at,
        "message": f"The person will be reminded again at {at}. Tell them so in a few words.",
    }
