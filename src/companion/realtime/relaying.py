"""What crosses the relay, in each direction, and what the relay answers itself.

From the client: instructions and tools belong to the server, so a ``session.update`` (or a
``response.create`` override) that sets them is refused with ``instructions_managed_by_server``.
From the model: calls of server-side tools are hidden from the client and answered here;
``play_music`` is held back until its arguments are complete and checked against the person's
current music preferences; session events reach the client without the instructions text.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from companion.realtime import protocol
from companion.realtime.metrics import Metrics
from companion.realtime.tools import SERVER_TOOLS, ToolCall, ToolRuntime, check_music

if TYPE_CHECKING:
    from companion.realtime.session import LiveSession

log = logging.getLogger(__name__)

SERVER_MANAGED_FIELDS = ("instructions", "tools", "tool_choice")
REDACTED = "(managed by the server)"
GUARDED_TOOLS = frozenset({"play_music"})
# An event for the model, and the client's frame it came from when that frame can be sent as it is
# (most of the traffic is audio: re-serialising every frame cost ~10% of the relay's CPU).
Forward = tuple[dict[str, Any], str | None]


def _item_id(event: dict[str, Any]) -> str | None:
    item_id = event.get("item_id")
    if isinstance(item_id, str):
        return item_id
    item = event.get("item")
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        return str(item["id"])
    return None


class RelayFilter:
    def __init__(self, tools: ToolRuntime, metrics: Metrics | None = None) -> None:
        self._tools = tools
        self._metrics = metrics
        self._session: LiveSession | None = None
        self._hidden: set[str] = set()  # item ids the client never sees
        self._held: dict[str, list[dict[str, Any]]] = {}  # play_music items waiting for their arguments
        self._names: dict[str, str] = {}  # item id -> tool name
        self._answers: list[tuple[ToolCall, Any]] = []  # calls of the current response the relay answers
        self.songs_played = 0

    def attach(self, session: LiveSession) -> None:
        self._session = session

    @property
    def session(self) -> LiveSession:
        assert self._session is not None, "RelayFilter used before attach()"
        return self._session

    # ---- client -> model -------------------------------------------------------------------------

    async def from_client(self, text: str) -> list[Forward]:
        """What goes upstream: each event with the client's own frame when it passes unchanged."""
        try:
            event = protocol.parse_event(text)
        except protocol.ProtocolError as exc:
            await self.session.to_client(protocol.error_event("invalid_json", str(exc)))
            return []
        data = event.data
        if event.type in ("session.update", "response.create"):
            key = "session" if event.type == "session.update" else "response"
            body = data.get(key)
            managed = [f for f in SERVER_MANAGED_FIELDS if isinstance(body, dict) and f in body]
            if managed:
                await self.session.to_client(
                    protocol.error_event(
                        "instructions_managed_by_server",
                        "Instructions and tools are set by the server from the care profile; "
                        f"remove {', '.join(managed)} from {event.type}",
                        param=f"{key}.{managed[0]}",
                        event_id=data.get("event_id"),
                    )
                )
                return []
        return [(data, text)]

    # ---- model -> client -------------------------------------------------------------------------

    def client_session_event(self, kind: str, session: dict[str, Any]) -> dict[str, Any]:
        redacted = dict(session)
        if "instructions" in redacted:
            redacted["instructions"] = REDACTED
        if isinstance(redacted.get("tools"), list):
            # the client only needs the tools it answers itself
            redacted["tools"] = [t for t in redacted["tools"] if t.get("name") not in SERVER_TOOLS]
        return {"type": kind, "event_id": protocol.new_event_id(), "session": redacted}

    def from_upstream(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type", "")
        if kind in ("session.created", "session.updated") and isinstance(event.get("session"), dict):
            return [self.client_session_event(kind, event["session"])]
        if kind == "response.done":
            return [self._on_response_done(event)]
        item = event.get("item") if isinstance(event.get("item"), dict) else None
        if kind == "response.output_item.added" and item and item.get("type") == "function_call":
            name = str(item.get("name", ""))
            item_id = str(item.get("id", ""))
            self._names[item_id] = name
            if name in SERVER_TOOLS:
                self._hidden.add(item_id)
                return []
            if name in GUARDED_TOOLS:
                self._held[item_id] = [event]
                return []
        found = _item_id(event)
        if found is None:
            return [event]
        item_id = found
        if kind == "response.output_item.done" and item and item.get("type") == "function_call":
            return self._on_call_done(item_id, item, event)
        if item_id in self._hidden:
            return []
        if item_id in self._held:
            self._held[item_id].append(event)
            return []
        return [event]

    def _on_call_done(
        self, item_id: str, item: dict[str, Any], event: dict[str, Any]
    ) -> list[dict[str, Any]]:
        session = self.session
        call = ToolCall(
            name=str(item.get("name") or self._names.get(item_id, "")),
            call_id=str(item.get("call_id", "")),
            item_id=item_id,
            arguments=str(item.get("arguments") or "{}"),
        )
        if item_id in self._hidden:
            task = session.spawn(self._tools.run(call, user_id=session.user_id, session_id=session.id))
            self._answers.append((call, task))
            self._count(call.name, "server")
            return []
        held = self._held.pop(item_id, None)
        if held is None:
            return [event]
        music = session.context.music if session.context else None
        decision = check_music(music, call.args(), self.songs_played) if music else None
        if decision is not None and decision.allowed:
            self.songs_played += 1
            self._count(call.name, "forwarded")
            return [*held, event]
        self._hidden.add(item_id)
        output = decision.output if decision else {"ok": False, "error": "no_profile"}
        log.info("session %s: play_music refused (%s)", session.id, output.get("error"))
        self._count(call.name, "refused")
        self._answers.append((call, output))
        return []

    def _on_response_done(self, event: dict[str, Any]) -> dict[str, Any]:
        response = event.get("response")
        if isinstance(response, dict) and isinstance(response.get("output"), list):
            kept = [
                o for o in response["output"] if not (isinstance(o, dict) and o.get("id") in self._hidden)
            ]
            if len(kept) != len(response["output"]):
                event = {**event, "response": {**response, "output": kept}}
        if self._answers:
            answers, self._answers = self._answers, []
            self.session.spawn(self._answer(answers))
        return event

    async def _answer(self, answers: list[tuple[ToolCall, Any]]) -> None:
        """Give the model every output of the last response, then let it speak again."""
        session = self.session
        outputs = []
        for call, pending in answers:
            output = pending if isinstance(pending, dict) else await pending
            outputs.append((call, output))
        await session.wait_idle()
        for call, output in outputs:
            await session.send_upstream(
                protocol.function_call_output(call.call_id, json.dumps(output, ensure_ascii=False))
            )
        await session.send_upstream(protocol.response_create())

    def count_tokens(self, total: int) -> None:
        if self._metrics is not None:
            self._metrics.tokens.inc(total)

    def _count(self, tool: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.tool_calls.labels(tool=tool, outcome=outcome).inc()
