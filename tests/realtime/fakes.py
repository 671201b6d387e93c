"""In-memory stand-ins for both ends of a live session, in the manner of httpx's ``MockTransport``.

``MemoryConnector`` / ``MemoryUpstream`` satisfy ``Connector`` / ``UpstreamConnection`` from
``companion.realtime.upstream``, and ``MemoryClient`` satisfies ``ClientChannel`` from
``companion.realtime.session``: a relay under test goes through the same doors as in production,
with no socket, no network and no timing other than what a test asks for.

The model side answers what a relay needs answered (``session.update``, ``conversation.item.create``)
in GA shapes, and a test drives everything else: responses, function calls, expiry, abrupt drops.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from companion.errors import UpstreamError

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
EventFilter = Callable[[JsonDict], bool]

# Unbounded in spirit (a test pushes what it pushes) but bounded by the house rule: a runaway test
# fails loudly with QueueFull instead of eating the machine's memory.
QUEUE_MAX: Final = 10_000
DEFAULT_TIMEOUT_S: Final = 5.0
SESSION_EXPIRED_MESSAGE: Final = "Your session hit the maximum duration of 60 minutes."
SESSION_EXPIRED_CLOSE_CODE: Final = 1001
NORMAL_CLOSE_CODE: Final = 1000
AUDIO_DELTA_BYTES: Final = 960  # 20 ms of 24 kHz mono PCM16, the size of a real output_audio.delta

_connection_numbers = itertools.count(1)


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_CREATED: Final = _Marker("session.created")  # built when received, so a configure hook can shape it
_NOT_JSON: Final = _Marker("not JSON")
_END: Final = _Marker("end")

_Frame = JsonDict | _Marker


def _types(events: list[JsonDict]) -> list[str]:
    return [str(event.get("type")) for event in events]


class _Reader:
    """Reads a growing list of events in order, each once, waiting (bounded) for the next to match."""

    def __init__(self, events: list[JsonDict], changed: asyncio.Event) -> None:
        self._events = events
        self._changed = changed
        self._cursor = 0

    async def next(
        self,
        type_: str,
        pred: EventFilter | None,
        timeout: float,
        *,
        missing: Callable[[], str],
        ended: Callable[[], str | None] = lambda: None,
    ) -> JsonDict:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    while self._cursor < len(self._events):
                        event = self._events[self._cursor]
                        self._cursor += 1
                        if event.get("type") == type_ and (pred is None or pred(event)):
                            return event
                    why = ended()
                    if why is not None:
                        raise AssertionError(why)
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(missing()) from None


class MemoryUpstream:
    """One fake realtime model connection (an ``UpstreamConnection``).

    Switches a test may flip at any time: ``ignore_updates`` (no answer to ``session.update``),
    ``reject_updates`` (an ``error`` naming the update's ``event_id``), ``update_delay_s`` (the answer
    comes that much later, while other events flow). ``session`` is the model's view of the session
    config; ``session.created`` shows it as it is when first received.
    """

    def __init__(self, number: int | None = None, *, expires_at: int | None = None) -> None:
        self.number = next(_connection_numbers) if number is None else number
        self.session: JsonDict = {
            "type": "realtime",
            "id": f"sess_mem_{self.number}",
            "instructions": "",
            "tools": [],
        }
        if expires_at is not None:
            self.session["expires_at"] = expires_at
        self.sent: list[JsonDict] = []
        self.closed = False
        self.ignore_updates = False
        self.reject_updates = False
        self.update_delay_s = 0.0
        self._inbox: asyncio.Queue[_Frame] = asyncio.Queue(maxsize=QUEUE_MAX)
        self._ended = False  # closed by us or dropped by the model: sends fail, recv ends
        self._eof = False  # the reader has seen the end
        self._dropped = False
        self._close_info: tuple[int | None, str] = (None, "")
        self._ids = itertools.count(1)
        self._last_item_id: str | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._sent_changed = asyncio.Event()
        self._sent_reader = _Reader(self.sent, self._sent_changed)
        self._inbox.put_nowait(_CREATED)

    # ---- the UpstreamConnection protocol ------------------------------------------------------------

    async def send(self, event: JsonDict, *, frame: str | None = None) -> None:
        if self._ended:
            code, reason = self._close_info
            raise UpstreamError(
                f"The realtime model connection is closed ({code or 'no close frame'} {reason})"
            )
        sent: JsonDict = json.loads(frame) if frame is not None else copy.deepcopy(event)
        self.sent.append(sent)
        self._sent_changed.set()
        self._answer(sent)

    def send_now(self, event: JsonDict, *, frame: str | None = None) -> bool:
        return False  # every send takes the awaited path, where tests can delay or fail it

    async def recv(self) -> list[JsonDict]:
        if self._eof:
            raise UpstreamError("The realtime model closed the connection")
        frame = await self._inbox.get()
        if frame is _END:
            self._eof = True
            self._inbox.put_nowait(_END)  # any other reader waiting ends too
            raise UpstreamError("The realtime model closed the connection")
        if frame is _NOT_JSON:
            log.warning("upstream sent a frame that is not JSON; ignored")
            return []
        if frame is _CREATED:
            return [self._event("session.created", session=copy.deepcopy(self.session))]
        assert isinstance(frame, dict)
        return [copy.deepcopy(frame)]

    async def close(self) -> None:
        self.closed = True
        if not self._ended:
            self._end(NORMAL_CLOSE_CODE, "")

    @property
    def close_info(self) -> tuple[int | None, str]:
        return self._close_info

    # ---- what a test inspects -----------------------------------------------------------------------

    @property
    def dropped(self) -> bool:
        return self._dropped

    @property
    def expires_at(self) -> int | None:
        value = self.session.get("expires_at")
        return int(value) if value is not None else None

    @expires_at.setter
    def expires_at(self, value: int | None) -> None:
        if value is None:
            self.session.pop("expires_at", None)
        else:
            self.session["expires_at"] = value

    def sent_of(self, type_: str) -> list[JsonDict]:
        """Every event of ``type_`` sent to the model so far, in order."""
        return [event for event in self.sent if event.get("type") == type_]

    async def wait_sent(
        self, type_: str, pred: EventFilter | None = None, *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> JsonDict:
        """The first sent event of ``type_`` (matching ``pred``) not yet returned by ``wait_sent``."""
        return await self._sent_reader.next(
            type_,
            pred,
            timeout,
            missing=lambda: f"no {type_} was sent to the model; sent: {_types(self.sent)}",
        )

    # ---- what the model does, driven by a test ------------------------------------------------------

    def push(self, *events: JsonDict) -> None:
        """The model sends ``events`` (an ``event_id`` is added where missing). Ignored once ended."""
        for event in events:
            self._deliver({"event_id": self._new_id("event"), **event} if "event_id" not in event else event)

    async def respond_audio(
        self, text: str = "hello", *, deltas: int = 3, metadata: dict[str, str] | None = None
    ) -> str:
        """A whole spoken GA response; returns its ``response.id``.

        In order: ``response.created``, ``response.output_item.added``, ``conversation.item.added``,
        ``response.content_part.added``, ``response.output_audio.delta`` x ``deltas``,
        ``response.output_audio_transcript.delta`` and ``.done`` (``text``),
        ``response.output_audio.done``, ``response.content_part.done``, ``conversation.item.done``,
        ``response.output_item.done``, ``response.done`` (completed, with ``usage``). The loop runs
        between events, as when they arrive one frame at a time. ``metadata`` (what ``response.create``
        asked for) comes back on ``response.created`` and ``response.done``.
        """
        response_id = self._new_id("resp")
        item_id = self._new_id("item")
        previous, self._last_item_id = self._last_item_id, item_id
        item: JsonDict = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        where = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        audio = base64.b64encode(bytes(AUDIO_DELTA_BYTES)).decode()
        done_item = {**item, "status": "completed", "content": [{"type": "output_audio", "transcript": text}]}
        events: list[JsonDict] = [
            self._event("response.created", response=self._response(response_id, "in_progress", [])),
            self._event("response.output_item.added", response_id=response_id, output_index=0, item=item),
            self._event("conversation.item.added", previous_item_id=previous, item=item),
            self._event("response.content_part.added", **where, part={"type": "audio", "transcript": ""}),
            *(self._event("response.output_audio.delta", **where, delta=audio) for _ in range(deltas)),
            self._event("response.output_audio_transcript.delta", **where, delta=text),
            self._event("response.output_audio_transcript.done", **where, transcript=text),
            self._event("response.output_audio.done", **where),
            self._event("response.content_part.done", **where, part={"type": "audio", "transcript": text}),
            self._event("conversation.item.done", previous_item_id=previous, item=done_item),
            self._event("response.output_item.done", response_id=response_id, output_index=0, item=done_item),
            self._event(
                "response.done",
                response=self._response(
                    response_id, "completed", [done_item], output_tokens=deltas + len(text.split())
                ),
            ),
        ]
        for event in events:
            if metadata is not None and isinstance(event.get("response"), dict):
                event["response"]["metadata"] = dict(metadata)
            self._deliver(event)
            await asyncio.sleep(0)
        return response_id

    def push_function_call(self, name: str, arguments_json: str, *, call_id: str | None = None) -> str:
        """A whole GA response that calls ``name`` with ``arguments_json``; returns the ``call_id``.

        In order: ``response.created``, ``response.output_item.added``, ``conversation.item.added``,
        ``response.function_call_arguments.delta`` and ``.done``, ``conversation.item.done``,
        ``response.output_item.done`` (a ``function_call`` item), ``response.done``.
        """
        call_id = call_id or self._new_id("call")
        response_id = self._new_id("resp")
        item_id = self._new_id("item")
        previous, self._last_item_id = self._last_item_id, item_id
        item: JsonDict = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": name,
            "call_id": call_id,
            "arguments": "",
        }
        done_item = {**item, "status": "completed", "arguments": arguments_json}
        where = {"response_id": response_id, "item_id": item_id, "output_index": 0, "call_id": call_id}
        self.push(
            self._event("response.created", response=self._response(response_id, "in_progress", [])),
            self._event("response.output_item.added", response_id=response_id, output_index=0, item=item),
            self._event("conversation.item.added", previous_item_id=previous, item=item),
            self._event("response.function_call_arguments.delta", **where, delta=arguments_json),
            self._event(
                "response.function_call_arguments.done", **where, name=name, arguments=arguments_json
            ),
            self._event("conversation.item.done", previous_item_id=previous, item=done_item),
            self._event("response.output_item.done", response_id=response_id, output_index=0, item=done_item),
            self._event("response.done", response=self._response(response_id, "completed", [done_item])),
        )
        return call_id

    def drop(self, code: int | None = None, reason: str = "") -> None:
        """The connection ends abruptly: ``code=None`` is no close frame at all (a TCP reset).

        Events already pushed are still received first, as frames already read from a socket are;
        then every ``recv()``, waiting or future, raises ``UpstreamError``.
        """
        if self._ended:
            return
        self._dropped = True
        self._end(code, reason)

    def expire(self) -> None:
        """What the service does at the maximum session duration: ``session_expired``, then 1001."""
        self.push(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": "session_expired",
                    "message": SESSION_EXPIRED_MESSAGE,
                },
            }
        )
        self.drop(SESSION_EXPIRED_CLOSE_CODE, SESSION_EXPIRED_MESSAGE)

    def send_invalid_json(self) -> None:
        """The model sends a frame that is not JSON: its ``recv()`` gives ``[]``, as the real one does."""
        if not self._ended:
            self._inbox.put_nowait(_NOT_JSON)

    # ---- internals ----------------------------------------------------------------------------------

    def _new_id(self, kind: str) -> str:
        return f"{kind}_mem_{next(self._ids)}"

    def _event(self, type_: str, **fields: Any) -> JsonDict:
        return {"type": type_, "event_id": self._new_id("event"), **copy.deepcopy(fields)}

    def _response(
        self, response_id: str, status: str, output: list[JsonDict], *, output_tokens: int = 8
    ) -> JsonDict:
        return {
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": None,
            "output": output,
            "conversation_id": f"conv_mem_{self.number}",
            "output_modalities": ["audio"],
            "usage": None
            if status == "in_progress"
            else {"total_tokens": output_tokens + 1, "input_tokens": 1, "output_tokens": output_tokens},
            "metadata": None,
        }

    def _deliver(self, event: JsonDict) -> None:
        if not self._ended:
            self._inbox.put_nowait(event)

    def _end(self, code: int | None, reason: str) -> None:
        self._ended = True
        self._close_info = (code, reason)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._inbox.put_nowait(_END)

    def _answer(self, event: JsonDict) -> None:
        kind = event.get("type")
        if kind == "session.update":
            self._answer_update(event)
        elif kind == "conversation.item.create":
            item = copy.deepcopy(event.get("item") or {})
            item.setdefault("id", self._new_id("item"))
            item.setdefault("object", "realtime.item")
            item.setdefault("status", "completed")
            previous = event.get("previous_item_id", self._last_item_id)
            self._last_item_id = item["id"]
            self.push(
                self._event("conversation.item.added", previous_item_id=previous, item=item),
                self._event("conversation.item.done", previous_item_id=previous, item=item),
            )

    def _answer_update(self, event: JsonDict) -> None:
        if self.ignore_updates:
            return
        if self.reject_updates:
            answer = self._event(
                "error",
                error={
                    "type": "invalid_request_error",
                    "code": "invalid_value",
                    "message": "rejected",
                    "param": None,
                    "event_id": event.get("event_id"),
                },
            )
        else:
            self.session.update(copy.deepcopy(event.get("session") or {}))
            answer = self._event("session.updated", session=self.session)
        if self.update_delay_s <= 0:
            self._deliver(answer)
            return
        loop = asyncio.get_running_loop()

        def later() -> None:
            self._timers.discard(timer)
            self._deliver(answer)

        timer = loop.call_later(self.update_delay_s, later)
        self._timers.add(timer)


class MemoryConnector:
    """Makes ``MemoryUpstream`` connections (a ``Connector``); ``connections`` in the order made.

    ``configure`` shapes each new connection before it is handed out (make it reject updates, give it
    an ``expires_at``, ...); ``expires_in_s`` sets ``expires_at`` that far from now.
    """

    def __init__(
        self,
        *,
        configure: Callable[[MemoryUpstream], None] | None = None,
        expires_in_s: float | None = None,
        connect_delay_s: float = 0.0,
    ) -> None:
        self.connections: list[MemoryUpstream] = []
        self.configure = configure
        self.expires_in_s = expires_in_s
        self.connect_delay_s = connect_delay_s
        self.attempts = 0
        self._failures: deque[BaseException] = deque()
        self._made = asyncio.Event()

    @property
    def description(self) -> str:
        return "memory"

    def fail_next(self, n: int = 1, error: BaseException | None = None) -> None:
        """The next ``n`` ``connect()`` calls raise ``error`` (an ``UpstreamError`` by default)."""
        for _ in range(n):
            self._failures.append(
                error
                if error is not None
                else UpstreamError("Could not connect to the realtime model at memory")
            )

    async def connect(self) -> MemoryUpstream:
        self.attempts += 1
        if self.connect_delay_s > 0:
            await asyncio.sleep(self.connect_delay_s)
        if self._failures:
            raise self._failures.popleft()
        expires_at = None if self.expires_in_s is None else int(time.time() + self.expires_in_s)
        connection = MemoryUpstream(len(self.connections) + 1, expires_at=expires_at)
        if self.configure is not None:
            self.configure(connection)
        self.connections.append(connection)
        self._made.set()
        return connection

    async def wait_for_connection(self, n: int = 1, timeout: float = DEFAULT_TIMEOUT_S) -> MemoryUpstream:
        """The ``n``-th connection made (1 is the first), once it exists."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.connections) < n:
                    self._made.clear()
                    await self._made.wait()
        except TimeoutError:
            raise AssertionError(
                f"connection {n} was never made ({len(self.connections)} made, {self.attempts} attempts)"
            ) from None
        return self.connections[n - 1]


