"""What has been said in a conversation, kept from the model's own events so it can be told again.

Sans-I/O: :class:`ConversationMirror` takes GA server events as plain dicts and keeps, in order, the
person's words (typed text and the transcripts of their speech), the companion's (its audio
transcripts or text), and the tool calls with their outputs. When the model's session is replaced (its
30/60-minute cap, a network drop), :meth:`ConversationMirror.replay` gives what the new session is told.

The replay policy, and why:

- **One system message with a transcript, never assistant text items.** A realtime model that finds
  assistant *text* items in its conversation tends to go on answering in text only, with no audio
  (openai-realtime-api-beta #72, livekit/agents #2471: LiveKit restores text items and had to add
  retries to get audio back); assistant *audio* items cannot be created at all. A system message is
  context, not a turn of the model's, so the next answer keeps the session's audio modality.
- **It says the conversation continues.** Without it a model whose history vanished greets the
  person again mid-conversation (livekit/agents-js #2346) - confusing for anyone, worse with dementia.
- **Newest turns first, within a budget** (:data:`REPLAY_BUDGET_CHARS`), whole turns only, each turn
  capped: the instructions already carry the care profile, and an hours-long talk must not crowd it.
- **No audio is replayed** and nothing of the model's own session set-up (system items are skipped,
  so a replay is never replayed inside the next one).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final, Literal

from companion.realtime import protocol

REPLAY_BUDGET_CHARS: Final = 8_000  # ~3k tokens: the last several minutes of talk next to a 6k-token prompt
MAX_TURN_CHARS: Final = 1_000  # one long monologue or tool output must not take the whole budget
MAX_KEPT_CHARS: Final = 4 * REPLAY_BUDGET_CHARS  # memory bound for hours of talk: older turns are let go
QUIET_SETTLE_S: Final = 1.0  # quiet this long after the last speech or answer event before a rotation
_ACTIVITY: Final = ("input_audio_buffer.", "response.")
CUT_REASON: Final = "interrupted"  # response.done status_details.reason for a response the loss cut
REPLAY_HEADER: Final = (
    "[The conversation so far. The connection to you was renewed in the middle of it: continue "
    "naturally by voice from where it stopped. Do not greet the person again and do not mention the "
    "connection.]"
)

Role = Literal["person", "companion", "tool"]
_ROLE_LABELS: Final[dict[Role, str]] = {"person": "Person", "companion": "You", "tool": "Tool"}


@dataclass(slots=True)
class Turn:
    """One item of the conversation as text; ``text`` grows while a transcript streams in."""

    item_id: str
    role: Role
    text: str = ""
    cut: bool = False  # the companion was interrupted or the connection was lost while it spoke

    def line(self) -> str:
        text = self.text if len(self.text) <= MAX_TURN_CHARS else self.text[:MAX_TURN_CHARS] + "…"
        suffix = " (cut off)" if self.cut else ""
        return f"{_ROLE_LABELS[self.role]}{suffix}: {text}"


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


class ConversationMirror:
    """The conversation as the model has it, plus what a relay needs to know about its moment."""

    def __init__(self) -> None:
        self._turns: OrderedDict[str, Turn] = OrderedDict()
        self._kept_chars = 0
        self.response_id: str | None = None  # the response in progress, if any
        self.person_speaking = False  # server VAD heard speech start and not yet stop
        self.last_activity = 0.0  # when speech or an answer last started, stopped or streamed
        self._response_items: list[str] = []  # items of the response in progress

    # ---- what the relay asks -------------------------------------------------------------------------

    @property
    def response_active(self) -> bool:
        return self.response_id is not None

    def quiet(self, now: float, settle_s: float = QUIET_SETTLE_S) -> bool:
        """Nobody is speaking, no answer is being made, and none was for ``settle_s``: a moment to change
        model sessions (right after speech stops, the model's answer is still about to start)."""
        return self.response_id is None and not self.person_speaking and now - self.last_activity >= settle_s

    @property
    def turns(self) -> list[Turn]:
        return list(self._turns.values())

    def new_link(self) -> None:
        """A new model session has nothing in progress."""
        self.response_id = None
        self.person_speaking = False
        self._response_items.clear()

    def cut_response(self) -> dict[str, Any] | None:
        """The ``response.done`` a client gets for a response the loss of the model cut, if one was on.

        Status ``incomplete`` tells client UIs the answer ended without completing, so none waits for
        events that will never come.
        """
        response_id, self.response_id = self.response_id, None
        self.person_speaking = False
        if response_id is None:
            return None
        for item_id in self._response_items:
            turn = self._turns.get(item_id)
            if turn is not None and turn.role == "companion":
                turn.cut = True
        self._response_items.clear()
        return {
            "type": "response.done",
            "event_id": protocol.new_event_id("event"),
            "response": {
                "object": "realtime.response",
                "id": response_id,
                "status": "incomplete",
                "status_details": {"type": "incomplete", "reason": CUT_REASON},
                "output": [],
                "usage": None,
            },
        }

    def replay(self, budget: int = REPLAY_BUDGET_CHARS) -> list[dict[str, Any]]:
        """The items a new model session is given: one system message, or none for a new conversation."""
        lines: list[str] = []
        used = len(REPLAY_HEADER)
        for turn in reversed(self._turns.values()):
            if not turn.text:
                continue
            line = turn.line()
            if used + len(line) + 1 > budget:
                break
            lines.append(line)
            used += len(line) + 1
        if not lines:
            return []
        text = "\n".join([REPLAY_HEADER, *reversed(lines)])
        return [protocol.system_message_item(text)]

    # ---- what the model said -----------------------------------------------------------------------

    def observe(self, event: dict[str, Any], now: float = 0.0) -> None:
        """Take one GA server event (``now``: a monotonic clock); anything it does not need is ignored."""
        kind = _str(event.get("type"))
        if kind.startswith(_ACTIVITY):
            self.last_activity = now
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, event)

    def _on_item(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            return
        item_id = _str(item.get("id"))
        if not item_id:
            return
        if event.get("type") == "response.output_item.added":
            self._response_items.append(item_id)
        kind, role = item.get("type"), item.get("role")
        if kind == "message" and role == "user":
            self._set(item_id, "person", _message_text(item))
        elif kind == "message" and role == "assistant":
            self._set(item_id, "companion", _message_text(item))
        elif kind == "function_call":
            arguments = _str(item.get("arguments"))
            self._set(item_id, "tool", f"{_str(item.get('name'))}({arguments})" if arguments else "")
        elif kind == "function_call_output":
            self._set(item_id, "tool", f"result: {_str(item.get('output'))}")

    def _on_transcript(self, event: dict[str, Any]) -> None:
        self._set(_str(event.get("item_id")), "person", _str(event.get("transcript")))

    def _on_companion_delta(self, event: dict[str, Any]) -> None:
        item_id = _str(event.get("item_id"))
        turn = self._turns.get(item_id)
        if turn is None:
            self._set(item_id, "companion", _str(event.get("delta")))
        else:
            self._set(item_id, "companion", turn.text + _str(event.get("delta")))

    def _on_companion_done(self, event: dict[str, Any]) -> None:
        text = _str(event.get("transcript")) or _str(event.get("text"))
        self._set(_str(event.get("item_id")), "companion", text)

    def _on_response_created(self, event: dict[str, Any]) -> None:
        response = event.get("response")
        self.response_id = _str(response.get("id")) if isinstance(response, dict) else ""
        self.response_id = self.response_id or "resp_unknown"

    def _on_response_done(self, event: dict[str, Any]) -> None:
        self.response_id = None
        self._response_items.clear()
        response = event.get("response")
        if isinstance(response, dict) and response.get("status") in ("cancelled", "incomplete"):
            for output in response.get("output") or []:
                turn = self._turns.get(_str(output.get("id"))) if isinstance(output, dict) else None
                if turn is not None and turn.role == "companion":
                    turn.cut = True

    def _on_speech(self, event: dict[str, Any]) -> None:
        self.person_speaking = event.get("type") == "input_audio_buffer.speech_started"

    def _on_deleted(self, event: dict[str, Any]) -> None:
        turn = self._turns.pop(_str(event.get("item_id")), None)
        if turn is not None:
            self._kept_chars -= len(turn.text)

    def _on_truncated(self, event: dict[str, Any]) -> None:
        turn = self._turns.get(_str(event.get("item_id")))
        if turn is not None:
            turn.cut = True

    def _set(self, item_id: str, role: Role, text: str) -> None:
        """Add or update a turn in place: a transcript arriving late keeps the turn where it was said."""
        if not item_id:
            return
        turn = self._turns.get(item_id)
        if turn is None:
            turn = self._turns[item_id] = Turn(item_id, role)
        elif not text:
            return  # an item's later, emptier form (audio whose transcript is still coming) keeps what it had
        self._kept_chars += len(text) - len(turn.text)
        turn.text = text
        while self._kept_chars > MAX_KEPT_CHARS and len(self._turns) > 1:
            _, oldest = self._turns.popitem(last=False)
            self._kept_chars -= len(oldest.text)


def _message_text(item: dict[str, Any]) -> str:
    parts = []
    for part in item.get("content") or []:
        if isinstance(part, dict):
            parts.append(_str(part.get("text")) or _str(part.get("transcript")))
    return " ".join(p for p in parts if p)


_HANDLERS: Final = {
    "conversation.item.added": ConversationMirror._on_item,
    "conversation.item.done": ConversationMirror._on_item,
    "response.output_item.added": ConversationMirror._on_item,
    "response.output_item.done": ConversationMirror._on_item,
    "conversation.item.input_audio_transcription.completed": ConversationMirror._on_transcript,
    "response.output_audio_transcript.delta": ConversationMirror._on_companion_delta,
    "response.output_text.delta": ConversationMirror._on_companion_delta,
    "response.output_audio_transcript.done": ConversationMirror._on_companion_done,
    "response.output_text.done": ConversationMirror._on_companion_done,
    "response.created": ConversationMirror._on_response_created,
    "response.done": ConversationMirror._on_response_done,
    "input_audio_buffer.speech_started": ConversationMirror._on_speech,
    "input_audio_buffer.speech_stopped": ConversationMirror._on_speech,
    "conversation.item.deleted": ConversationMirror._on_deleted,
    "conversation.item.truncated": ConversationMirror._on_truncated,
}
