"""Asking the model to say something, and learning whether it did.

Sending a hidden note and ``response.create`` proves nothing: the model may answer with something else,
the person may speak over it (the response is cancelled), the response may fail, or none may come. So a
request names its response: ``response.create`` carries ``metadata: {companion_say: <key>}``, which the
model echoes on that response's ``response.done`` (and only on it). :func:`outcome_of` reads that
``response.done``: *said* only when it completed with audio output. An ``error`` naming the request's
``event_id`` (e.g. ``conversation_already_has_active_response``) is *failed* at once.

:class:`SayRequests` is the session's book of requests in flight: plain data in (the model's events),
outcomes out, a future per request for the one waiting. The greeting uses it too, when the page opens
a conversation for a reminder (:class:`GreetingNotes`: the reminder goes into the greeting itself).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any, Final, Protocol

from companion.events import SayOutcome

SAY_TAG: Final = "companion_say"  # the response.metadata key that names a request's response
RESPONSE_WITHIN_S: Final = 45.0  # a spoken answer of a sentence or two ends well within this
AUDIO_PARTS: Final = frozenset({"output_audio", "audio"})  # GA and preview content types of speech


def outcome_of(response: Mapping[str, Any]) -> SayOutcome:
    """What a ``response.done``'s ``response`` says about the request: said only if it completed with
    audio output (a message with an audio part); cancelled is interrupted; anything else failed."""
    status = response.get("status")
    if status == "cancelled":
        return "interrupted"
    if status != "completed":
        return "failed"
    for item in response.get("output") or ():
        if not isinstance(item, Mapping) or item.get("type") != "message":
            continue
        for part in item.get("content") or ():
            if isinstance(part, Mapping) and part.get("type") in AUDIO_PARTS:
                return "said"
    return "failed"  # completed, but in text only, or with a tool call instead of the words


class GreetingNotes(Protocol):
    """What the greeting of a conversation opened *for* a reminder says, and who hears how it went."""

    async def greeting_note(self, user_id: str, reminder_id: str) -> str | None:
        """The note to say right after the greeting; None when the reminder needs no saying."""
        ...

    async def greeting_said(self, user_id: str, reminder_id: str, outcome: SayOutcome) -> None: ...


class SayRequests:
    """Requests whose responses are awaited, by their metadata key and their ``response.create`` id."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[SayOutcome]] = {}
        self._by_event: dict[str, str] = {}

    def new(self) -> tuple[str, str, dict[str, Any]]:
        """(key, event_id, the ``response`` overrides naming it) of a new request."""
        key = "say_" + uuid.uuid4().hex[:12]
        event_id = "evt_" + key
        self._waiting[key] = asyncio.get_running_loop().create_future()
        self._by_event[event_id] = key
        return key, event_id, {"metadata": {SAY_TAG: key}}

    def future(self, key: str) -> asyncio.Future[SayOutcome]:
        return self._waiting[key]

    def observe(self, event: Mapping[str, Any]) -> None:
        """A model event: a ``response.done`` of a request, or an ``error`` naming one, settles it."""
        kind = event.get("type")
        if kind == "response.done":
            response = event.get("response")
            if not isinstance(response, Mapping):
                return
            metadata = response.get("metadata")
            key = metadata.get(SAY_TAG) if isinstance(metadata, Mapping) else None
            if isinstance(key, str):
                self._settle(key, outcome_of(response))
        elif kind == "error":
            error = event.get("error")
            event_id = error.get("event_id") if isinstance(error, Mapping) else None
            if isinstance(event_id, str) and event_id in self._by_event:
                self._settle(self._by_event[event_id], "failed")

    def _settle(self, key: str, outcome: SayOutcome) -> None:
        future = self._waiting.get(key)
        if future is not None and not future.done():
            future.set_result(outcome)

    def drop(self, key: str) -> None:
        self._waiting.pop(key, None)
        self._by_event = {e: k for e, k in self._by_event.items() if k != key}
