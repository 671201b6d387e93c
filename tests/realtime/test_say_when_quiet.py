"""A live conversation speaks a reminder only at a quiet moment, and the client never sees the prompt."""

from __future__ import annotations

import asyncio

from companion.realtime.mirror import QUIET_SETTLE_S
from tests.realtime.session_harness import FakeClock, SessionHarness
from tests.realtime.test_session_paths import finish_response, start_response

SAY = "Remind the person now, warmly: it is time for the 20:00 tablet."


def said(upstream: object) -> list[dict[str, object]]:
    sent = getattr(upstream, "sent")  # noqa: B009 - the fake's record of what the relay sent
    return [e for e in sent if e["type"] == "conversation.item.create" and e["item"].get("role") == "system"]


async def test_a_quiet_conversation_speaks_at_once_and_hides_the_prompt_from_the_client() -> None:
    clock = FakeClock()
    async with SessionHarness(clock=clock) as h:
        first = await h.start()
        clock.advance(2 * QUIET_SETTLE_S)
        assert await h.session.say_when_quiet(SAY, within_s=5.0)
        create = await first.wait_sent(
            "conversation.item.create", lambda e: e["item"].get("role") == "system"
        )
        assert create["item"]["content"][0]["text"] == SAY
        await first.wait_sent("response.create")
        await asyncio.sleep(0.05)  # the model's echo of the item reaches the relay
        assert not any(SAY in frame for frame in h.client.frames)


async def test_it_waits_for_the_answer_in_progress_and_the_settle_time() -> None:
    clock = FakeClock()
    async with SessionHarness(clock=clock) as h:
        first = await h.start()
        response_id = start_response(first)
        await h.client.until("response.created")
        clock.advance(10 * QUIET_SETTLE_S)
        saying = asyncio.create_task(h.session.say_when_quiet(SAY, within_s=60.0))
        await asyncio.sleep(0.5)
        assert not saying.done() and said(first) == []  # never in the middle of its own answer
        finish_response(first, response_id)
        await h.client.until("response.done")
        await asyncio.sleep(0.5)
        assert not saying.done()  # the answer has just ended: not yet
        clock.advance(QUIET_SETTLE_S)
        assert await asyncio.wait_for(saying, 2.0)
        assert len(said(first)) == 1


async def test_it_never_speaks_over_the_person_and_gives_up_in_time() -> None:
    clock = FakeClock()
    async with SessionHarness(clock=clock) as h:
        first = await h.start()
        first.push({"type": "input_audio_buffer.speech_started", "item_id": "item_s", "audio_start_ms": 0})
        await h.client.until("input_audio_buffer.speech_started")
        saying = asyncio.create_task(h.session.say_when_quiet(SAY, within_s=3.0))
        await asyncio.sleep(0.5)
        clock.advance(2.0)
        await asyncio.sleep(0.5)
        clock.advance(2.0)  # past within_s while the person still speaks
        assert await asyncio.wait_for(saying, 2.0) is False
        assert said(first) == []
