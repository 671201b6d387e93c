"""A :class:`SessionMachine` on virtual time, fed plain dicts: what its tests drive and read.

No sockets, no tasks, no sleeps. ``Run.now`` is the clock; ``Run.after(s)`` moves it and ticks the
machine; every action the machine answers with is kept in ``Run.actions`` (and the last input's in
``Run.last``). The model's side is played by hand: ``Run.start()`` walks a connection through
``session.created``, the context read and the confirmation of the first update.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from companion.prompt import build
from companion.realtime.actions import (
    Action,
    CloseClient,
    CloseModel,
    OpenModel,
    Prepare,
    RefreshAnswered,
    RefreshFailed,
    SayAnswered,
    SendModel,
    StartTool,
)
from companion.realtime.machine import SessionMachine
from companion.realtime.policy import ToClient
from companion.realtime.records import Prepared, SessionConfig, Status
from companion.realtime.tools import tools_for
from tests.prompt.factories import context

START: Final = 1_000.0  # the machine's monotonic clock at the start
WALL: Final = 1_700_000_000.0  # the epoch time at START
REFRESH_TIMEOUT_S: Final = 1.0
RECONNECT_S: Final = 30.0
READ_OUT_S: Final = 5.0


def base_session(built: Any) -> dict[str, Any]:
    return {"type": "realtime", "output_modalities": ["audio"], "audio": {"output": {"voice": "alloy"}}}


def prepared(**profile_kw: Any) -> Prepared:
    care = context(**profile_kw)
    return Prepared(care, build(care), tools_for(care))


def audio(tag: str) -> str:
    return json.dumps({"type": "input_audio_buffer.append", "audio": "QUJD" + tag})


class Run:
    def __init__(
        self,
        *,
        after_response: bool = False,
        max_session_s: float = 3600.0,
        credential_expires_in_s: float | None = None,
        greet: bool = False,
        notes: bool = True,
    ) -> None:
        self.now = START
        self.config = SessionConfig(
            refresh_timeout_s=REFRESH_TIMEOUT_S,
            after_response=after_response,
            base_session=base_session,
            max_session_s=max_session_s,
            reconnect_s=RECONNECT_S,
            read_out_s=READ_OUT_S,
        )
        self.m = SessionMachine(
            session_id="sess-test",
            config=self.config,
            greet=greet,
            credential_expires_in_s=credential_expires_in_s,
            notes=notes,
            jitter=lambda: 0.0,
        )
        self.actions: list[Action] = []
        self.last: list[Action] = []
        self.profile = prepared()
        self._callers = 0

    # ---- feeding ---------------------------------------------------------------------------------

    def feed(self, actions: list[Action]) -> list[Action]:
        self.last = actions
        self.actions += actions
        return actions

    def after(self, seconds: float) -> list[Action]:
        """Time passes: the machine is ticked at the end (as the driver's timer would)."""
        self.now += seconds
        return self.feed(self.m.tick(self.now))

    def until_deadline(self) -> list[Action]:
        """Move to the machine's next deadline and tick it there."""
        at = self.m.next_deadline(self.now)
        assert at is not None, "nothing is timed"
        self.now = at
        return self.feed(self.m.tick(self.now))

    def model(self, number: int, *events: dict[str, Any]) -> list[Action]:
        out: list[Action] = []
        for event in events:
            out += self.m.receive_model(number, event, self.now)
        return self.feed(out)

    def client(self, event: dict[str, Any] | str) -> list[Action]:
        text = event if isinstance(event, str) else json.dumps(event)
        return self.feed(self.m.receive_client(text, self.now))

    def refresh(self, *, shared: bool = False) -> int:
        self._callers += 1
        self.feed(self.m.refresh_requested(self._callers, self.now, shared=shared))
        return self._callers

    # ---- the model's side, by hand ---------------------------------------------------------------

    def opened(self) -> int:
        """The connection the machine asked for last is open and says ``session.created``."""
        number = self.last_of(OpenModel).link
        self.feed(self.m.model_opened(number, self.now))
        self.model(number, {"type": "session.created", "session": {"id": f"sess_{number}"}})
        return number

    def read(self, result: Prepared | Exception | None = None) -> None:
        """The context read the machine asked for last comes back."""
        token = self.last_of(Prepare).token
        self.feed(self.m.prepared(token, result or self.profile, self.now))  # type: ignore[arg-type]

    def confirm(self, number: int, *, instructions: str | None = None) -> list[Action]:
        update = self.sent(number, "session.update")[-1]
        text = instructions if instructions is not None else update["session"]["instructions"]
        return self.model(
            number, {"type": "session.updated", "session": {**update["session"], "instructions": text}}
        )

    def refuse(self, number: int) -> list[Action]:
        update = self.sent(number, "session.update")[-1]
        error = {
            "type": "invalid_request_error",
            "code": "bad",
            "message": "no",
            "event_id": update["event_id"],
        }
        return self.model(number, {"type": "error", "error": error})

    def start(self) -> int:
        self.feed(self.m.start(self.now, WALL))
        number = self.opened()
        self.read()
        self.confirm(number)
        assert self.m.status is Status.ACTIVE
        return number

    def switch(self) -> int:
        """Walk the opening the machine started (a rotation or reconnection) to its end."""
        number = self.opened()
        self.read()
        self.confirm(number)
        return number

    # ---- reading ---------------------------------------------------------------------------------

    def wall(self, at: float | None = None) -> datetime:
        """The wall-clock time of the machine's ``at`` (now by default): a note's ``at``."""
        return datetime.fromtimestamp(WALL + ((self.now if at is None else at) - START), UTC)

    def last_of(self, kind: type[Any]) -> Any:
        found = [a for a in self.actions if isinstance(a, kind)]
        assert found, f"no {kind.__name__} among {self.actions}"
        return found[-1]

    def of(self, kind: type[Any], actions: list[Action] | None = None) -> list[Any]:
        return [a for a in (self.actions if actions is None else actions) if isinstance(a, kind)]

    def sent(self, number: int, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            a.event
            for a in self.actions
            if isinstance(a, SendModel) and a.link == number and (kind is None or a.event.get("type") == kind)
        ]

    def to_client(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            a.event
            for a in self.actions
            if isinstance(a, ToClient) and (kind is None or a.event["type"] == kind)
        ]

    def closed_models(self) -> list[int]:
        return [a.link for a in self.of(CloseModel)]

    def client_close(self) -> tuple[int, str] | None:
        closes = self.of(CloseClient)
        return closes[-1].close.clipped() if closes else None

    def answered(self, caller: int) -> RefreshAnswered | RefreshFailed | None:
        for action in self.of(RefreshAnswered) + self.of(RefreshFailed):
            if caller in action.callers:
                return action  # type: ignore[no-any-return]
        return None

    def said(self, instruction: str) -> str | None:
        outcomes = [a.outcome for a in self.of(SayAnswered) if a.instruction == instruction]
        return outcomes[-1] if outcomes else None

    def tools_started(self) -> list[StartTool]:
        return self.of(StartTool)


def response(
    response_id: str, *, status: str = "completed", output: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """An answer with one spoken item, from ``response.created`` to ``response.done``."""
    item = {"id": f"item_{response_id}", "type": "message", "role": "assistant", "content": []}
    spoken = {**item, "content": [{"type": "output_audio", "transcript": "Hello"}]}
    return [
        {"type": "response.created", "response": {"id": response_id, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "response_id": response_id, "item": item},
        {
            "type": "response.output_audio_transcript.delta",
            "response_id": response_id,
            "item_id": item["id"],
            "delta": "Hello",
        },
        {
            "type": "response.done",
            "response": {
                "id": response_id,
                "status": status,
                "output": output if output is not None else [spoken],
            },
        },
    ]


def call(response_id: str, name: str, arguments: str, call_id: str = "c1") -> list[dict[str, Any]]:
    """An answer that calls ``name`` and ends."""
    item = {
        "id": f"item_{call_id}",
        "type": "function_call",
        "status": "in_progress",
        "name": name,
        "call_id": call_id,
    }
    done = {**item, "status": "completed", "arguments": arguments}
    return [
        {"type": "response.created", "response": {"id": response_id, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "response_id": response_id, "item": item},
        {"type": "response.output_item.done", "response_id": response_id, "item": done},
        {"type": "response.done", "response": {"id": response_id, "status": "completed", "output": [done]}},
    ]
