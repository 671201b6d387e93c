"""Every way a live session's model connection can fail, driven through the in-memory fakes.

Each test plays one path end to end: the session under test is the real :class:`LiveSession`, the
model a :class:`MemoryUpstream` behind a :class:`MemoryConnector`, the elder a :class:`MemoryClient`
(see ``session_harness.py``). No sockets; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from typing import Any

import pytest

from companion.conversations.notes import Ended, Note, TurnEnded
from companion.errors import UpstreamTimeout
from companion.profiles.models import CareContext
from companion.realtime import protocol
from companion.realtime.mirror import CUT_REASON, RECORD_KEY, REPLAY_HEADER
from companion.realtime.policy import Decision, RelayPolicy
from companion.realtime.reconnect import HOLD_AUDIO_S
from companion.realtime.session import RefreshResult, Status
from tests.realtime.fakes import MemoryConnector, MemoryUpstream
from tests.realtime.session_harness import USER_ID, FakeClock, SessionHarness, eventually

JsonDict = dict[str, Any]
INTERNAL_ERROR = 1011
SAID = "I planted tomatoes this morning"
ANSWERED = "How lovely, tomatoes love the sun"
PARTIAL = "Tell me, which variety did"


# ---- what the two ends do ---------------------------------------------------------------------------


def audio_append(tag: str) -> JsonDict:
    """A client audio chunk whose payload names it, so a test can follow it to the model."""
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(tag.encode()).decode()}


def sent_audio(upstream: MemoryUpstream) -> list[str]:
    return [base64.b64decode(e["audio"]).decode() for e in upstream.sent_of("input_audio_buffer.append")]


def is_replay(event: JsonDict) -> bool:
    """The replay's first item: its fixed system header (the record follows it)."""
    item = event.get("item") or {}
    return item.get("role") == "system" and item.get("content") == [
        {"type": "input_text", "text": REPLAY_HEADER}
    ]


def replay_entries(event: JsonDict) -> list[JsonDict]:
    """The entries of the replay's record: the user message after the header."""
    item = event["item"]
    assert (item["type"], item["role"]) == ("message", "user")
    entries: list[JsonDict] = json.loads(item["content"][0]["text"])[RECORD_KEY]
    return entries


