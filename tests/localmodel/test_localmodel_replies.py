"""Replies grounded in the current instructions, tool calls, VAD and routing: no sockets."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pytest
from lm_helpers import EN_INSTRUCTIONS, HE_INSTRUCTIONS, MUSIC_TOOL, append, pcm, types, update, user_text

from companion.localmodel import EngineSession
from companion.localmodel.replies import Reply, ReplyContext, plan_reply, tagged_values
from companion.localmodel.routes import Route, resolve
from companion.localmodel.vad import EnergyVad

Make = Callable[..., EngineSession]


def respond(engine: EngineSession, **response: Any) -> list[dict[str, Any]]:
    event: dict[str, Any] = {"type": "response.create"}
    if response:
        event["response"] = response
    return engine.receive_event(event) + engine.drain()


def said(events: list[dict[str, Any]]) -> str:
    done = next(
        e
        for e in events
        if e["type"] in ("response.output_audio_transcript.done", "response.output_text.done")
    )
    return str(done.get("transcript", done.get("text")))


def music_call(events: list[dict[str, Any]]) -> dict[str, Any]:
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    return dict(json.loads(done["arguments"]))


def test_tagged_values_contract() -> None:
    values = tagged_values(HE_INSTRUCTIONS + "Empty [empty_key]: nothing here\n")
    assert values["preferred_name"] == ["משה"]
    assert values["preferred_artists"] == ["נעמי שמר", "אריק איינשטיין"]
    assert values["empty_key"] == []
    assert tagged_values("no tags at all") == {}


@pytest.mark.parametrize(
    ("instructions", "expected"),
    [
        (HE_INSTRUCTIONS, "שלום משה! מה שלומך היום?"),
        (EN_INSTRUCTIONS, "Hello Ann! How are you feeling today?"),
        ("You are kind.", "Hello! How are you today?"),
        ("את/ה מלווה.", "שלום! מה שלומך היום?"),
    ],
)
def test_greeting_uses_the_current_name_and_language(instructions: str, expected: str) -> None:
    reply = plan_reply(ReplyContext(instructions=instructions, items=[]))
    assert reply == Reply("text", expected)
    assert reply.text.endswith("?")


def test_music_request_calls_play_music_with_the_first_current_artist(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(update(instructions=HE_INSTRUCTIONS, tools=[MUSIC_TOOL]))
    engine.receive_event(user_text("תנגן לי משהו"))
    events = respond(engine)
    assert music_call(events) == {"artist": "נעמי שמר", "reason": "המשתמש ביקש מוזיקה"}
    names = types(events)
    assert names == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
        "rate_limits.updated",
    ]
    item = events[1]["item"]
    assert (item["type"], item["name"], item["call_id"], item["id"]) == (
        "function_call",
        "play_music",
        "call_1",
        "item_2",
    )
    done = events[-2]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["arguments"] == events[4]["arguments"]

    # The caregiver removes the first artist; the conversation continues with the same items.
    items_before = [i["id"] for i in engine.items]
    engine.receive_event(update(instructions=HE_INSTRUCTIONS.replace("«נעמי שמר», ", "")))
    assert [i["id"] for i in engine.items] == items_before
    engine.receive_event(user_text("play a song please"))
    assert music_call(respond(engine))["artist"] == "אריק איינשטיין"
    assert [e["call_id"] for e in engine.items if e["type"] == "function_call"] == ["call_1", "call_2"]


def test_no_artists_means_a_spoken_explanation(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(update(instructions="Name [preferred_name]: «Ann»"))
    engine.receive_event(user_text("Play some music"))
    assert (
        said(respond(engine))
        == "No music is configured for you yet. What kind of music would you like to hear?"
    )


def test_tools_gate_the_music_call(make_engine: Make) -> None:
    engine = make_engine()
    other = {"type": "function", "name": "call_family"}
    engine.receive_event(update(instructions=EN_INSTRUCTIONS, tools=[other]))
    engine.receive_event(user_text("play music"))
    assert "can't play music" in said(respond(engine))
    engine.receive_event(user_text("play music"))
    assert music_call(respond(engine, tools=[MUSIC_TOOL])) == {
        "artist": "Nina Simone",
        "reason": "The user asked for music",
    }
    engine.receive_event(user_text("play music"))
    assert "can't play music" in said(respond(engine, tools=[MUSIC_TOOL], tool_choice="none"))


def test_function_call_output_is_acknowledged(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(update(instructions=HE_INSTRUCTIONS))
    engine.receive_event(user_text("שיר בבקשה"))
    respond(engine)
    call_id = next(i["call_id"] for i in engine.items if i["type"] == "function_call")
    output = {"type": "function_call_output", "call_id": call_id, "output": '{"playing": true}'}
    engine.receive_event({"type": "conversation.item.create", "item": output})
    assert said(respond(engine)) == "מנגן עכשיו את נעמי שמר. האזנה נעימה!"
    engine.receive_event({"type": "conversation.item.create", "item": {**output, "call_id": "call_x"}})
    assert said(respond(engine)) == "סיימתי. במה עוד אפשר לעזור?"


def test_other_user_text_is_echoed_with_a_question(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(update(instructions=EN_INSTRUCTIONS))
    engine.receive_event(user_text("I walked to the park today"))
    text = said(respond(engine))
    assert text == 'I hear you, Ann: "I walked to the park today". Would you like to tell me more?'
    assert said(respond(engine)) == "What else would you like to talk about?"


def test_vad_turn_from_tone_then_silence(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(update(instructions=EN_INSTRUCTIONS, output_modalities=["text"]))
    assert engine.receive_event(append(pcm(200))) == []  # silence: nothing
    started = engine.receive_event(append(pcm(400, amplitude=8000)))
    assert types(started) == ["input_audio_buffer.speech_started"]
    assert started[0]["audio_start_ms"] == 0  # onset 200 ms minus 300 ms prefix padding, floored
    assert engine.receive_event(append(pcm(300))) == []  # not yet 500 ms of silence
    events = engine.receive_event(append(pcm(300)))
    assert types(events) == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "response.created",
    ]
    item_id = started[0]["item_id"]
    assert events[0]["item_id"] == events[1]["item_id"] == events[2]["item"]["id"] == item_id
    assert events[0]["audio_end_ms"] == 600 + 500
    assert events[2]["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    assert said(engine.drain()) == "I heard you. Tell me more?"


def test_vad_barge_in_cancels_the_active_response(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event({"type": "response.create"})
    engine.next_output()
    engine.next_output()
    started = engine.receive_event(append(pcm(100, amplitude=8000)))
    assert types(started) == ["input_audio_buffer.speech_started"]
    rest = engine.drain()
    done = next(e for e in rest if e["type"] == "response.done")
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}


def test_no_vad_when_turn_detection_is_off(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(update(audio={"input": {"turn_detection": None}}))
    assert engine.receive_event(append(pcm(500, amplitude=8000) + pcm(800))) == []


def test_energy_vad_threshold_and_timeline() -> None:
    vad = EnergyVad(threshold=0.5, prefix_padding_ms=100, silence_duration_ms=200)
    assert vad.feed(pcm(300, amplitude=150)) == []  # RMS 106: under -46 dBFS, the minimum at 0.5
    events = vad.feed(pcm(100, amplitude=8000) + pcm(260))
    assert [(e.kind, e.at_ms) for e in events] == [("speech_started", 200), ("speech_stopped", 600)]
    assert vad.position_ms == 660


def test_energy_vad_ignores_clicks() -> None:
    vad = EnergyVad(threshold=0.5, prefix_padding_ms=0, silence_duration_ms=200)
    assert vad.feed(pcm(20, amplitude=9000) + pcm(300)) == []


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/v1/realtime?model=gpt-realtime", {}, Route("ga", "gpt-realtime")),
        ("/v1/realtime?model=m", {"OpenAI-Beta": "realtime=v1"}, Route("beta", "m")),
        ("/openai/v1/realtime?model=dep", {}, Route("ga", "dep")),
        ("/openai/realtime?api-version=2025-04-01-preview&deployment=x", {}, Route("beta", "x")),
        ("/openai/realtime?deployment=x", {}, HTTPStatus.NOT_FOUND),
        ("/openai/realtime?api-version=2025-04-01-preview&model=x", {}, HTTPStatus.NOT_FOUND),
        ("/openai/v1/realtime?model=x&api-version=2025-04-01-preview", {}, HTTPStatus.NOT_FOUND),
        ("/openai/v1/realtime?deployment=x", {}, HTTPStatus.NOT_FOUND),
        ("/v2/realtime?model=x", {}, HTTPStatus.NOT_FOUND),
        ("/", {}, HTTPStatus.NOT_FOUND),
    ],
)
def test_routes(path: str, headers: dict[str, str], expected: Route | HTTPStatus) -> None:
    assert resolve(path, headers) == expected


def test_fatal_routes() -> None:
    beta_on_ga = resolve("/openai/v1/realtime?model=x", {"OpenAI-Beta": "realtime=v1"})
    assert isinstance(beta_on_ga, Route)
    assert beta_on_ga.fatal is not None
    assert beta_on_ga.fatal.code == "beta_api_shape_disabled"
    assert (beta_on_ga.fatal.close_code, beta_on_ga.fatal.close_reason) == (
        4000,
        "invalid_request_error.beta_api_shape_disabled",
    )
    no_model = resolve("/v1/realtime", {})
    assert isinstance(no_model, Route)
    assert no_model.fatal is not None
    assert no_model.fatal.code == "missing_model"
