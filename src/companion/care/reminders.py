"""Reminders brought to the person and, when nobody confirms them, to the family.

The state of every occurrence lives in the store and changes only by guarded transitions, so this
service may run on several instances and restart at any moment: it holds no timers, only a clock.
``tick(now)`` (once a second, from the care loop) does three things in this order:

1. a snoozed reminder whose snooze ended is due again;
2. a due or delivered reminder nobody confirmed ``ack_timeout_s`` after it was wanted is missed, and the
   family is told through the alerts (the same outbox and channels; one winner, so one alert);
3. a due reminder is asked of the person's live conversation (``say``).

What the record says is what happened, never what was hoped:

- **asked**: ``say`` asks the conversation (wherever it runs) to say the reminder at its next quiet
  moment, and follows the model's response to that very request. While it is asked the record stays
  ``due``, and this instance holds it (the page does not take it, the tick does not ask twice).
- **said**: the response completed with audio, and the audio had time to play without the person
  cutting it off. Only then is it ``delivered`` (``delivered_via`` ``conversation``, ``delivered_at``
  that moment); a check-in so asked is ``acknowledged``.
- **not said**: interrupted (the person spoke over it), failed, no response in time, or no quiet
  moment came. It stays ``due``; the attempt is counted and it is asked again :data:`SAY_AGAIN`
  later, at most :data:`MAX_SAY_ATTEMPTS` times. Then the conversation is not asked again: the page's
  card is the fallback (the page shows it on its next poll, once the conversation ends), and the
  acknowledgement timeout still makes it missed and tells the family.
- **no conversation**: not an attempt; asked again :data:`SAY_RETRY` later, and meanwhile the page,
  when open, picks it up on its next poll (``for_page``): the page's poll is the proof it was shown.

The card's "talk to me" opens a conversation *for* a reminder: its greeting says the reminder in the
same response (``greeting_note``), and ``greeting_said`` records the outcome as above. A reminder said
in a conversation is not shown on the card again; one not said goes back to ``due`` and this path.

Attempts are counted in memory (they bound retries; a restart starts the count afresh). Each ``say``
runs in its own task (a conversation may be busy for a while): tracked, bounded in number, and
cancelled by ``close``. The person's language and time zone are read from their profile and kept a
few minutes; a profile save drops them and re-schedules today and tomorrow at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, Final

from companion.care.reminder_asking import GREETING_HOLD, MAX_SAY_ATTEMPTS, SAY_AGAIN, Saying
from companion.care.reminder_records import (
    AlertFn,
    Clock,
    ContextLoader,
    DayView,
    Person,
    ReminderStore,
    SayFn,
    TickReport,
    person_of,
)
from companion.care.reminder_tools import run_reminder_tool
from companion.care.reminder_words import missed_summary, say_note
from companion.care.schedule import day_bounds, local_date, since_known, window
from companion.errors import CompanionError, Conflict, InvalidInput, NotFound
from companion.events import ProfileChanged, RefreshCounts, SayOutcome
from companion.store.base import ReminderRecord, ReminderState

log = logging.getLogger(__name__)

SYNC_INTERVAL: Final = timedelta(hours=1)  # tomorrow is always scheduled well before it starts
PERSON_TTL: Final = timedelta(minutes=5)  # language and zone change rarely; a save drops them anyway
SAY_RETRY: Final = timedelta(seconds=5)  # after "no live conversation", ask again this much later
MAX_SAYING: Final = 200  # says in flight at once; more wait for the next tick
EARLY: Final = timedelta(hours=1)  # "I already took it" counts for a dose due within the next hour
RECENT: Final = timedelta(hours=12)  # how far back "the latest reminder" looks
MIN_SNOOZE_MINUTES: Final = 1
MAX_SNOOZE_MINUTES: Final = 240  # four hours: beyond that it is a different dose, not a snooze
ADHERENCE_DAYS: Final = 30
SCHEDULE_SECTIONS: Final = frozenset({"profile", "safety"})  # where times, zone and language live
_INSTANT: Final = timedelta(microseconds=1)  # makes a range's open end include its last instant
OPEN_STATES: Final[tuple[ReminderState, ...]] = ("due", "delivered", "snoozed")
# What the family's day shows: every occurrence but the void ones (never due, so never theirs to see)
SHOWN_STATES: Final[tuple[ReminderState, ...]] = (*OPEN_STATES, "acknowledged", "missed", "cancelled")


class ReminderService:
    def __init__(
        self,
        store: ReminderStore,
        load_context: ContextLoader,
        *,
        say: SayFn,
        alert: AlertFn,
        clock: Clock,
        ack_timeout_s: float,
        snooze_s: float,
        poll_s: float = 20.0,
    ) -> None:
        self._store = store
        self._load = load_context
        self._say = say
        self._alert = alert
        self._clock = clock
        self.ack_timeout = timedelta(seconds=ack_timeout_s)
        self.snooze_minutes = max(MIN_SNOOZE_MINUTES, round(snooze_s / 60))
        self.poll_s = poll_s  # how often the person's page asks (it is told in every answer)
        self._people: dict[str, tuple[datetime, Person]] = {}
        self._saying = Saying()
        self._synced_at: datetime | None = None

    # ---- the person --------------------------------------------------------------------------------

    async def person(self, user_id: str) -> Person:
        now = self._clock()
        cached = self._people.get(user_id)
        if cached is not None and now - cached[0] < PERSON_TTL:
            return cached[1]
        found = person_of(await self._load(user_id))
        self._people[user_id] = (now, found)
        return found

    def forget(self, user_id: str) -> None:
        """An erased person: their language and zone leave this process too (their rows are gone)."""
        self._people.pop(user_id, None)

    # ---- the schedule ------------------------------------------------------------------------------

    async def sync(self, user_id: str) -> tuple[int, int]:
        """Schedule today and tomorrow (the person's days) from the profile: ``(added, cancelled)``.

        Only doses due since their series (this medication at this time) was first known are written:
        a person's first sync, a new medication or a changed time asks for nothing already past. The
        series are recorded first, in their own transaction: a crash before the occurrences are
        written leaves them known, and the next sync writes what is owed since then."""
        now = self._clock()
        context = await self._load(user_id)
        found = person_of(context)
        self._people[user_id] = (now, found)
        if not found.zone.valid:
            log.warning("user %s has an unknown time zone; their reminders are scheduled in UTC", user_id)
        routine = context.profile.routine if context.profile is not None else None
        specs = window(user_id, context.safety, routine, found.zone.zone, now)
        known = await self._store.series_since(user_id, {s.series for s in specs}, now=now)
        records = [
            ReminderRecord(
                id=s.id,
                user_id=user_id,
                kind=s.kind,
                label=s.label,
                local_time=s.local_time,
                due_at=s.due_at,
                state="due",
                updated_at=now,
            )
            for s in since_known(specs, known)
        ]
        return await self._store.sync_reminders(user_id, records, now=now)

    async def sync_all(self) -> int:
        """Every person's schedule; one person's failure is logged and does not stop the others."""
        done = 0
        for user_id in await self._store.list_user_ids():
            try:
                await self.sync(user_id)
            except NotFound:
                continue  # documents of a user that is not registered: nobody to remind
            except CompanionError as exc:
                log.warning("reminders of user %s not scheduled: %s", user_id, exc.code)
                continue
            done += 1
        return done

    async def on_profile_changed(self, event: ProfileChanged) -> RefreshCounts:
        """The bus handler: a save of times, zone or language re-schedules at once."""
        if SCHEDULE_SECTIONS.intersection(event.sections):
            self._people.pop(event.user_id, None)
            try:
                await self.sync(event.user_id)
            except CompanionError as exc:
                log.warning("reminders of user %s not re-scheduled: %s", event.user_id, exc.code)
        return RefreshCounts()  # reminders are not live sessions: nothing to count

    # ---- the tick ----------------------------------------------------------------------------------

    async def tick(self, now: datetime) -> TickReport:
        report = TickReport()
        if self._synced_at is None or now - self._synced_at >= SYNC_INTERVAL:
            self._synced_at = now
            await self.sync_all()
        for woken in await self._store.list_due(now, states=("snoozed",)):
            if await self._store.transition(woken.user_id, woken.id, ("snoozed",), "due", at=now):
                report.woken += 1
        for overdue in await self._store.list_due(now - self.ack_timeout, states=("due", "delivered")):
            if not self._saying.busy(overdue.id, now) and await self._miss(overdue, now):
                report.missed += 1
        for due in await self._store.list_due(now, states=("due",)):
            if self._offer(due, now):
                report.offered += 1
        return report

    async def _miss(self, reminder: ReminderRecord, now: datetime) -> bool:
        states: tuple[ReminderState, ...] = ("due", "delivered")
        if not await self._store.transition(
            reminder.user_id, reminder.id, states, "missed", at=now, missed_at=now
        ):
            return False
        try:
            person = await self.person(reminder.user_id)
            summary = missed_summary(reminder.kind, reminder.label, reminder.local_time, person.language)
            body = {"severity": "medium", "summary": summary, "rule": "reminder", "reminderId": reminder.id}
            await self._alert(reminder.user_id, body)
        except Exception as exc:
            # Back to where it was, so the next tick tries again: a missed dose must reach the family.
            log.warning(
                "reminder %s of user %s missed, but the family could not be alerted (%s); will retry",
                reminder.id,
                reminder.user_id,
                type(exc).__name__,
            )
            await self._store.transition(
                reminder.user_id, reminder.id, ("missed",), reminder.state, at=now, missed_at=None
            )
            return False
        self._saying.forget(reminder.id)
        log.info("reminder %s of user %s missed; family alerted", reminder.id, reminder.user_id)
        return True

    def _offer(self, reminder: ReminderRecord, now: datetime) -> bool:
        saying = self._saying
        if saying.busy(reminder.id, now) or reminder.id in saying.given_up or len(saying.tasks) >= MAX_SAYING:
            return False
        if now < saying.not_before.get(reminder.id, now):
            return False
        task = asyncio.create_task(self._say_one(reminder), name=f"say-{reminder.id}")
        saying.tasks[reminder.id] = task
        task.add_done_callback(lambda done: self._said(reminder, done))
        return True

    async def _say_one(self, reminder: ReminderRecord) -> None:
        person = await self.person(reminder.user_id)
        note = say_note(reminder.id, reminder.kind, reminder.label, reminder.local_time, person.language)
        outcome = await self._say(reminder.user_id, note, reminder.id)
        await self._record_said(reminder, outcome, ("due",))

    async def _record_said(
        self, reminder: ReminderRecord, outcome: SayOutcome, states: tuple[ReminderState, ...]
    ) -> None:
        """What asking a conversation came to: ``delivered`` only if said; else counted and asked again
        later (or given up to the card). Only ids and the outcome are logged, never the medication."""
        at = self._clock()
        if outcome == "no_conversation":
            self._saying.not_before[reminder.id] = at + SAY_RETRY
            return
        if outcome != "said":
            count = self._saying.not_said(reminder.id, at)
            log.info(
                "reminder %s of user %s not said in the conversation (%s, attempt %d of %d)%s",
                reminder.id,
                reminder.user_id,
                outcome,
                count,
                MAX_SAY_ATTEMPTS,
                "; left to the page" if count >= MAX_SAY_ATTEMPTS else "",
            )
            return
        self._saying.forget(reminder.id)
        spoken = {"delivered_at": at, "delivered_via": "conversation"}
        if reminder.kind == "checkin":  # asked in a live conversation: the person is there, answering
            await self._store.transition(
                reminder.user_id, reminder.id, states, "acknowledged", at=at, acked_at=at, **spoken
            )
        else:
            await self._store.transition(reminder.user_id, reminder.id, states, "delivered", at=at, **spoken)
        log.info("reminder %s of user %s said in the conversation", reminder.id, reminder.user_id)

    def _said(self, reminder: ReminderRecord, task: asyncio.Task[None]) -> None:
        self._saying.tasks.pop(reminder.id, None)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.warning(
                "reminder %s of user %s could not be offered to the conversation: %s",
                reminder.id,
                reminder.user_id,
                type(exc).__name__,
            )

    async def drain(self) -> None:
        """Wait for the says in flight (tests, and a polite shutdown)."""
        while self._saying.tasks:
            await asyncio.gather(*self._saying.tasks.values(), return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._saying.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._saying.tasks.clear()

    # ---- the page ----------------------------------------------------------------------------------

    async def for_page(self, user_id: str) -> list[ReminderRecord]:
        """What the person's open page shows now: due reminders are delivered to it by this very poll;
        one already said in a conversation is not shown again (nor one a conversation is saying)."""
        now = self._clock()
        for waiting in await self._store.list_due(now, states=("due", "snoozed"), user_id=user_id):
            if self._saying.busy(waiting.id, now):
                continue  # a conversation is about to say it
            await self._store.transition(
                user_id,
                waiting.id,
                ("due", "snoozed"),
                "delivered",
                at=now,
                delivered_at=now,
                delivered_via="page",
            )
        shown = await self._store.list_due(now, states=("delivered",), user_id=user_id)
        return [r for r in shown if r.delivered_via != "conversation" and not self._saying.busy(r.id, now)]

    async def talk(self, user_id: str, reminder_id: str) -> ReminderRecord:
        """The page's "talk to me": a check-in is answered; a medication is left as it is, for the
        conversation the page opens for it says it in its greeting (``greeting_note``)."""
        reminder = await self._explicit(user_id, reminder_id)
        if reminder.kind == "checkin":
            return await self.acknowledge(user_id, reminder_id, via="page")
        return reminder

    async def greeting_note(self, user_id: str, reminder_id: str) -> str | None:
        """The note a conversation opened for this reminder says right after its greeting; None when
        it is not waiting (confirmed, missed, already said in a conversation) or is being said now.
        From here until ``greeting_said`` it is held: neither the tick nor the page takes it."""
        reminder = await self._store.get_reminder(user_id, reminder_id)
        waiting = reminder is not None and reminder.state in OPEN_STATES
        now = self._clock()
        if reminder is None or not waiting or self._saying.busy(reminder.id, now):
            return None
        if reminder.state == "delivered" and reminder.delivered_via == "conversation":
            return None
        self._saying.greeting[reminder.id] = now + GREETING_HOLD
        person = await self.person(user_id)
        return say_note(reminder.id, reminder.kind, reminder.label, reminder.local_time, person.language)

    async def greeting_said(self, user_id: str, reminder_id: str, outcome: SayOutcome) -> None:
        """How the greeting that carried the reminder went: said, it is delivered in the conversation;
        not said, it is due again (counted as an attempt), so the conversation is asked again."""
        self._saying.greeting.pop(reminder_id, None)
        reminder = await self._store.get_reminder(user_id, reminder_id)
        if reminder is None:
            return
        await self._record_said(reminder, outcome, OPEN_STATES)
        if outcome != "said":
            await self._store.transition(
                user_id,
                reminder_id,
                ("delivered", "snoozed"),
                "due",
                at=self._clock(),
                delivered_at=None,
                delivered_via=None,
                snoozed_until=None,
            )

    # ---- acknowledging and snoozing ----------------------------------------------------------------

    async def acknowledge(
        self, user_id: str, reminder_id: str | None, *, via: str, medication: str | None = None
    ) -> ReminderRecord:
        """Mark taken (or answered): the given reminder, else the one nearest now that is still open
        (or missed: a late dose is still worth recording). Already acknowledged: returned as it is."""
        now = self._clock()
        if reminder_id:
            reminder = await self._explicit(user_id, reminder_id)
        else:
            found = await self._nearest(
                user_id, now, ("due", "delivered", "snoozed", "missed"), medication, early=EARLY
            )
            if found is None:
                raise NotFound("No reminder is waiting to be confirmed", field="reminder_id")
            reminder = found
        if reminder.state == "acknowledged":
            return reminder
        states: tuple[ReminderState, ...] = ("due", "delivered", "snoozed", "missed")
        won = await self._store.transition(
            user_id, reminder.id, states, "acknowledged", at=now, acked_at=now, acked_via=via
        )
        after = await self._explicit(user_id, reminder.id)
        if won:
            self._saying.forget(reminder.id)
        if not won and after.state != "acknowledged":
            raise Conflict(f"This reminder is {after.state} and cannot be confirmed", field="reminder_id")
        return after

    async def snooze(self, user_id: str, reminder_id: str | None, minutes: Any = None) -> ReminderRecord:
        """Ask again in ``minutes`` (default: the service's snooze): the given or the latest open one."""
        minutes = self.snooze_minutes if minutes is None else minutes
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes != int(minutes):
            raise InvalidInput("minutes must be a whole number", field="minutes")
        if not MIN_SNOOZE_MINUTES <= minutes <= MAX_SNOOZE_MINUTES:
            raise InvalidInput(
                f"minutes must be between {MIN_SNOOZE_MINUTES} and {MAX_SNOOZE_MINUTES}", field="minutes"
            )
        now = self._clock()
        if reminder_id:
            reminder = await self._explicit(user_id, reminder_id)
        else:
            found = await self._nearest(user_id, now, OPEN_STATES, None, early=timedelta(0))
            if found is None:
                raise NotFound("No reminder is waiting to be snoozed", field="reminder_id")
            reminder = found
        until = now + timedelta(minutes=int(minutes))
        if not await self._store.transition(
            user_id, reminder.id, OPEN_STATES, "snoozed", at=now, snoozed_until=until
        ):
            raise Conflict(f"This reminder is {reminder.state} and cannot be snoozed", field="reminder_id")
        self._saying.forget(reminder.id)
        return await self._explicit(user_id, reminder.id)

    async def _explicit(self, user_id: str, reminder_id: str) -> ReminderRecord:
        reminder = await self._store.get_reminder(user_id, reminder_id)
        if reminder is None:
            raise NotFound(f"Reminder {reminder_id} not found", field="reminder_id")
        return reminder

    async def _nearest(
        self,
        user_id: str,
        now: datetime,
        states: tuple[ReminderState, ...],
        medication: str | None,
        *,
        early: timedelta,
    ) -> ReminderRecord | None:
        """The reminder in ``states`` nearest ``now`` (missed ones last; due no later than ``early``
        from now), a medication's when one is named."""
        found = await self._store.list_of_user(user_id, now - RECENT, now + early + _INSTANT, states=states)
        if medication:
            wanted = " ".join(medication.casefold().split())
            found = [
                r for r in found if r.kind == "medication" and wanted in " ".join(r.label.casefold().split())
            ]
        if not found:
            return None
        return min(found, key=lambda r: (r.state == "missed", abs((r.due_at - now).total_seconds())))

    async def run_tool(self, name: str, args: dict[str, Any], user_id: str) -> dict[str, Any]:
        """The model's ``medication_taken`` / ``snooze_reminder`` call, answered (never raises)."""
        return await run_reminder_tool(self, name, args, user_id)

    # ---- the family's view -------------------------------------------------------------------------

    async def day_view(self, user_id: str) -> DayView:
        now = self._clock()
        person = await self.person(user_id)
        zone = person.zone.zone
        today = local_date(now, zone)
        start, end = day_bounds(today, zone)
        since = today - timedelta(days=ADHERENCE_DAYS - 1)
        since_at, _ = day_bounds(since, zone)
        return DayView(
            day=today,
            zone=person.zone,
            reminders=await self._store.list_of_user(user_id, start, end, states=SHOWN_STATES),
            adherence=await self._store.adherence(user_id, since_at, min(end, now + timedelta(seconds=1))),
            since=since,
        )

    def local_time_of(self, moment: datetime, person: Person) -> str:
        return moment.astimezone(person.zone.zone).strftime("%H:%M")


__all__ = [
    "GREETING_HOLD",
    "MAX_SAY_ATTEMPTS",
    "SAY_AGAIN",
    "DayView",
    "Person",
    "ReminderService",
    "ReminderStore",
    "TickReport",
]
