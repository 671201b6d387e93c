"""What happened before: ``reminders`` -> the adherence history (one occurrence per dose or check-in,
in a final state), and ``safety-incidents`` -> alerts, resolved or open, never sent.

Reminders. Only occurrences whose time has passed come over (the schedule here makes the future ones
from the medications). The seed system's states map to ours:

- ``completed`` and ``acknowledged`` -> acknowledged;
- ``missed`` and ``declined`` (the person said no) -> missed;
- ``triggered`` (said, never answered: the seed system's check that marks it missed may not have run)
  -> missed;
- ``snoozed`` -> cancelled: the seed system made a new reminder ten minutes later, which carries the
  outcome, so the dose is counted once;
- ``pending`` (never said, never decided) -> void: it was never brought to the person, so it is not
  counted either way.

An occurrence's id is the one the schedule here would give it (the person, the medication and dosage,
the local day and time, the zone), so a day already in the history is not scheduled twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from companion.care.reminder_words import missed_summary
from companion.care.schedule import local_date, medication_label, reminder_id
from companion.importers.fields import Fields, NotCarried
from companion.importers.people import WRITTEN
from companion.importers.values import fit, moment, safe_id
from companion.profiles.models import MEDIUM_TEXT, Severity
from companion.store.base import ReminderRecord, ReminderState

STATES: Final[dict[str, ReminderState]] = {
    "completed": "acknowledged",
    "acknowledged": "acknowledged",
    "missed": "missed",
    "declined": "missed",
    "triggered": "missed",
    "snoozed": "cancelled",
    "pending": "void",
}
USED_TIMES: Final = ("triggeredAt", "completedAt", "acknowledgedAt", "missedAt", "declinedAt")
KINDS: Final = {"medication": "medication", "daily_check_in": "checkin"}


def map_reminder(
    body: dict[str, Any], *, user_id: str, zone: str, now: datetime
) -> tuple[ReminderRecord | None, list[NotCarried]]:
    doc = Fields.of("reminders", body)
    doc.get("id")
    doc.get("userId")
    kind = KINDS.get(doc.text("type"))
    due = moment(doc.get("scheduledFor"))
    status = doc.text("status")
    state = STATES.get(status)
    meta = doc.part("metadata")
    name = meta.text("medicationName")
    dosage = meta.text("dosage")
    meta.drop("specialInstructions", "the medication's instructions come from the safety-config document")
    meta.drop("isSnooze", "a snooze here is the same occurrence, later: the original is counted once")
    meta.rest("the seed system's own bookkeeping of the reminder")
    meta.finish()
    doc.drop_all(("declineCount", "snoozeCount"), "counts of the seed system's buttons: not kept here")
    doc.drop_all(("createdAt", "updatedAt"), WRITTEN)
    doc.drop("message", "the words are made here, in the person's language")
    times = {key: moment(doc.get(key)) for key in USED_TIMES if key in doc.body}
    others = [k for k in doc.body if k.endswith("At") and k not in (*USED_TIMES, "createdAt", "updatedAt")]
    doc.drop_all(others, "no place here for that time")
    if doc.text("type") == "appointment":
        doc.note("type", "appointments have no place here: only medications and check-ins are reminded")
        return None, doc.finish()
    if kind is None or due is None or state is None:
        reason = "type" if kind is None else "scheduledFor" if due is None else "status"
        doc.note(reason, "missing or not one the seed system uses: this reminder is not carried")
        return None, doc.finish()
    if due >= now:
        doc.note("scheduledFor", "still to come: the schedule here makes it from the medications")
        return None, doc.finish()
    label = ""
    if kind == "medication":
        if not name:
            doc.note("metadata.medicationName", "missing: a dose needs its medication; not carried")
            return None, doc.finish()
        label = fit(doc, "metadata.medicationName", medication_label(name, dosage) if dosage else name, 200)
    tz = ZoneInfo(zone)
    local = due.astimezone(tz)
    hhmm = f"{local.hour:02d}:{local.minute:02d}"
    record = ReminderRecord(
        id=reminder_id(user_id, kind, label, local_date(due, tz), hhmm, zone),  # type: ignore[arg-type]
        user_id=user_id,
        kind=kind,  # type: ignore[arg-type]
        label=label,
        local_time=hhmm,
        due_at=due,
        state=state,
        updated_at=now,
        delivered_at=times.get("triggeredAt") if state in ("acknowledged", "missed") else None,
        delivered_via="conversation"
        if state in ("acknowledged", "missed") and times.get("triggeredAt")
        else None,
        acked_at=(times.get("completedAt") or times.get("acknowledgedAt") or due)
        if state == "acknowledged"
        else None,
        missed_at=(times.get("missedAt") or times.get("declinedAt") or due) if state == "missed" else None,
    )
    return record, doc.finish()


def map_incident(
    body: dict[str, Any], *, language: str, reminder_ids: dict[str, str], now: datetime
) -> tuple[dict[str, Any] | None, list[NotCarried]]:
    """Our alert document (never sent, never escalated: ``importedAt`` says where it came from).

    ``safety_incident`` (the model's ``trigger_family_alert``): its severity, what was asked and which
    rule. ``missed_medication``: a medium alert naming the dose, linked to its imported occurrence when
    there is one (``reminder_ids``: the seed system's reminder id -> ours)."""
    doc = Fields.of("safety-incidents", body)
    doc.get("userId")
    source_id = doc.text("id")
    kind = doc.text("type")
    created = moment(doc.get("timestamp")) or moment(doc.get("createdAt"))
    doc.drop("createdAt", WRITTEN)
    if created is None:
        doc.note("timestamp", "missing or not a date: the import's time is used")
    alert: dict[str, Any] = {
        "id": safe_id(source_id or f"incident:{created}"),
        "createdAt": (created or now).isoformat(),
        "importedAt": now.isoformat(),
        "resolved": bool(doc.get("resolved", False)),
    }
    if kind == "missed_medication":
        doc.drop("severity", "a missed dose is a medium alert here, as the reminders' own are")
        details = doc.part("details")
        name = details.text("medicationName")
        dosage = details.text("dosage")
        label = medication_label(name, dosage) if name and dosage else name
        scheduled = moment(details.get("scheduledFor"))
        details.drop("missedAt", "the alert's time is when it was raised")
        source_reminder = details.text("reminderId")
        ours = reminder_ids.get(source_reminder)
        if source_reminder and ours is None:
            details.note("reminderId", "that reminder did not come over: the alert names the dose instead")
        details.finish()
        hhmm = scheduled.strftime("%H:%M") if scheduled else ""
        alert |= {
            "severity": Severity.MEDIUM.value,
            "summary": fit(
                doc, "details", missed_summary("medication", label or "?", hhmm, language), MEDIUM_TEXT
            ),
            "rule": "reminder",
            "reminderId": ours,
        }
    else:
        if kind and kind != "safety_incident":
            doc.note("type", "not a type the seed system writes: taken as a safety incident")
        severity = doc.text("severity").lower()
        if severity not in {s.value for s in Severity}:
            if severity:
                doc.note("severity", "not critical, high or medium: high is used")
            severity = Severity.HIGH.value
        summary = doc.text("userRequest") or doc.text("summary")
        if not summary:
            doc.note("userRequest", "missing: the alert says only that an incident was recorded")
            summary = "safety incident"
        alert |= {
            "severity": severity,
            "summary": fit(doc, "userRequest", summary, MEDIUM_TEXT),
            "rule": fit(doc, "safetyRuleViolated", doc.text("safetyRuleViolated"), MEDIUM_TEXT),
        }
    session = doc.text("sessionId")
    if session:
        alert["sessionId"] = session
    doc.drop("conversationId", "the seed system's conversation ids are not kept here")
    if alert["resolved"]:
        resolved_at = moment(doc.get("resolvedAt"))
        alert["resolvedAt"] = (resolved_at or created or now).isoformat()
        alert["resolvedBy"] = fit(doc, "resolvedBy", doc.text("resolvedBy") or "the seed system", 200)
        # resolving implies acknowledging, as it does here
        alert |= {"acknowledgedAt": alert["resolvedAt"], "acknowledgedBy": alert["resolvedBy"]}
    else:
        doc.drop_all(("resolvedAt", "resolvedBy"), "the incident is not resolved")
    return alert, doc.finish()