class MemoryClient:
    """The elder's side of a session (a ``ClientChannel``), driven by a test.

    ``say`` / ``put_text`` send frames to the relay, ``leave`` makes ``receive()`` return None (the
    client went away). What the relay sends is kept parsed in ``received`` (and as text in
    ``frames``); ``closed`` is the ``(code, reason)`` the relay closed with. ``pause()`` makes
    ``send`` wait until ``resume()``: a client that reads slowly.
    """

    def __init__(self) -> None:
        self.received: list[JsonDict] = []
        self.frames: list[str] = []
        self.closed: tuple[int, str] | None = None
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=QUEUE_MAX)
        self._gone = False  # left, or closed by the relay: receive() returns None from now on
        self._left = False
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._changed = asyncio.Event()
        self._reader = _Reader(self.received, self._changed)

    # ---- the ClientChannel protocol -----------------------------------------------------------------

    async def receive(self) -> str | None:
        if self._gone and self._inbox.empty():
            return None
        text = await self._inbox.get()
        if text is None:
            self._gone = True
            self._inbox.put_nowait(None)  # any other reader waiting sees the end too
        return text

    async def send(self, text: str) -> None:
        await self._resumed.wait()
        if self.closed is not None:
            raise RuntimeError('Cannot call "send" once a close message has been sent.')
        if self._left:
            return  # nobody is there to read it
        self.frames.append(text)
        self.received.append(json.loads(text))
        self._changed.set()

    async def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)
            self._end()
        self._changed.set()

    # ---- what a test does ---------------------------------------------------------------------------

    async def say(self, event: JsonDict) -> None:
        """Send ``event`` to the relay as one JSON text frame, and let the loop run once."""
        self.put_text(json.dumps(event, ensure_ascii=False))
        await asyncio.sleep(0)

    def put_text(self, text: str) -> None:
        """Send one raw text frame to the relay (need not be JSON)."""
        if self._gone:
            raise RuntimeError("the client has left or was closed")
        self._inbox.put_nowait(text)

    def leave(self) -> None:
        """The client goes away: ``receive()`` returns None once the frames before it are read."""
        self._left = True
        self._end()

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    @paused.setter
    def paused(self, value: bool) -> None:
        if value:
            self._resumed.clear()
        else:
            self._resumed.set()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def types(self) -> list[str]:
        return _types(self.received)

    async def until(
        self, type_: str, pred: EventFilter | None = None, timeout: float = DEFAULT_TIMEOUT_S
    ) -> JsonDict:
        """The first received event of ``type_`` (matching ``pred``) not yet consumed by ``until``."""

        def ended() -> str | None:
            if self.closed is None:
                return None
            return f"the client was closed {self.closed} without {type_}; got {self.types()}"

        return await self._reader.next(
            type_,
            pred,
            timeout,
            missing=lambda: f"no {type_} reached the client; got {self.types()}",
            ended=ended,
        )

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[int, str]:
        """The ``(code, reason)`` the relay closed the client with, once it has."""
        try:
            async with asyncio.timeout(timeout):
                while self.closed is None:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"the client was not closed; got {self.types()}") from None
        return self.closed

    def _end(self) -> None:
        if not self._gone:
            self._gone = True
            self._inbox.put_nowait(None)


__all__ = ["MemoryClient", "MemoryConnector", "MemoryUpstream"]
