"""A live session over the in-memory fakes asks, half an hour into a conversation, for the summary so
far (out of band, hidden from the client), and at the end for the whole, with the running one quoted:
the session's hook into the recording tap, on virtual time."""

from __future__ import annotations

from typing import Any

from companion.conversations.cadence import RUNNING_EVERY_S
from companion.conversations.summary import SUMMARY_TAG
from companion.realtime.recording import RecordingTap
from tests.realtime.fakes import MemoryUpstream
from tests.realtime.session_harness import FakeClock, SessionHarness, eventually
from tests.realtime.test_recording_tap import Log
from tests.realtime.test_session_paths import one_turn
from tests.realtime.virtual_time import VirtualTime


def out_of_band(event: dict[str, Any]) -> bool:
    return bool(event.get("response", {}).get("conversation") == "none")


def answer(upstream: MemoryUpstream, request: dict[str, Any], text: str) -> None:
    response = {"id": "resp_sum_" + request["event_id"], "metadata": request["response"]["metadata"]}
    upstream.push(
        {"type": "response.created", "response": {**response, "status": "in_progress", "output": []}},
        {"type": "response.output_text.delta", "response_id": response["id"], "item_id": "i", "delta": text},
        {
            "type": "response.done",
            "response": {
                **response,
                "status": "completed",
                "output": [{"type": "message", "content": [{"type": "output_text", "text": text}]}],
            },
        },
    )


async def test_a_long_conversation_gets_its_summary_so_far_and_the_end_covers_it() -> None:
    clock = FakeClock()
    time = VirtualTime(clock)
    log = Log()
    async with SessionHarness(clock=clock) as h:
        h.session.recording = RecordingTap(log, hidden=h.session.policy.hidden, timer=time.timer)
        upstream = await h.start()
        await one_turn(h, upstream)
        time.advance(RUNNING_EVERY_S)
        running = await upstream.wait_sent("response.create", out_of_band)
        answer(upstream, running, "They talked about the garden.")
        await eventually(lambda: log.running == ["They talked about the garden."], what="the running summary")
        assert h.session.turn_count == 1, "the summary's response is not one of the conversation's"
        assert SUMMARY_TAG not in "".join(h.client.frames), "the client never sees it"

        h.client.leave()
        end = await upstream.wait_sent("response.create", lambda e: out_of_band(e) and e is not running)
        assert "«They talked about the garden.»" in end["response"]["instructions"]
        answer(upstream, end, "A morning of gardening.")
        await h.wait_ended()
    assert log.summary == ["A morning of gardening."]
    assert SUMMARY_TAG not in "".join(h.client.frames)
