"""A live session's speaking on request: the greeting that opens a conversation (with a reminder in it
when the page opened the conversation for one) and a note said at the next quiet moment, each followed
to its response's end so that the caller learns whether it was said (see
:mod:`~companion.realtime.saying`). A mixin of :class:`~companion.realtime.session.LiveSession`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from companion.errors import SessionNotActive, UpstreamLost
from companion.events import SayOutcome
from companion.profiles.models import CareContext
from companion.realtime import protocol
from companion.realtime.greeting import greeting_message
from companion.realtime.links import UpstreamLink
from companion.realtime.records import ENDED, Status
from companion.realtime.saying import PLAY_WITHIN_S, RESPONSE_WITHIN_S, GreetingNotes, SayRequests
from companion.realtime.switching import Switching

log = logging.getLogger(__name__)

SAY_WITHIN_S: Final = 120.0  # a reminder waits this long for a quiet moment, then the page is tried
SAY_POLL_S: Final = 0.2  # how often it looks for one, and for its answer's end


class Speaking(Switching):
    """The speaking half of a live session (a mixin: one object)."""

    greet_reminder: str | None
    _notes: GreetingNotes | None
    _asks: SayRequests
    _saying_now: dict[str, asyncio.Future[SayOutcome]]  # instructions being said -> their outcome

    if TYPE_CHECKING:  # provided by LiveSession

        async def send_upstream(self, event: dict[str, object]) -> None: ...

    async def _greet(self, context: CareContext) -> None:
        """Ask the model to speak first, with the person's local time to greet by; when the page opened
        the conversation for a reminder, the same response says it (one greeting, then the reminder),
        and the reminder's owner hears whether that response was said."""
        note = await self._greeting_note()
        item = greeting_message(context, datetime.now(UTC), note=note)
        key, event_id, named = self._asks.new()
        create = protocol.response_create(event_id, response=named if note is not None else None)
        link = self.link
        try:
            await self.send_upstream(
                protocol.conversation_item_create(item, event_id=protocol.new_event_id())
            )
            await self.send_upstream(create)
        except (UpstreamLost, SessionNotActive):
            link = None
        if note is None:
            self._asks.drop(key)
            return
        self.spawn(self._report_greeting(key, link), "greeting-reminder")

    async def _greeting_note(self) -> str | None:
        if self.greet_reminder is None or self._notes is None:
            return None
        try:
            return await self._notes.greeting_note(self.user_id, self.greet_reminder)
        except Exception as exc:  # the greeting goes on without it; the reminder keeps its own path
            log.warning("session %s: no reminder for the greeting (%s)", self.id, type(exc).__name__)
            return None

    async def _report_greeting(self, key: str, link: UpstreamLink | None) -> None:
        outcome: SayOutcome = "failed" if link is None else await self._follow(key, link)
        if link is None:
            self._asks.drop(key)
        assert self._notes is not None and self.greet_reminder is not None
        try:
            await self._notes.greeting_said(self.user_id, self.greet_reminder, outcome)
        except Exception as exc:  # recorded on the next tick or poll instead; never ends the conversation
            log.warning("session %s: the greeting's reminder not recorded (%s)", self.id, type(exc).__name__)

    async def say_when_quiet(self, instruction: str, *, within_s: float = SAY_WITHIN_S) -> SayOutcome:
        """At the next quiet moment (nobody speaking, no answer being made), have the model speak:
        ``instruction`` goes in as a system message the client never sees, then ``response.create``
        naming the request. The outcome is that response's (see :mod:`~companion.realtime.saying`):
        ``said`` only once it completed with audio; ``busy`` if no quiet moment came in ``within_s``.

        The same instruction asked again while it is being said (every instance's reminder tick may ask
        for the same reminder) is not said twice: the later caller gets the first one's outcome."""
        running = self._saying_now.get(instruction)
        if running is not None:
            return await asyncio.shield(running)
        outcome: asyncio.Future[SayOutcome] = asyncio.get_running_loop().create_future()
        self._saying_now[instruction] = outcome
        said: SayOutcome = "failed"  # if this caller is cancelled, the others learn it was not said
        try:
            said = await self._say_once(instruction, within_s)
            return said
        finally:
            del self._saying_now[instruction]
            outcome.set_result(said)

    async def _say_once(self, instruction: str, within_s: float) -> SayOutcome:
        deadline = self._clock() + within_s
        while self.status not in ENDED and self._clock() < deadline:
            link = self.link
            quiet = self.mirror.quiet(self._clock()) and self._answering == 0
            if self.status is Status.ACTIVE and link is not None and quiet:
                item = protocol.system_message_item(instruction, item_id=self.policy.hidden_item_id("say"))
                key, event_id, named = self._asks.new()
                try:
                    await link.send(protocol.conversation_item_create(item, event_id=protocol.new_event_id()))
                    await link.send(protocol.response_create(event_id, response=named))
                except UpstreamLost:
                    self._asks.drop(key)
                    continue  # the connection is being replaced: try again on the next one
                return await self._follow(key, link)
            await asyncio.sleep(SAY_POLL_S)
        return "no_conversation" if self.status in ENDED else "busy"

    async def _follow(self, key: str, link: UpstreamLink) -> SayOutcome:
        """The outcome of request ``key`` sent on ``link``: its response's (said once its audio has had
        time to play untruncated), or ``no_response`` if none ended within :data:`RESPONSE_WITHIN_S`
        or its playing did not end within :data:`PLAY_WITHIN_S` more (on the session's clock), or
        ``failed`` if the connection or the conversation ends first."""
        future = self._asks.future(key)
        deadline = self._clock() + RESPONSE_WITHIN_S
        try:
            while not future.done():
                now = self._clock()
                self._asks.tick(now)
                if future.done():
                    break
                if self.status in ENDED or self.link is not link:
                    return "failed"
                if now >= deadline and not self._asks.answered(key):
                    return "no_response"
                if now >= deadline + PLAY_WITHIN_S:
                    return "no_response"  # answered, but its playing never came to an end we could see
                await asyncio.wait((future,), timeout=SAY_POLL_S)
            return future.result()
        finally:
            self._asks.drop(key)
