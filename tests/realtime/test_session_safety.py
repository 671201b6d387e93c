"""A live session's safety bounds: frames it cannot be crashed with, a refresh that answers in time,
a credential that expires, and server tool calls that outlive the conversation that made them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from companion.errors import UpstreamTimeout
from companion.realtime import protocol
from companion.realtime.policy import MAX_CLIENT_EVENT_CHARS
from companion.realtime.session import Status
from companion.realtime.toolwork import ToolWork
from tests.realtime.fakes import MemoryUpstream
from tests.realtime.session_harness import SessionHarness, eventually
from tests.realtime.test_session_paths import no_client_errors, reaches

FELL = '{"severity":"urgent","summary":"The person says they fell and cannot get up"}'


def call_events(response_id: str, name: str, arguments: str) -> list[dict[str, Any]]:
    """The rest of a response that ``response.created`` began: one call of ``name``, then its end."""
    item = {
        "id": "item_call",
        "type": "function_call",
        "status": "in_progress",
        "name": name,
        "call_id": "c1",
    }
    done = {**item, "status": "completed", "arguments": arguments}
    return [
        {"type": "response.output_item.added", "response_id": response_id, "output_index": 0, "item": item},
        {"type": "conversation.item.added", "item": item},
        {
            "type": "response.function_call_arguments.done",
            "item_id": "item_call",
            "call_id": "c1",
            "arguments": arguments,
        },
        {"type": "conversation.item.done", "item": done},
        {"type": "response.output_item.done", "response_id": response_id, "output_index": 0, "item": done},
        {"type": "response.done", "response": {"id": response_id, "status": "completed", "output": [done]}},
    ]


def response_created(response_id: str) -> dict[str, Any]:
    return {
        "type": "response.created",
        "response": {"id": response_id, "status": "in_progress", "output": []},
    }


# ---- frames that must not end a conversation --------------------------------------------------------


async def test_a_deeply_nested_frame_is_invalid_json_and_the_session_goes_on() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        h.client.put_text("[" * 100_000)
        error = await h.client.until("error")
        assert error["error"]["code"] == "invalid_json"
        assert h.session.status is Status.ACTIVE
        await reaches(first, h, "after the nested frame")  # still relaying


async def test_an_oversized_item_is_refused_and_the_session_goes_on() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        h.client.put_text(json.dumps(protocol.user_text_message("x" * 2_000_000)))
        error = await h.client.until("error")
        assert error["error"]["code"] == "event_too_large"
        assert str(MAX_CLIENT_EVENT_CHARS) in error["error"]["message"]
        await reaches(first, h, "after the big item")
        assert first.sent_of("conversation.item.create") == []  # none of it reached the model


# ---- a refresh answers its caller within the refresh timeout ----------------------------------------


async def test_a_refresh_waiting_for_a_switch_answers_within_the_refresh_timeout_and_applies_later() -> None:
    timeout_s = 0.3
    async with SessionHarness(refresh_timeout_s=timeout_s, reconnect_s=10.0) as h:
        first = await h.start()
        h.connector.connect_delay_s = 1.5  # the new model session is slow to open
        first.drop(None)
        await h.wait_status(Status.RECONNECTING)
        new = h.profiles.change(preferred="מוישה")

        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        with pytest.raises(UpstreamTimeout) as raised:
            await asyncio.wait_for(h.session.refresh(), 5.0)
        waited = loop.time() - asked_at
        assert waited < timeout_s + 0.2, f"the caller waited {waited:.2f} s"
        assert "0.3 s" in raised.value.message

        second = await h.connector.wait_for_connection(2)
        await h.wait_status(Status.ACTIVE)
        update = await second.wait_sent("session.update")
        assert update["session"]["instructions"] == new.text  # the save still reaches the new session
        await eventually(
            lambda: h.session.instructions is not None and h.session.instructions.version == new.version,
            what="the new instructions applied",
        )


# ---- the credential's expiry ------------------------------------------------------------------------


async def test_the_conversation_ends_when_its_credential_expires() -> None:
    async with SessionHarness(credential_expires_in_s=0.2) as h:
        first = await h.start()
        await h.wait_ended()
        assert h.client.closed == (1008, "access expired: sign in again")
        assert first.closed, "the model connection was closed with it"
        assert h.session.status is Status.CLOSED


async def test_an_already_expired_credential_opens_no_conversation_for_long() -> None:
    async with SessionHarness(credential_expires_in_s=-1.0) as h:
        h.run()
        await h.wait_ended()
        assert h.client.closed is not None and h.client.closed[0] == 1008


# ---- server tool calls outlive the conversation -----------------------------------------------------


async def _the_person_fell(h: SessionHarness, first: MemoryUpstream) -> str:
    """The person says they fell; the model's answer starts. Its response id."""
    await h.client.say(protocol.user_text_message("I fell and I cannot get up"))
    await first.wait_sent("conversation.item.create")
    first.push(response_created("resp_fell"))
    await h.client.until("response.created")
    return "resp_fell"


async def test_a_tool_call_on_its_way_when_the_tablet_drops_is_carried_out() -> None:
    async with SessionHarness(read_out_s=5.0) as h:
        first = await h.start()
        response_id = await _the_person_fell(h, first)
        h.client.leave()  # the tablet drops the moment the answer starts
        first.push(*call_events(response_id, "alert_family", FELL))
        await h.wait_ended()
        assert [(c.name, c.arguments) for c, _, _ in h.tools.calls] == [("alert_family", FELL)]
        await h.tool_work.drain(5.0)
        assert [c.name for c in h.tools.finished] == ["alert_family"]
        assert first.closed


async def test_a_tool_run_in_flight_when_the_session_ends_still_finishes() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        h.tools.gate = asyncio.Event()  # the alert's write is slow
        response_id = await _the_person_fell(h, first)
        first.push(*call_events(response_id, "alert_family", FELL))
        await eventually(lambda: bool(h.tools.calls), what="the alert's run started")
        await h.session.close()  # the conversation ends (revoked, failed, hung up) mid-write
        await h.stop()
        assert h.tools.finished == [] and h.tool_work.running == 1  # still writing, not cancelled
        h.tools.gate.set()
        assert await h.tool_work.drain(5.0) == 0
        assert [c.name for c in h.tools.finished] == ["alert_family"]
        no_client_errors(h)


async def test_a_client_leaving_in_a_quiet_moment_is_not_held() -> None:
    async with SessionHarness(read_out_s=30.0) as h:
        await h.start()
        h.client.leave()
        await h.wait_ended(timeout=5.0)  # a read-out of 30 s would fail this bound


async def test_shutdown_waits_for_tool_runs_within_a_bound() -> None:
    work = ToolWork()
    release = asyncio.Event()
    done: list[str] = []

    async def write(name: str, gate: asyncio.Event | None) -> None:
        if gate is not None:
            await gate.wait()
        done.append(name)

    work.start(write("quick", None), "quick")
    stuck = work.start(write("stuck", release), "stuck")
    assert await work.drain(0.2) == 1  # the one that could not end was cancelled, and counted
    assert done == ["quick"]
    assert stuck.cancelled()
    assert work.running == 0
