"""Asking the model to say something, and learning whether it did.

Sending a hidden note and ``response.create`` proves nothing: the model may answer with something else,
the person may speak over it (the response is cancelled), the response may fail, or none may come. So a
request names its response: ``response.create`` carries ``metadata: {companion_say: <key>}``, which the
model echoes on that response's ``response.created`` and ``response.done`` (and only on them).
:func:`outcome_of` reads that ``response.done``: *said* only when it completed with audio output. An
``error`` naming the request's ``event_id`` (e.g. ``conversation_already_has_active_response``) is
*failed* at once.

A model makes its audio faster than it is played, so a response is often done while the tablet is still
playing it, and a person who speaks over it then cuts it on the tablet (the page sends
``conversation.item.truncate`` for the item, to what was played). So a completed answer is *said* only
once its audio has had time to play (from its first delta, its length plus :data:`PLAYBACK_MARGIN_S`)
without the client truncating it; a truncate of its item before then is *interrupted*.

:class:`SayRequests` is the session machine's book of requests in flight: plain data in (the model's
events, the client's truncates, the time), an outcome per request out. The greeting uses it too, when
the page opens a conversation for a reminder (:class:`GreetingNotes`: the reminder goes into the
greeting itself).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from companion.events import SayOutcome

SAY_TAG: Final = "companion_say"  # the response.metadata key that names a request's response
RESPONSE_WITHIN_S: Final = 45.0  # a spoken answer of a sentence or two ends well within this
AUDIO_PARTS: Final = frozenset({"output_audio", "audio"})  # GA and preview content types of speech
AUDIO_DELTAS: Final = frozenset({"response.output_audio.delta", "response.audio.delta"})
BYTES_PER_MS: Final = 48  # 24 kHz PCM16 mono, the relay's audio format
PLAYBACK_MARGIN_S: Final = 1.5  # the tablet starts playing a little after the first delta arrives
PLAY_WITHIN_S: Final = 60.0  # a reminder's answer plays in seconds; past this after it ended, not said
FOLLOW_WITHIN_S: Final = RESPONSE_WITHIN_S + PLAY_WITHIN_S  # the longest a request is followed


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


@dataclass(slots=True)
class _Request:
    event_id: str
    outcome: SayOutcome | None = None
    response_id: str | None = None
    first_audio_at: float | None = None
    audio_ms: float = 0.0
    items: set[str] = field(default_factory=set)
    heard_by: float | None = None  # completed with audio: said once this passes without a truncate


def _key_of(response: Any) -> str | None:
    metadata = response.get("metadata") if isinstance(response, Mapping) else None
    key = metadata.get(SAY_TAG) if isinstance(metadata, Mapping) else None
    return key if isinstance(key, str) else None


class SayRequests:
    """Requests whose responses are awaited: by their metadata key, their ``response.create`` id and,
    once created, their response id. ``now`` is the session's clock."""

    def __init__(self) -> None:
        self._requests: dict[str, _Request] = {}

    def new(self) -> tuple[str, str, dict[str, Any]]:
        """(key, event_id, the ``response`` overrides naming it) of a new request."""
        key = "say_" + uuid.uuid4().hex[:12]
        event_id = "evt_" + key
        self._requests[key] = _Request(event_id)
        return key, event_id, {"metadata": {SAY_TAG: key}}

    def outcome(self, key: str) -> SayOutcome | None:
        """The request's outcome once it is known (None while it is followed, or if it is unknown)."""
        request = self._requests.get(key)
        return None if request is None else request.outcome

    def heard_by(self, key: str) -> float | None:
        """When a completed answer counts as heard (its audio played, untruncated); None until done."""
        request = self._requests.get(key)
        return None if request is None or request.outcome is not None else request.heard_by

    def answered(self, key: str) -> bool:
        """Its response is done (only its playing out is awaited) or it is settled."""
        request = self._requests.get(key)
        return request is None or request.outcome is not None or request.heard_by is not None

    def observe(self, event: Mapping[str, Any], now: float) -> None:
        """A model event: a request's response created, its audio, its end; or an error naming it."""
        if not self._requests:
            return
        kind = event.get("type")
        if kind in AUDIO_DELTAS:
            request = self._of_response(event.get("response_id"))
            delta = event.get("delta")
            if request is not None and isinstance(delta, str):
                request.first_audio_at = now if request.first_audio_at is None else request.first_audio_at
                request.audio_ms += len(delta) * 3 / 4 / BYTES_PER_MS
                if isinstance(event.get("item_id"), str):
                    request.items.add(event["item_id"])
        elif kind == "response.created":
            response = event.get("response")
            request = self._requests.get(_key_of(response) or "")
            if request is not None and isinstance(response, Mapping):
                request.response_id = response.get("id")
        elif kind == "response.done":
            response = event.get("response")
            key = _key_of(response)
            if key is not None and key in self._requests and isinstance(response, Mapping):
                self._done(key, response, now)
        elif kind == "error":
            error = event.get("error")
            event_id = error.get("event_id") if isinstance(error, Mapping) else None
            for key, request in self._requests.items():
                if event_id == request.event_id:
                    self._settle(key, "failed")

    def observe_client(self, event: Mapping[str, Any]) -> None:
        """A client event: a truncate of a request's item means the person did not hear it all."""
        if event.get("type") != "conversation.item.truncate":
            return
        for key, request in self._requests.items():
            if event.get("item_id") in request.items:
                self._settle(key, "interrupted")

    def tick(self, now: float) -> None:
        """Requests whose audio has had time to play, untruncated, are said."""
        for key, request in self._requests.items():
            if request.heard_by is not None and now >= request.heard_by:
                self._settle(key, "said")

    def _done(self, key: str, response: Mapping[str, Any], now: float) -> None:
        request = self._requests[key]
        outcome = outcome_of(response)
        if outcome != "said":
            self._settle(key, outcome)
            return
        for item in response.get("output") or ():
            if isinstance(item, Mapping) and isinstance(item.get("id"), str):
                request.items.add(item["id"])
        started = request.first_audio_at if request.first_audio_at is not None else now
        request.heard_by = started + request.audio_ms / 1000 + PLAYBACK_MARGIN_S
        self.tick(now)

    def _of_response(self, response_id: Any) -> _Request | None:
        if not isinstance(response_id, str):
            return None
        return next((r for r in self._requests.values() if r.response_id == response_id), None)

    def _settle(self, key: str, outcome: SayOutcome) -> None:
        request = self._requests.get(key)
        if request is not None and request.outcome is None:
            request.outcome = outcome

    def drop(self, key: str) -> None:
        self._requests.pop(key, None)
