"""The one decoder thread is shared by every connection: a burst of turns is bounded, not queued."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from companion.localmodel.audio import BYTES_PER_MS
from companion.localmodel.hearing import MAX_PENDING_TURNS, Listener
from companion.localmodel.voice import Speaker


async def test_turns_beyond_the_pending_limit_go_untranscribed(monkeypatch: pytest.MonkeyPatch) -> None:
    listener = Listener()
    release = threading.Event()

    def slow_decode(pcm: bytes) -> str | None:
        release.wait(5)
        return "hello"

    monkeypatch.setattr(listener, "transcribe_sync", slow_decode)
    turn = b"\x01\x00" * (500 * BYTES_PER_MS // 2)  # half a second of audio
    waiting = [asyncio.ensure_future(listener.transcribe(turn)) for _ in range(MAX_PENDING_TURNS)]
    await asyncio.sleep(0.05)
    assert await listener.transcribe(turn) is None, "a turn beyond the limit is not queued"
    release.set()
    assert await asyncio.gather(*waiting) == ["hello"] * MAX_PENDING_TURNS
    assert await listener.transcribe(turn) == "hello", "the limit frees up as turns finish"
    listener.close()


async def test_a_cancelled_reply_leaves_no_speech_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    fake = tmp_path / "fake-espeak"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 30\n")
    fake.chmod(0o755)
    task = asyncio.ensure_future(Speaker(str(fake)).speak("hello there", "en-us"))
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.01)
    pid = int(pid_file.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
