"""A live conversation speaks a reminder only at a quiet moment, the client never sees the prompt, and
the outcome is that of the model's response to the request: said only when it completed with audio and
that audio had time to play without the person cutting it off (the page's truncate). Through the driver
and the fakes, the wiring only: a caller's request reaching the model and its outcome reaching the
caller. Every decision (the quiet moment, the settle time, said once played, interrupted, refused, no
answer in time, the person speaking until the bound) is the machine's, tested on virtual time in
``test_machine.py``."""

from __future__ import annotations

import asyncio
from typing import Any

from companion.realtime.mirror import QUIET_SETTLE_S
from companion.realtime.saying import SAY_TAG, outcome_of
from tests.realtime.fakes import MemoryUpstream
from tests.realtime.session_harness import FakeClock, SessionHarness
from tests.realtime.test_session_paths import start_response

SAY = "Remind the person now, warmly: it is time for the 20:00 tablet."


def said(upstream: object) -> list[dict[str, object]]:
    sent = getattr(upstream, "sent")  # noqa: B009 - the fake's record of what the relay sent
    return [e for e in sent if e["type"] == "conversation.item.create" and e["item"].get("role") == "system"]


async def asked(upstream: MemoryUpstream) -> dict[str, Any]:
    """The request's ``response.create`` (after its hidden note): its metadata names it."""
    await upstream.wait_sent("conversation.item.create", lambda e: e["item"].get("role") == "system")
    create = await upstream.wait_sent("response.create")
    metadata: dict[str, Any] = create["response"]["metadata"]
    assert set(metadata) == {SAY_TAG}
    return metadata


async def test_a_quiet_conversation_speaks_at_once_hides_the_prompt_and_tells_the_caller() -> None:
    clock = FakeClock()
    async with SessionHarness(clock=clock) as h:
        first = await h.start()
        clock.advance(2 * QUIET_SETTLE_S)
        saying = asyncio.create_task(h.session.say_when_quiet(SAY, within_s=5.0))
        metadata = await asked(first)
        [create] = said(first)
        assert create["item"]["content"][0]["text"] == SAY  # type: ignore[index]
        assert not saying.done(), "sent is not said: it waits for the response"
        await first.respond_audio("it is time for your tablet", metadata=metadata)
        done = await h.client.until("response.done")
        assert not saying.done(), "done is not yet heard: the tablet is still playing it"
        [item] = done["response"]["output"]
        await h.client.say(
            {
                "type": "conversation.item.truncate",
                "item_id": item["id"],
                "content_index": 0,
                "audio_end_ms": 20,
            }
        )
        assert await asyncio.wait_for(saying, 2.0) == "interrupted", "the person cut it off on the tablet"
        assert not any(SAY in frame for frame in h.client.frames)


def test_the_outcome_is_read_from_the_response() -> None:
    spoken = {"type": "message", "content": [{"type": "output_audio", "transcript": "x"}]}
    written = {"type": "message", "content": [{"type": "output_text", "text": "x"}]}
    call = {"type": "function_call", "name": "medication_taken", "arguments": "{}"}
    assert outcome_of({"status": "completed", "output": [spoken]}) == "said"
    preview = {**spoken, "content": [{"type": "audio", "transcript": "x"}]}
    assert outcome_of({"status": "completed", "output": [preview]}) == "said"
    assert outcome_of({"status": "completed", "output": [written]}) == "failed", "text only: not heard"
    assert outcome_of({"status": "completed", "output": [call]}) == "failed", "a tool call instead"
    assert outcome_of({"status": "completed", "output": []}) == "failed"
    assert outcome_of({"status": "cancelled", "output": [spoken]}) == "interrupted"
    assert outcome_of({"status": "incomplete", "output": [spoken]}) == "failed"
    assert outcome_of({"status": "failed"}) == "failed"


async def test_the_same_note_asked_twice_at_once_is_asked_once_and_both_callers_hear_its_outcome() -> None:
    """Every instance's reminder tick may ask the owner for the same reminder: one asking, one answer."""
    clock = FakeClock()
    async with SessionHarness(clock=clock) as h:
        first = await h.start()
        clock.advance(2 * QUIET_SETTLE_S)
        one = asyncio.create_task(h.session.say_when_quiet(SAY, within_s=5.0))
        two = asyncio.create_task(h.session.say_when_quiet(SAY, within_s=5.0))
        metadata = await asked(first)
        response_id = start_response(first)
        cancelled = {"id": response_id, "status": "cancelled", "output": [], "metadata": metadata}
        first.push({"type": "response.done", "response": cancelled})
        assert await asyncio.wait_for(asyncio.gather(one, two), 2.0) == ["interrupted", "interrupted"]
        assert len(said(first)) == 1, "asked of the model once"
