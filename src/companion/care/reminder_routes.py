"""The elder's page and its reminders: ``GET /app/reminders`` and ``POST /app/reminders/{id}``.

The page asks every ``pollSeconds`` while no conversation is live; its asking is what delivers a due
reminder to it (the answer is the card it shows). The card's buttons post ``taken``, ``snooze`` or
``talk``. Both routes speak for the paired device in the cookie only, and the POST also needs a
same-origin ``Origin`` (as every state-changing request from the page does). The answers are small
and never cached: they name a medication.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from companion.api.headers import NO_STORE
from companion.care.reminder_words import card_words, sentence
from companion.care.reminders import ReminderService
from companion.elder.device_auth import DeviceIdentity, check_same_origin, require_device
from companion.elder.paths import APP
from companion.errors import NotFound
from companion.store.base import ReminderRecord

REMINDERS = APP + "/reminders"

router = APIRouter(tags=["elder"])


def reminder_service(request: Request) -> ReminderService:
    """The app's reminder service (a dependency, so a test may put its own in with a fake clock)."""
    service: ReminderService | None = request.app.state.services.reminders
    if service is None:
        raise NotFound("Reminders are not running on this service")
    return service


async def _same_origin(request: Request) -> None:
    check_same_origin(request)


ReminderDep = Annotated[ReminderService, Depends(reminder_service)]
DeviceDep = Annotated[DeviceIdentity, Depends(require_device)]


class ReminderAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["taken", "snooze", "talk"]


def _card(reminder: ReminderRecord, language: str) -> dict[str, Any]:
    return {
        "id": reminder.id,
        "kind": reminder.kind,
        "label": reminder.label,
        "time": reminder.local_time,
        "text": sentence(reminder.kind, reminder.label, language),
    }


def _state(reminder: ReminderRecord) -> dict[str, Any]:
    return {
        "id": reminder.id,
        "state": reminder.state,
        "snoozedUntil": reminder.snoozed_until.isoformat() if reminder.snoozed_until else None,
    }


@router.get(REMINDERS)
async def due_reminders(service: ReminderDep, device: DeviceDep) -> JSONResponse:
    """The reminders to show now, oldest first, and the card's words in the person's language."""
    person = await service.person(device.user_id)
    shown = await service.for_page(device.user_id)
    return JSONResponse(
        {
            "reminders": [_card(r, person.language) for r in shown],
            "pollSeconds": service.poll_s,
            "lang": person.language,
            "words": card_words(person.language, service.snooze_minutes),
        },
        headers=NO_STORE,
    )


@router.post(REMINDERS + "/{reminder_id}", dependencies=[Depends(_same_origin)])
async def act_on_reminder(
    reminder_id: str, body: ReminderAction, service: ReminderDep, device: DeviceDep
) -> JSONResponse:
    """A card's button: taken (acknowledged), snooze (the service's delay), talk (the conversation the
    page opens for it, ``?reminder=<id>``, says it in its greeting; a check-in counts as answered)."""
    user_id = device.user_id
    if body.action == "taken":
        reminder = await service.acknowledge(user_id, reminder_id, via="page")
    elif body.action == "snooze":
        reminder = await service.snooze(user_id, reminder_id)
    else:
        reminder = await service.talk(user_id, reminder_id)
    return JSONResponse(_state(reminder), headers=NO_STORE)


__all__ = ["REMINDERS", "ReminderDep", "reminder_service", "router"]
