"""``COMPANION_REFRESH_TIMING``: an update during a response is sent at once, or after its response.done."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.live.conftest import Live, run_live

SLOW_DELTA_S = 0.05  # the engine pauses this long after each delta, so an answer lasts several tenths
MARGIN_S = 0.1


async def _save_during_a_response(live: Live) -> tuple[float, float]:
    """(when the client got response.done, when the save returned), on the loop clock."""
    live.engine.behaviour.output_delay_s = SLOW_DELTA_S
    client = await live.connect()
    loop = asyncio.get_running_loop()
    await client.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "ספר לי סיפור"}],
            },
        }
    )
    await client.send({"type": "response.create"})
    await client.until("response.created")

    async def response_done() -> float:
        await client.until("response.done")
        return loop.time()

    waiter = asyncio.create_task(response_done())
    save = await live.put_music("אריק איינשטיין")
    saved_at = loop.time()
    assert save.json()["liveSessions"]["refreshed"] == 1, save.json()["liveSessions"]
    return await waiter, saved_at


@pytest.mark.parametrize("timing", ["immediate", "after_response"])
async def test_refresh_timing(tmp_path: Path, timing: str) -> None:
    # The save's caller waits no longer than the refresh timeout, whatever the refresh waits for (an
    # after_response refresh behind a longer answer is answered with a timeout and applied after it: see
    # tests/realtime/test_machine.py); here the timeout is longer than the story.
    async for live in run_live(tmp_path, refresh_timing=timing, refresh_timeout_s=10.0):
        done_at, saved_at = await _save_during_a_response(live)
        # The two answers travel on different sockets, so allow a little jitter between them; the answer
        # itself lasts far longer than that margin.
        if timing == "immediate":
            assert done_at - saved_at > MARGIN_S, "an immediate refresh is confirmed while the answer plays"
        else:
            assert done_at - saved_at < MARGIN_S, "an after_response refresh waits for the answer to finish"
