"""A :class:`LiveSession` wired to the in-memory fakes, for tests of its paths (no sockets).

The session gets what the real manager gives it: instructions built by ``companion.prompt.build``
from a real :class:`CareContext` and the tools of ``tools_for``, the production ``base_session``,
a :class:`Metrics`, and a tool runtime; here the runtime is a fake a test controls, the model is a
:class:`MemoryConnector` and the elder's client a :class:`MemoryClient`. Timeouts are small so a
path that waits for one ends in well under a second.

Use it as ``async with SessionHarness(...) as h: upstream = await h.start()``; leaving the block
makes the client leave and waits (bounded) for ``session.run()`` to end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Final, cast

from companion.profiles.models import CareContext
from companion.prompt import Instructions, build
from companion.realtime.config import base_session_factory
from companion.realtime.metrics import Metrics
from companion.realtime.session import LiveSession, Prepared, SessionConfig, Status
from companion.realtime.tools import ToolCall, ToolResult, ToolRuntime, tools_for
from companion.realtime.toolwork import ToolWork
from companion.settings import Settings
from tests.prompt.factories import context
from tests.realtime.fakes import MemoryClient, MemoryConnector, MemoryUpstream

USER_ID: Final = "user-1"
REFRESH_TIMEOUT_S: Final = 0.5
RECONNECT_S: Final = 2.0
NO_ROTATION_S: Final = 3600.0
STOP_TIMEOUT_S: Final = 5.0
READ_OUT_S: Final = 0.5  # well within STOP_TIMEOUT_S: a test that leaves mid-answer is not held long
WAIT_S: Final = 5.0


class FakeClock:
    """A monotonic clock a test can move forward (``advance``) without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class FakeTools:
    """Stands in for :class:`ToolRuntime`: records calls, answers ``outputs``, raises for ``failing``."""

    def __init__(self) -> None:
        self.calls: list[tuple[ToolCall, str, str]] = []
        self.failing: set[str] = set()
        self.outputs: dict[str, dict[str, Any]] = {}
        self.gate: asyncio.Event | None = None  # set: runs wait for it (a write still in flight)
        self.finished: list[ToolCall] = []  # runs that came to their end (their write was made)
        self.changed = asyncio.Event()  # set whenever a run starts or finishes
        self.client_events: dict[str, tuple[dict[str, Any], ...]] = {}  # by tool: what the app must hear

    async def run(self, call: ToolCall, *, user_id: str, session_id: str) -> dict[str, Any]:
        self.calls.append((call, user_id, session_id))
        self.changed.set()
        if self.gate is not None:
            await self.gate.wait()
        if call.name in self.failing:
            raise RuntimeError(f"{call.name} exploded")
        self.finished.append(call)
        self.changed.set()
        return self.outputs.get(call.name, {"ok": True})

    async def answer(self, call: ToolCall, *, user_id: str, session_id: str) -> ToolResult:
        output = await self.run(call, user_id=user_id, session_id=session_id)
        return ToolResult(output, self.client_events.get(call.name, ()))


class FakeProfiles:
    """The person's care context as the store has it; ``prepare`` builds from it as the manager does."""

    def __init__(self, care: CareContext | None = None) -> None:
        self.context = care or context()
        self.reads = 0

    def built(self) -> Instructions:
        return build(self.context)

    def change(self, **profile_kw: Any) -> Instructions:
        """A caregiver saves the profile: the next ``prepare`` builds new instructions."""
        self.context = context(**profile_kw)
        return self.built()

    async def prepare(self, user_id: str) -> Prepared:
        assert user_id == self.context.user_id
        self.reads += 1
        return Prepared(self.context, build(self.context), tools_for(self.context))


async def eventually(
    predicate: Callable[[], bool], *, timeout: float = WAIT_S, what: str = "condition"
) -> None:
    """Wait (bounded) until ``predicate()`` holds."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {timeout:g} s") from None


class SessionHarness:
    """Builds one :class:`LiveSession` over the fakes; ``start`` runs it, leaving the block ends it."""

    def __init__(
        self,
        *,
        connector: MemoryConnector | None = None,
        refresh_timeout_s: float = REFRESH_TIMEOUT_S,
        reconnect_s: float = RECONNECT_S,
        max_session_s: float = NO_ROTATION_S,
        after_response: bool = False,
        clock: Callable[[], float] = time.monotonic,
        greet: bool = False,
        read_out_s: float = READ_OUT_S,
        credential_expires_in_s: float | None = None,
    ) -> None:
        self.connector = connector or MemoryConnector()
        self.client = MemoryClient()
        self.tools = FakeTools()
        self.tool_work = ToolWork()
        self.profiles = FakeProfiles()
        self.metrics = Metrics()
        self.config = SessionConfig(
            refresh_timeout_s=refresh_timeout_s,
            after_response=after_response,
            base_session=base_session_factory(Settings(voice="alloy")),
            max_session_s=max_session_s,
            reconnect_s=reconnect_s,
            read_out_s=read_out_s,
        )
        self.session = LiveSession(
            user_id=USER_ID,
            client=self.client,
            connector=self.connector,
            prepare=self.profiles.prepare,
            tools=cast(ToolRuntime, self.tools),
            config=self.config,
            metrics=self.metrics,
            greet=greet,
            credential_expires_in_s=credential_expires_in_s,
            tool_work=self.tool_work,
            clock=clock,
        )
        self.task: asyncio.Task[None] | None = None

    def run(self) -> asyncio.Task[None]:
        """Start ``session.run()`` as a task (once)."""
        if self.task is None:
            self.task = asyncio.create_task(self.session.run(), name="harness-run")
        return self.task

    async def start(self, timeout: float = WAIT_S) -> MemoryUpstream:
        """Run the session until the client has its ``session.created``; the first model connection."""
        self.run()
        await self.client.until("session.created", timeout=timeout)
        assert self.session.status is Status.ACTIVE
        return await self.connector.wait_for_connection(1, timeout=timeout)

    async def wait_status(self, status: Status, timeout: float = WAIT_S) -> None:
        await eventually(
            lambda: self.session.status is status,
            timeout=timeout,
            what=f"status {status.value} (it is {self.session.status.value})",
        )

    async def wait_ended(self, timeout: float = WAIT_S) -> None:
        """``session.run()`` returned."""
        assert self.task is not None
        await asyncio.wait_for(asyncio.shield(self.task), timeout)

    def reasons(self) -> list[str]:
        return [record.reason.value for record in self.session.connections]

    def client_events(self, type_: str) -> list[dict[str, Any]]:
        return [event for event in self.client.received if event.get("type") == type_]

    async def stop(self) -> None:
        """The client leaves; ``run()`` must end within a bound, or it is cancelled and the test fails."""
        if self.task is None:
            return
        self.client.resume()
        if self.client.closed is None:
            self.client.leave()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), STOP_TIMEOUT_S)
        except TimeoutError:
            self.task.cancel()
            raise AssertionError("session.run() did not end after the client left") from None

    async def __aenter__(self) -> SessionHarness:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


__all__ = [
    "USER_ID",
    "FakeClock",
    "FakeProfiles",
    "FakeTools",
    "SessionHarness",
    "eventually",
]