def start_response(upstream: MemoryUpstream, text: str = PARTIAL, *, deltas: int = 3) -> str:
    """The model starts a spoken answer and stops mid-way (no ``response.done``); its ``response.id``."""
    response_id = f"resp_partial_{upstream.number}"
    item_id = f"item_partial_{upstream.number}"
    item = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    where = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
    audio = base64.b64encode(bytes(960)).decode()
    upstream.push(
        {"type": "response.created", "response": {"id": response_id, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "response_id": response_id, "output_index": 0, "item": item},
        {"type": "conversation.item.added", "item": item},
        {"type": "response.content_part.added", **where, "part": {"type": "audio", "transcript": ""}},
        *({"type": "response.output_audio.delta", **where, "delta": audio} for _ in range(deltas)),
        {"type": "response.output_audio_transcript.delta", **where, "delta": text},
    )
    return response_id


def finish_response(upstream: MemoryUpstream, response_id: str) -> None:
    upstream.push(
        {
            "type": "response.done",
            "response": {"id": response_id, "status": "completed", "output": [], "usage": None},
        }
    )


async def one_turn(h: SessionHarness, upstream: MemoryUpstream) -> None:
    """The person types a message and the companion answers it aloud, completely."""
    await h.client.say(protocol.user_text_message(SAID, event_id="evt_client_said"))
    await upstream.wait_sent("conversation.item.create")
    await h.client.until("conversation.item.done")
    await upstream.respond_audio(ANSWERED)
    await h.client.until("response.done", lambda e: e["response"]["status"] == "completed")


async def reaches(upstream: MemoryUpstream, h: SessionHarness, tag: str) -> None:
    """A client audio chunk sent now arrives at ``upstream``."""
    await h.client.say(audio_append(tag))
    await upstream.wait_sent(
        "input_audio_buffer.append", lambda e: base64.b64decode(e["audio"]).decode() == tag
    )


def no_client_errors(h: SessionHarness) -> None:
    assert h.client_events("error") == [], h.client_events("error")


def incomplete_responses(h: SessionHarness) -> list[JsonDict]:
    return [e for e in h.client_events("response.done") if e["response"]["status"] == "incomplete"]


# ---- starting ---------------------------------------------------------------------------------------


async def test_a_failed_start_is_retried_and_the_client_sees_one_start() -> None:
    async with SessionHarness() as h:
        h.connector.fail_next(2)
        upstream = await h.start()

        assert h.connector.attempts == 3
        assert len(h.connector.connections) == 1
        assert len(h.client_events("session.created")) == 1
        assert [(c.number, c.reason.value, c.resume_ms) for c in h.session.connections] == [
            (1, "start", None)
        ]
        [update] = upstream.sent_of("session.update")
        assert update["session"]["instructions"] == h.profiles.built().text
        assert h.session.instructions is not None
        assert h.session.instructions.version == h.profiles.built().version
        no_client_errors(h)


async def test_a_refused_start_is_not_retried() -> None:
    connector = MemoryConnector(configure=lambda u: setattr(u, "reject_updates", True))
    async with SessionHarness(connector=connector) as h:
        h.run()
        error = await h.client.until("error")
        assert error["error"]["code"] == "upstream_unavailable"
        assert (await h.client.wait_closed())[0] == INTERNAL_ERROR
        await h.wait_ended()

        assert connector.attempts == 1
        assert connector.connections[0].closed
        assert h.session.status is Status.CLOSED
        assert h.session.connections == []
        assert "session.created" not in h.client.types()


async def test_a_start_gives_up_after_reconnect_s() -> None:
    async with SessionHarness(reconnect_s=0.6) as h:
        h.connector.fail_next(1_000)
        began = time.monotonic()
        h.run()
        error = await h.client.until("error")
        assert error["error"]["code"] == "upstream_unavailable"
        assert (await h.client.wait_closed())[0] == INTERNAL_ERROR
        await h.wait_ended()

        assert time.monotonic() - began < 0.6 + 1.0
        assert h.connector.attempts >= 2  # retried with backoff before giving up
        assert h.connector.connections == []
        assert h.session.status is Status.CLOSED
        assert "session.created" not in h.client.types()


# ---- losing the model connection --------------------------------------------------------------------


async def test_a_drop_mid_answer_ends_it_as_incomplete_and_resumes_with_a_replay() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        await one_turn(h, first)
        response_id = start_response(first)
        await h.client.until("response.output_audio_transcript.delta", lambda e: e["delta"] == PARTIAL)

        first.drop(None)

        cut = await h.client.until("response.done", lambda e: e["response"]["status"] == "incomplete")
        assert cut["response"]["id"] == response_id
        assert cut["response"]["status_details"]["reason"] == CUT_REASON
        second = await h.connector.wait_for_connection(2)
        await h.wait_status(Status.ACTIVE)

        update = await second.wait_sent("session.update")
        assert update["session"]["instructions"] == h.profiles.built().text
        assert update["session"]["tools"]  # the tools are set again on the new model session
        header = await second.wait_sent("conversation.item.create")
        assert is_replay(header)
        assert second.sent.index(update) < second.sent.index(header)
        record = await second.wait_sent("conversation.item.create")
        assert replay_entries(record) == [
            {"role": "person", "text": SAID},
            {"role": "companion", "text": ANSWERED},
            {"role": "companion", "text": PARTIAL, "cut_off": True},
        ]
        assert len(second.sent_of("conversation.item.create")) == 2  # the header and the record only
        await reaches(second, h, "after the drop")
        assert not any(is_replay(e) for e in h.client.received)  # the client has heard all this already

        assert h.reasons() == ["start", "dropped"]
        assert len(h.client_events("session.created")) == 1
        no_client_errors(h)
        assert h.session.status is Status.ACTIVE


def push_call_without_done(upstream: MemoryUpstream, name: str, call_id: str) -> None:
    """The model calls ``name`` and completes the call item, but its ``response.done`` never comes."""
    item = {
        "id": f"item_{call_id}",
        "type": "function_call",
        "status": "in_progress",
        "name": name,
        "call_id": call_id,
        "arguments": "",
    }
    done = {**item, "status": "completed", "arguments": json.dumps({"text": "likes tea"})}
    upstream.push(
        {"type": "response.created", "response": {"id": f"resp_{call_id}", "status": "in_progress"}},
        {"type": "response.output_item.added", "response_id": f"resp_{call_id}", "item": item},
        {"type": "response.output_item.done", "response_id": f"resp_{call_id}", "item": done},
    )


async def test_a_tool_call_cut_by_a_drop_does_not_swallow_the_next_calls_answer() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        push_call_without_done(first, "remember", "call_cut")
        await eventually(lambda: len(h.tools.calls) == 1, what="the cut call run")
        first.drop(None)
        second = await h.connector.wait_for_connection(2)
        await h.wait_status(Status.ACTIVE)

        call_id = second.push_function_call("remember", json.dumps({"text": "likes black coffee"}))

        output = await second.wait_sent(
            "conversation.item.create",
            lambda e: e["item"].get("type") == "function_call_output",
            timeout=2,
        )
        assert output["item"]["call_id"] == call_id
        await second.wait_sent("response.create", timeout=2)


async def test_an_expiry_reconnects_without_telling_the_client() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        await one_turn(h, first)

        first.expire()

        second = await h.connector.wait_for_connection(2)
        await h.wait_status(Status.ACTIVE)
        assert h.reasons() == ["start", "expired"]
        assert is_replay(await second.wait_sent("conversation.item.create"))
        record = await second.wait_sent("conversation.item.create")
        assert {"role": "person", "text": SAID} in replay_entries(record)
        await reaches(second, h, "after expiry")
        no_client_errors(h)
        assert incomplete_responses(h) == []  # nothing was being said
        assert len(h.client_events("session.created")) == 1


# ---- profile saves and model connections ------------------------------------------------------------


async def test_a_refresh_in_flight_when_the_link_drops_is_applied_to_the_new_session() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        old = h.profiles.built()
        first.ignore_updates = True
        new = h.profiles.change(preferred="מוישה")
        assert new.version != old.version
        refresh = asyncio.create_task(h.session.refresh())
        await first.wait_sent("session.update", lambda e: e["session"]["instructions"] == new.text)

        first.drop(None)

        record = await asyncio.wait_for(refresh, 5)
        assert record.result is RefreshResult.REFRESHED
        assert record.version == new.version
        second = h.connector.connections[1]
        assert [u["session"]["instructions"] for u in second.sent_of("session.update")] == [new.text]
        assert h.session.instructions is not None
        assert h.session.instructions.version == new.version
        assert h.reasons() == ["start", "dropped"]
        assert h.session.status is Status.ACTIVE
        no_client_errors(h)


def delay_updates_on(number: int, delay_s: float) -> Any:
    def configure(upstream: MemoryUpstream) -> None:
        if upstream.number == number:
            upstream.update_delay_s = delay_s

    return configure


@pytest.mark.parametrize("switch", ["dropped", "rotation"])
async def test_a_save_during_a_switch_is_applied_after_it_in_order(switch: str) -> None:
    # The new model session is set up with the profile as it was when the switch read it (v2); a save
    # made while that set-up is still waiting for the model's confirmation (v3) must follow it, not be
    # lost, and not be overtaken by it.
    max_session_s = 0.3 if switch == "rotation" else 3600.0
    async with SessionHarness(max_session_s=max_session_s) as h:
        first = await h.start()
        h.connector.configure = delay_updates_on(2, 0.2)
        v2 = h.profiles.change(preferred="מוישה")
        if switch == "dropped":
            first.drop(None)
        second = await h.connector.wait_for_connection(2)
        await second.wait_sent("session.update")
        assert h.session.status is Status.RECONNECTING  # still waiting for the confirmation
        v3 = h.profiles.change(preferred="מושיקו")

        record = await asyncio.wait_for(h.session.refresh(), 5)

        assert record.result is RefreshResult.REFRESHED
        assert record.version == v3.version
        applied = [u["session"]["instructions"] for u in second.sent_of("session.update")]
        assert applied == [v2.text, v3.text]
        assert h.session.instructions is not None
        assert h.session.instructions.version == v3.version
        assert h.reasons() == ["start", switch]
        assert first.closed or first.dropped
        no_client_errors(h)


async def test_saves_during_a_reconnection_are_joined_and_the_latest_wins() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        h.connector.connect_delay_s = 0.3
        first.drop(None)
        await h.wait_status(Status.RECONNECTING)
        h.profiles.change(preferred="מוישה")
        earlier = asyncio.create_task(h.session.refresh())
        await asyncio.sleep(0)
        latest = h.profiles.change(preferred="מושיקו")
        later = asyncio.create_task(h.session.refresh())

        records = await asyncio.wait_for(asyncio.gather(earlier, later), 5)

        assert [r.result for r in records] == [RefreshResult.REFRESHED, RefreshResult.REFRESHED]
        assert {r.version for r in records} == {latest.version}
        second = h.connector.connections[1]
        assert [u["session"]["instructions"] for u in second.sent_of("session.update")][-1] == latest.text
        assert h.session.instructions is not None
        assert h.session.instructions.version == latest.version


async def test_a_slow_client_does_not_delay_the_refresh_confirmation() -> None:
    async with SessionHarness() as h:
        upstream = await h.start()
        before = len(h.client.received)
        h.client.pause()
        start_response(upstream, deltas=400)
        new = h.profiles.change(preferred="מוישה")

        began = time.monotonic()
        record = await asyncio.wait_for(h.session.refresh(), h.config.refresh_timeout_s)

        assert record.result is RefreshResult.REFRESHED
        assert time.monotonic() - began < h.config.refresh_timeout_s
        assert h.session.instructions is not None
        assert h.session.instructions.version == new.version
        assert len(h.client.received) == before  # the client read nothing meanwhile
        h.client.resume()
        await eventually(
            lambda: len(h.client_events("response.output_audio.delta")) == 400, what="all audio delivered"
        )
        assert h.session.as_json()["upstream"]["clientAudioDropped"] == 0
        assert "session.updated" not in h.client.types()


async def test_a_late_confirmation_is_adopted_and_not_relayed() -> None:
    async with SessionHarness(refresh_timeout_s=0.3) as h:
        upstream = await h.start()
        old = h.profiles.built()
        upstream.update_delay_s = 0.8
        new = h.profiles.change(preferred="מוישה")

        with pytest.raises(UpstreamTimeout):
            await asyncio.wait_for(h.session.refresh(), 3)

        assert h.session.last_refresh is not None
        assert h.session.last_refresh.result is RefreshResult.TIMEOUT
        assert h.session.instructions is not None
        assert h.session.instructions.version == old.version
        await eventually(
            lambda: h.session.instructions is not None and h.session.instructions.version == new.version,
            what="the late confirmation adopted",
        )
        late = h.session.last_refresh
        assert late.result is RefreshResult.REFRESHED
        assert late.version == new.version
        assert h.session.previous_instructions is not None
        assert h.session.previous_instructions.version == old.version
        # The model's session.updated did reach the relay; the client must not see it.
        await reaches(upstream, h, "after the late confirmation")
        assert "session.updated" not in h.client.types()
        assert h.session.status is Status.ACTIVE


# ---- tools and malformed frames -----------------------------------------------------------------------


async def test_a_failing_tool_answers_the_model_with_tool_failed(caplog: pytest.LogCaptureFixture) -> None:
    async with SessionHarness() as h:
        upstream = await h.start()
        h.tools.failing.add("remember")

        with caplog.at_level(logging.ERROR, logger="companion.realtime.session"):
            call_id = upstream.push_function_call("remember", json.dumps({"text": "likes black coffee"}))
            output = await upstream.wait_sent(
                "conversation.item.create", lambda e: e["item"].get("type") == "function_call_output"
            )
            create = await upstream.wait_sent("response.create")

        assert output["item"]["call_id"] == call_id
        answer = json.loads(output["item"]["output"])
        assert answer["ok"] is False
        assert answer["error"] == "tool_failed"
        assert upstream.sent.index(output) < upstream.sent.index(create)
        [(call, user_id, session_id)] = h.tools.calls
        assert (call.name, call.call_id, user_id, session_id) == ("remember", call_id, USER_ID, h.session.id)
        assert any(h.session.id in r.getMessage() and "remember" in r.getMessage() for r in caplog.records)

        done = await h.client.until("response.done")
        assert done["response"]["output"] == []  # the call is taken out of what the client sees
        assert not any(call_id in frame for frame in h.client.frames)
        assert "response.function_call_arguments.done" not in h.client.types()
        assert h.session.status is Status.ACTIVE
        no_client_errors(h)
        await reaches(upstream, h, "after the tool")


async def test_a_server_tools_notice_reaches_the_client_and_its_call_does_not() -> None:
    """show_photos is answered by the relay; the photo to show reaches the app as the relay's own event."""
    async with SessionHarness() as h:
        upstream = await h.start()
        notice = {"type": "companion.photo", "photo": {"id": "photo-1", "url": "/app/photos/photo-1"}}
        h.tools.client_events["show_photos"] = (notice,)
        h.tools.outputs["show_photos"] = {"ok": True, "showing": {"number": 1, "of": 1}}
        call_id = upstream.push_function_call(
            "show_photos", json.dumps({"trigger_reason": "user_requested_photos"})
        )
        output = await upstream.wait_sent(
            "conversation.item.create", lambda e: e["item"].get("type") == "function_call_output"
        )
        assert json.loads(output["item"]["output"])["showing"] == {"number": 1, "of": 1}
        shown = await h.client.until("companion.photo")
        assert shown["photo"] == notice["photo"]
        assert not any(call_id in frame for frame in h.client.frames)
        no_client_errors(h)


async def test_invalid_json_from_the_client_is_refused_and_the_session_goes_on() -> None:
    async with SessionHarness() as h:
        upstream = await h.start()
        h.client.put_text("{this is not json")

        error = await h.client.until("error")
        assert error["error"]["code"] == "invalid_json"
        await reaches(upstream, h, "valid again")
        assert h.session.status is Status.ACTIVE
        assert h.client.closed is None


async def test_invalid_json_from_the_model_is_ignored() -> None:
    async with SessionHarness() as h:
        upstream = await h.start()
        upstream.send_invalid_json()
        upstream.push({"type": "input_audio_buffer.speech_started", "item_id": "item_x", "audio_start_ms": 5})

        started = await h.client.until("input_audio_buffer.speech_started")
        assert started["item_id"] == "item_x"
        assert h.session.status is Status.ACTIVE
        assert h.reasons() == ["start"]
        no_client_errors(h)


# ---- what the client says during a switch -------------------------------------------------------------


async def test_the_clients_own_session_settings_are_applied_to_a_new_model_session() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        await h.client.say({"type": "session.update", "session": {"audio": {"output": {"voice": "verse"}}}})
        await first.wait_sent("session.update", lambda e: "instructions" not in e["session"])
        first.drop(None)

        second = await h.connector.wait_for_connection(2)
        await h.wait_status(Status.ACTIVE)
        [update] = second.sent_of("session.update")
        assert update["session"]["audio"]["output"]["voice"] == "verse"
        assert update["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"  # the base kept
        assert update["session"]["instructions"] == h.profiles.built().text


async def test_client_events_during_a_switch_are_held_and_sent_after_the_replay() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        await one_turn(h, first)
        h.connector.connect_delay_s = 0.5
        first.drop(None)
        await h.wait_status(Status.RECONNECTING)
        tags = [f"held {i}" for i in range(5)]
        for tag in tags:
            await h.client.say(audio_append(tag))
        await h.client.say({"type": "input_audio_buffer.commit"})
        assert h.connector.connections == [first]  # all of it said before the new connection exists

        second = await h.connector.wait_for_connection(2)
        await h.wait_status(Status.ACTIVE)
        await second.wait_sent("input_audio_buffer.commit")

        kinds = [e["type"] for e in second.sent]
        assert kinds[0] == "session.update"
        assert is_replay(second.sent[1])
        assert replay_entries(second.sent[2])
        assert kinds[3:] == ["input_audio_buffer.append"] * len(tags) + ["input_audio_buffer.commit"]
        assert sent_audio(second) == tags
        assert sent_audio(first) == []
        assert h.session.held.audio_dropped == 0
        no_client_errors(h)


async def test_audio_held_longer_than_hold_audio_s_is_dropped_and_counted() -> None:
    clock = FakeClock()
    async with SessionHarness(clock=clock) as h:
        first = await h.start()
        h.connector.connect_delay_s = 0.3
        first.drop(None)
        await h.wait_status(Status.RECONNECTING)
        for i in range(3):
            await h.client.say(audio_append(f"stale {i}"))
        await h.client.say({"type": "input_audio_buffer.clear"})
        clock.advance(HOLD_AUDIO_S + 0.5)
        await h.client.say(audio_append("fresh"))

        second = await h.connector.wait_for_connection(2)
        await h.wait_status(Status.ACTIVE)
        await second.wait_sent("input_audio_buffer.append")

        assert sent_audio(second) == ["fresh"]
        assert second.sent_of("input_audio_buffer.clear")  # only audio goes stale
        assert h.session.held.audio_dropped == 3
        assert h.session.as_json()["upstream"]["heldAudioDropped"] == 3
        assert h.metrics.registry.get_sample_value("companion_held_audio_dropped_total") == 3
        no_client_errors(h)


def slow_sends(delay_s: float) -> Any:
    """Each send to the model yields to the loop for ``delay_s``, as a real socket's may."""

    def configure(upstream: MemoryUpstream) -> None:
        send = upstream.send

        async def slow(event: JsonDict, *, frame: str | None = None) -> None:
            await asyncio.sleep(delay_s)
            await send(event, frame=frame)

        upstream.send = slow  # type: ignore[method-assign]

    return configure


async def test_client_events_read_while_held_ones_are_flushed_are_not_lost() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        h.connector.configure = slow_sends(0.02)
        h.connector.connect_delay_s = 0.3
        first.drop(None)
        await h.wait_status(Status.RECONNECTING)
        held = [f"held {i}" for i in range(10)]
        for tag in held:
            await h.client.say(audio_append(tag))
        second = await h.connector.wait_for_connection(2)
        await second.wait_sent("input_audio_buffer.append")  # the flush has begun

        await h.client.say(audio_append("during the flush"))
        await h.wait_status(Status.ACTIVE)
        await h.client.say(audio_append("after the flush"))

        await eventually(lambda: "after the flush" in sent_audio(second), what="the last chunk sent")
        assert sent_audio(second) == [*held, "during the flush", "after the flush"]
        assert len(h.session.held) == 0


# ---- failures of the relay itself ---------------------------------------------------------------------


class ExplodingPolicy(RelayPolicy):
    """A relay policy with a bug: it raises once on one kind of model event."""

    def __init__(self, on: str) -> None:
        super().__init__()
        self.on = on
        self.exploded = 0

    def from_model(self, event: JsonDict, **kw: Any) -> list[Decision]:
        if event.get("type") == self.on and not self.exploded:
            self.exploded += 1
            raise RuntimeError("policy bug")
        return super().from_model(event, **kw)


async def test_a_failing_model_reader_is_logged_and_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    async with SessionHarness() as h:
        h.session.policy = ExplodingPolicy("rate_limits.updated")
        first = await h.start()
        await one_turn(h, first)

        with caplog.at_level(logging.ERROR, logger="companion.realtime.session"):
            first.push({"type": "rate_limits.updated", "rate_limits": []})
            second = await h.connector.wait_for_connection(2)
            await h.wait_status(Status.ACTIVE)

        failures = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
        assert failures, [r.getMessage() for r in caplog.records]
        assert h.session.id in failures[0].getMessage()
        assert h.reasons() == ["start", "error"]
        await eventually(lambda: first.closed, what="the failed connection closed")
        assert is_replay(await second.wait_sent("conversation.item.create"))
        record = await second.wait_sent("conversation.item.create")
        assert {"role": "person", "text": SAID} in replay_entries(record)
        await reaches(second, h, "after the error")
        no_client_errors(h)


class ClientPolicyBug(RelayPolicy):
    """A relay policy with a bug on the client side: it raises on a frame containing ``boom``."""

    def from_client(self, text: str, **kw: Any) -> list[Decision]:
        if "boom" in text:
            raise RuntimeError("client policy bug")
        return super().from_client(text, **kw)


async def test_a_failing_client_reader_ends_with_internal_error() -> None:
    async with SessionHarness() as h:
        h.session.policy = ClientPolicyBug()
        first = await h.start()
        # not an audio append: those take the policy's fast path, which has no bug to inject
        await h.client.say({"type": "input_audio_buffer.commit", "event_id": "boom"})

        assert (await h.client.wait_closed())[0] == INTERNAL_ERROR
        await h.wait_ended()
        assert h.session.status is Status.CLOSED
        assert first.closed
        assert [e["error"]["code"] for e in h.client_events("error")] == ["internal_error"]


async def test_reconnecting_gives_up_after_reconnect_s() -> None:
    async with SessionHarness(reconnect_s=0.6) as h:
        first = await h.start()
        h.connector.fail_next(1_000)
        first.drop(None)

        error = await h.client.until("error")
        assert error["error"]["code"] == "upstream_disconnected"
        assert (await h.client.wait_closed())[0] == INTERNAL_ERROR
        await h.wait_ended()

        assert h.session.status is Status.CLOSED
        assert h.connector.attempts >= 3  # the start, then the reconnection retried with backoff
        assert h.reasons() == ["start"]
        assert len(h.client_events("error")) == 1


# ---- proactive rotation -------------------------------------------------------------------------------


async def test_a_drop_while_a_rotation_attempt_fails_reconnects_instead_of_ending() -> None:
    async with SessionHarness(max_session_s=0.3) as h:
        first = await h.start()
        h.connector.connect_delay_s = 0.3
        h.connector.fail_next(1)  # the rotation's one attempt will fail...
        await eventually(lambda: h.connector.attempts == 2, what="the rotation's attempt")
        first.drop(None)  # ...and the connection it meant to replace is lost meanwhile

        await h.connector.wait_for_connection(2, timeout=4)
        await h.wait_status(Status.ACTIVE)
        assert h.reasons() == ["start", "dropped"]
        assert h.client.closed is None
        no_client_errors(h)


async def test_an_answer_started_during_a_rotation_is_ended_for_the_client() -> None:
    async with SessionHarness(max_session_s=0.3) as h:
        first = await h.start()
        h.connector.connect_delay_s = 0.4
        await eventually(lambda: h.connector.attempts == 2, what="the rotation's attempt")
        assert h.session.status is Status.RECONNECTING
        response_id = start_response(first)  # the old model answers something said just before
        await h.client.until("response.created")

        await h.connector.wait_for_connection(2)
        await h.wait_status(Status.ACTIVE)

        done = await h.client.until("response.done", lambda e: e["response"]["id"] == response_id, timeout=2)
        assert done["response"]["status"] == "incomplete"
        assert not h.session.response_active


# ---- what the API shows, and the end ------------------------------------------------------------------


async def test_as_json_reports_the_model_connections() -> None:
    async with SessionHarness() as h:
        first = await h.start()
        first.drop(None)
        await h.connector.wait_for_connection(2)
        await h.wait_status(Status.ACTIVE)

        upstream = h.session.as_json()["upstream"]
        assert upstream["connections"] == 2
        history = upstream["history"]
        assert [(c["number"], c["reason"]) for c in history] == [(1, "start"), (2, "dropped")]
        assert history[0]["resumeMs"] is None
        assert isinstance(history[1]["resumeMs"], float)
        assert history[1]["resumeMs"] >= 0
        assert history[0]["at"] <= history[1]["at"]
        assert upstream["heldAudioDropped"] == 0
        assert json.loads(json.dumps(h.session.as_json()))["upstream"] == upstream
        registry = h.metrics.registry
        connections = "companion_upstream_connections_total"
        assert registry.get_sample_value(connections, {"reason": "start"}) == 1
        assert registry.get_sample_value(connections, {"reason": "dropped"}) == 1
        assert registry.get_sample_value("companion_resume_seconds_count", {"reason": "dropped"}) == 1


async def test_the_client_leaving_closes_the_model_connection() -> None:
    async with SessionHarness() as h:
        upstream = await h.start()
        h.client.leave()

        await h.wait_ended()
        assert upstream.closed
        assert not upstream.dropped
        assert h.session.status is Status.CLOSED
        assert h.session.closed_at is not None
        assert len(h.connector.connections) == 1


async def test_a_live_session_keeps_the_music_preferences_not_the_whole_profile() -> None:
    """An idle conversation holds no copy of the person's care context (memories, medications,
    family): only the music preferences its guard needs; the greeting is said from the first context."""
    async with SessionHarness(greet=True) as h:
        upstream = await h.start()
        await eventually(lambda: bool(upstream.sent_of("response.create")), what="the greeting")
        held = [value for value in vars(h.session._machine).values() if isinstance(value, CareContext)]
        assert held == []
        assert h.session.prepared is not None and h.session.prepared.context is None
        assert h.session.music == h.profiles.context.music


class Log:
    """A conversation's log: keeps the notes; wants no summary (asked once, when the client left)."""

    def __init__(self) -> None:
        self.notes: list[Note] = []
        self.asked = 0
        self.readied = 0

    def note(self, note: Note) -> None:
        self.notes.append(note)

    async def ready(self) -> None:
        self.readied += 1

    def summary_language(self) -> str | None:
        assert self.readied == 1, "the choice is read before the summary's language is asked"
        self.asked += 1
        return None


async def test_the_log_is_told_each_turn_and_the_end() -> None:
    log_ = Log()
    async with SessionHarness() as h:
        h.session.record(log_)
        first = await h.start()
        await one_turn(h, first)
    await h.wait_ended()
    notes = log_.notes
    person = [n for n in notes if isinstance(n, TurnEnded) and n.role == "person"]
    companion = [n for n in notes if isinstance(n, TurnEnded) and n.role == "companion"]
    assert [n.text for n in person] == [SAID]
    assert len(companion) == 1 and ANSWERED in companion[0].text and not companion[0].cut
    assert isinstance(notes[-1], Ended) and notes[-1].how == "person"
    assert log_.asked == 1
