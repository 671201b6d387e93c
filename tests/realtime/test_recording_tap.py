"""The live session's recording tap, with plain GA events: the notes it makes, the barge-in's cut, the
summary's out-of-band response kept from everyone else, and the fallback when it does not come."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from companion.conversations.notes import Connected, Did, Ended, Note, TurnCut, TurnEnded, TurnStarted
from companion.conversations.summary import SUMMARY_TAG
from companion.realtime.endings import Ending
from companion.realtime.reconnect import ConnectReason
from companion.realtime.recording import RecordingTap

pytestmark = pytest.mark.unit
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Log:
    def __init__(self, language: str | None = "en") -> None:
        self.notes: list[Note] = []
        self.summary: list[str | None] = []
        self.discarded = False
        self.language = language

    def note(self, note: Note) -> None:
        self.notes.append(note)

    def summary_language(self) -> str | None:
        return self.language

    def summarised(self, text: str | None) -> None:
        self.summary.append(text)

    def discard(self) -> None:
        self.discarded = True


def answer(
    tap: RecordingTap, item: str, text: str, *, audio_ms: int = 1000, status: str = "completed"
) -> None:
    tap.model_event(
        {"type": "response.output_item.added", "item": {"id": item, "type": "message", "role": "assistant"}},
        1,
    )
    audio = "A" * (audio_ms * 48 * 4 // 3)  # base64 of audio_ms of 24 kHz PCM16
    tap.model_event({"type": "response.output_audio.delta", "item_id": item, "delta": audio}, 1)
    tap.model_event({"type": "response.output_audio_transcript.delta", "item_id": item, "delta": text}, 1)
    done_item = {
        "id": item,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_audio", "transcript": text}],
    }
    tap.model_event({"type": "response.output_item.done", "item": done_item}, 1)


def test_turns_of_both_sides_and_what_the_companion_did() -> None:
    log = Log()
    tap = RecordingTap(log, hidden={"replay-1"}, clock=lambda: T0)
    tap.model_event({"type": "input_audio_buffer.speech_started", "item_id": "u1"}, 1, ConnectReason.START)
    tap.model_event(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "u1",
            "transcript": "play music",
        },
        1,
    )
    typed = {
        "id": "u2",
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hello"}],
    }
    tap.model_event({"type": "conversation.item.added", "item": typed}, 1)
    replay = {
        "id": "replay-1",
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "{}"}],
    }
    tap.model_event({"type": "conversation.item.added", "item": replay}, 1)
    answer(tap, "a1", "Here is a song")
    call = {
        "type": "function_call",
        "name": "play_music",
        "arguments": '{"artist": "Arik Einstein", "reason": "requested"}',
    }
    tap.model_event({"type": "response.output_item.done", "item": call}, 1)
    tap.model_event(
        {"type": "response.created", "response": {"id": "r9", "metadata": {"companion_say": "say_1"}}}, 1
    )
    tap.model_event({"type": "session.updated"}, 2, ConnectReason.ROTATION)
    tap.model_event({"type": "session.updated"}, 3, ConnectReason.DROPPED)
    tap.ended(Ending.NORMAL)
    tap.ended(Ending.INTERNAL)  # only the first counts
    assert log.notes == [
        TurnStarted("person", T0),
        TurnEnded("person", "play music", T0),
        TurnStarted("person", T0),
        TurnEnded("person", "hello", T0),
        TurnStarted("companion", T0),
        TurnEnded("companion", "Here is a song", T0, key="a1"),
        Did("song", T0, "Arik Einstein"),
        Did("reminder_said", T0),
        Connected("rotation", T0),
        Connected("reconnect", T0),
        Ended("person", T0),
    ]


def test_a_barge_in_cuts_the_companions_words_where_its_audio_stopped() -> None:
    log = Log()
    tap = RecordingTap(log, clock=lambda: T0)
    answer(tap, "a1", "one two three four five six", audio_ms=2000, status="incomplete")
    tap.model_event(
        {"type": "conversation.item.truncated", "item_id": "a1", "content_index": 0, "audio_end_ms": 1000}, 1
    )
    ended = log.notes[1]
    assert isinstance(ended, TurnEnded) and ended.cut
    assert log.notes[-1] == TurnCut("a1", "one two three…", T0)


def test_a_conversation_that_never_started_is_let_go() -> None:
    log = Log()
    RecordingTap(log).ended(Ending.UPSTREAM_UNAVAILABLE, started=False)
    assert log.discarded and log.notes == []


async def test_the_summary_is_asked_out_of_band_and_its_events_are_kept_from_everyone() -> None:
    log = Log("he")
    tap = RecordingTap(log, clock=lambda: T0)
    sent: list[dict[str, Any]] = []

    async def send(frame: dict[str, Any]) -> None:
        sent.append(frame)
        key = frame["response"]["metadata"][SUMMARY_TAG]
        response = {"id": "resp_s", "metadata": {SUMMARY_TAG: key}, "status": "in_progress"}
        loop = asyncio.get_running_loop()
        events = [
            {"type": "response.created", "response": response},
            {"type": "response.output_text.delta", "response_id": "resp_s", "item_id": "i", "delta": "He"},
            {
                "type": "response.done",
                "response": {
                    **response,
                    "status": "completed",
                    "output": [
                        {
                            "type": "message",
                            "content": [{"type": "output_text", "text": "He talked about the garden."}],
                        }
                    ],
                },
            },
        ]
        for event in events:
            loop.call_soon(lambda e=event: consumed.append(tap.model_event(e, 1)))

    consumed: list[bool] = []
    await tap.summarise(send)
    assert sent[0]["response"]["conversation"] == "none"
    assert consumed == [True, True, True], "none of the summary's events reach the client or the mirror"
    assert log.summary == ["He talked about the garden."]
    assert tap.model_event({"type": "response.done", "response": {"id": "resp_x"}}, 1) is False


async def test_no_summary_is_asked_where_none_is_wanted() -> None:
    log = Log(None)
    tap = RecordingTap(log)

    async def send(frame: dict[str, Any]) -> None:
        raise AssertionError("nothing is sent")

    await tap.summarise(send)
    assert log.summary == []


async def test_an_error_naming_the_request_gives_the_digest_at_once() -> None:
    log = Log()
    tap = RecordingTap(log)

    async def send(frame: dict[str, Any]) -> None:
        error = {
            "type": "error",
            "error": {"code": "conversation_already_has_active_response", "event_id": frame["event_id"]},
        }
        asyncio.get_running_loop().call_soon(tap.model_event, error, 1)

    await tap.summarise(send)
    assert log.summary == [None]
