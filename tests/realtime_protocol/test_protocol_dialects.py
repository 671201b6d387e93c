"""GA <-> beta translation: every row of the brief's table, both directions, and round trips."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.realtime import protocol as p

PCM = {"type": "audio/pcm", "rate": 24000}
VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}
TRANSCRIPTION = {"model": "gpt-4o-mini-transcribe", "language": "he", "prompt": None}
TOOLS = [{"type": "function", "name": "play_music", "description": "d", "parameters": {"type": "object"}}]


# Session: one test per row of the table ------------------------------------------------------------


def test_session_type_added_towards_ga_and_removed_towards_beta() -> None:
    assert p.session_beta_to_ga({})["type"] == "realtime"
    assert "type" not in p.session_ga_to_beta({"type": "realtime"})


@pytest.mark.parametrize(
    ("beta", "ga"), [(["text", "audio"], ["audio"]), (["text"], ["text"]), (["audio", "text"], ["audio"])]
)
def test_modalities_to_output_modalities(beta: list[str], ga: list[str]) -> None:
    out = p.session_beta_to_ga({"modalities": beta})
    assert out["output_modalities"] == ga
    assert "modalities" not in out


@pytest.mark.parametrize(("ga", "beta"), [(["audio"], ["text", "audio"]), (["text"], ["text"])])
def test_output_modalities_to_modalities(ga: list[str], beta: list[str]) -> None:
    out = p.session_ga_to_beta({"type": "realtime", "output_modalities": ga})
    assert out == {"modalities": beta}


def test_voice_and_output_format_move_under_audio_output() -> None:
    beta = {"voice": "verse", "output_audio_format": "pcm16", "speed": 1.1}
    ga = {"type": "realtime", "audio": {"output": {"voice": "verse", "format": PCM, "speed": 1.1}}}
    assert p.session_beta_to_ga(beta) == ga
    assert p.session_ga_to_beta(ga) == beta


def test_input_fields_move_under_audio_input() -> None:
    beta = {
        "input_audio_format": "g711_ulaw",
        "input_audio_transcription": TRANSCRIPTION,
        "turn_detection": VAD,
        "input_audio_noise_reduction": {"type": "near_field"},
    }
    ga = {
        "type": "realtime",
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "transcription": TRANSCRIPTION,
                "turn_detection": VAD,
                "noise_reduction": {"type": "near_field"},
            }
        },
    }
    assert p.session_beta_to_ga(beta) == ga
    assert p.session_ga_to_beta(ga) == beta


def test_null_turn_detection_and_transcription_survive() -> None:
    beta = {"turn_detection": None, "input_audio_transcription": None}
    ga = p.session_beta_to_ga(beta)
    assert ga["audio"]["input"] == {"turn_detection": None, "transcription": None}
    assert p.session_ga_to_beta(ga) == beta


@pytest.mark.parametrize(
    ("beta", "ga"),
    [("pcm16", PCM), ("g711_ulaw", {"type": "audio/pcmu"}), ("g711_alaw", {"type": "audio/pcma"})],
)
def test_audio_formats(beta: str, ga: dict[str, Any]) -> None:
    assert p.audio_format_beta_to_ga(beta) == ga
    assert p.audio_format_ga_to_beta(ga) == beta
    assert p.session_beta_to_ga({"output_audio_format": beta})["audio"]["output"]["format"] == ga


def test_pcm_without_explicit_rate_is_pcm16_but_other_rates_have_no_beta_name() -> None:
    assert p.audio_format_ga_to_beta({"type": "audio/pcm"}) == "pcm16"
    odd = {"type": "audio/pcm", "rate": 16000}
    assert p.audio_format_ga_to_beta(odd) == odd
    assert p.audio_format_beta_to_ga("opus") == "opus"


def test_max_tokens_renamed_and_temperature_dropped_towards_ga() -> None:
    ga = p.session_beta_to_ga({"max_response_output_tokens": 200, "temperature": 0.8})
    assert ga == {"type": "realtime", "max_output_tokens": 200}
    assert p.session_ga_to_beta({"max_output_tokens": "inf"}) == {"max_response_output_tokens": "inf"}


def test_tools_tool_choice_instructions_unchanged_both_ways() -> None:
    shared = {"instructions": "שם מועדף [preferred_name]: «משה»", "tools": TOOLS, "tool_choice": "auto"}
    assert p.session_beta_to_ga(shared) == {"type": "realtime", **shared}
    assert p.session_ga_to_beta({"type": "realtime", **shared}) == shared


def test_ga_only_fields_dropped_towards_beta_and_unknown_fields_kept() -> None:
    ga: dict[str, object] = {
        "type": "realtime",
        "truncation": "auto",
        "prompt": None,
        "reasoning": {},
        "future_knob": 3,
    }
    assert p.session_ga_to_beta(ga) == {"future_knob": 3}
    assert p.session_beta_to_ga({"future_knob": 3}) == {"type": "realtime", "future_knob": 3}


def test_unknown_audio_subfields_stay_visible_towards_beta() -> None:
    ga = {"audio": {"input": {"format": PCM, "echo_cancel": True}, "spatial": {"x": 1}}}
    beta = p.session_ga_to_beta(ga)
    assert beta["input_audio_format"] == "pcm16"
    assert beta["audio"] == {"input": {"echo_cancel": True}, "spatial": {"x": 1}}


def test_translation_does_not_mutate_or_alias_the_input() -> None:
    beta = {"turn_detection": copy.deepcopy(VAD), "tools": copy.deepcopy(TOOLS)}
    before = copy.deepcopy(beta)
    ga = p.session_beta_to_ga(beta)
    ga["audio"]["input"]["turn_detection"]["threshold"] = 0.9
    ga["tools"].append({"type": "function", "name": "x"})
    assert beta == before


# Round trips ---------------------------------------------------------------------------------------

_beta_sessions = st.fixed_dictionaries(
    {},
    optional={
        "modalities": st.sampled_from([["text"], ["text", "audio"]]),
        "instructions": st.text(max_size=40),
        "voice": st.sampled_from(["alloy", "verse", "marin"]),
        "input_audio_format": st.sampled_from(["pcm16", "g711_ulaw", "g711_alaw"]),
        "output_audio_format": st.sampled_from(["pcm16", "g711_ulaw", "g711_alaw"]),
        "input_audio_transcription": st.one_of(st.none(), st.just(TRANSCRIPTION)),
        "turn_detection": st.one_of(st.none(), st.just(VAD)),
        "tools": st.just(TOOLS),
        "tool_choice": st.sampled_from(["auto", "none", "required"]),
        "max_response_output_tokens": st.one_of(st.integers(1, 4096), st.just("inf")),
        "speed": st.floats(0.25, 1.5),
    },
)


@given(_beta_sessions)
def test_beta_ga_beta_round_trip(session: dict[str, Any]) -> None:
    assert p.session_ga_to_beta(p.session_beta_to_ga(session)) == session


@given(_beta_sessions)
def test_ga_beta_ga_round_trip(beta: dict[str, Any]) -> None:
    ga = p.session_beta_to_ga(beta)
    assert p.session_beta_to_ga(p.session_ga_to_beta(ga)) == ga


# Server events -------------------------------------------------------------------------------------

RENAMES = [
    ("response.audio.delta", "response.output_audio.delta"),
    ("response.audio.done", "response.output_audio.done"),
    ("response.audio_transcript.delta", "response.output_audio_transcript.delta"),
    ("response.audio_transcript.done", "response.output_audio_transcript.done"),
    ("response.text.delta", "response.output_text.delta"),
    ("response.text.done", "response.output_text.done"),
]


@pytest.mark.parametrize(("beta", "ga"), RENAMES)
def test_server_event_renames_both_ways(beta: str, ga: str) -> None:
    event = {"type": beta, "event_id": "event_1", "response_id": "resp_1", "delta": "AAA="}
    assert p.server_event_beta_to_ga(event) == [{**event, "type": ga}]
    assert p.server_event_ga_to_beta({**event, "type": ga}) == [event]


def test_item_created_becomes_added_then_done_and_back() -> None:
    item = {
        "id": "item_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "audio", "transcript": "hi"}],
    }
    beta = {
        "type": "conversation.item.created",
        "event_id": "event_5",
        "previous_item_id": None,
        "item": item,
    }
    added, done = p.server_event_beta_to_ga(beta)
    assert added["type"] == "conversation.item.added"
    assert done["type"] == "conversation.item.done"
    assert added["event_id"] != done["event_id"]
    assert added["item"]["content"] == [{"type": "output_audio", "transcript": "hi"}]
    assert done["item"] == added["item"]
    assert p.server_event_ga_to_beta(added) == [beta]
    assert p.server_event_ga_to_beta(done) == []


def test_session_created_and_updated_carry_translated_sessions() -> None:
    beta_session = {
        "id": "sess_1",
        "object": "realtime.session",
        "modalities": ["text", "audio"],
        "voice": "alloy",
    }
    for kind in ("session.created", "session.updated"):
        [ga] = p.server_event_beta_to_ga({"type": kind, "event_id": "e", "session": beta_session})
        assert ga["session"] == {
            "type": "realtime",
            "id": "sess_1",
            "object": "realtime.session",
            "output_modalities": ["audio"],
            "audio": {"output": {"voice": "alloy"}},
        }
        assert p.server_event_ga_to_beta(ga) == [{"type": kind, "event_id": "e", "session": beta_session}]


def test_response_resource_translated_in_created_and_done() -> None:
    ga_response = {
        "object": "realtime.response",
        "id": "resp_1",
        "status": "completed",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": PCM, "voice": "alloy"}},
        "output": [
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]}
        ],
    }
    [beta] = p.server_event_ga_to_beta({"type": "response.done", "response": ga_response})
    response = beta["response"]
    assert response["modalities"] == ["text", "audio"]
    assert response["voice"] == "alloy"
    assert response["output_audio_format"] == "pcm16"
    assert response["max_output_tokens"] == "inf"  # the resource keeps this name in beta
    assert response["output"][0]["content"][0]["type"] == "text"
    assert p.server_event_beta_to_ga(beta) == [{"type": "response.done", "response": ga_response}]


def test_output_item_events_translate_assistant_content() -> None:
    item = {"type": "message", "role": "assistant", "content": [{"type": "output_audio", "transcript": "t"}]}
    [beta] = p.server_event_ga_to_beta({"type": "response.output_item.done", "item": item})
    assert beta["item"]["content"][0]["type"] == "audio"


def test_user_content_is_the_same_in_both_dialects() -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "t"}]}
    assert p.item_ga_to_beta(item) == item
    assert p.item_beta_to_ga(item) == item


@pytest.mark.parametrize(
    "event",
    [
        {"type": "rate_limits.updated", "rate_limits": [{"name": "tokens"}]},
        {"type": "error", "error": {"code": "x"}},
        {"type": "response.something_new", "payload": {"deep": [1, {"a": None}]}},
        {"type": "response.function_call_arguments.done", "call_id": "call_1", "arguments": "{}"},
    ],
)
def test_other_and_unknown_server_events_pass_unchanged(event: dict[str, Any]) -> None:
    assert p.server_event_beta_to_ga(event) == [event]
    assert p.server_event_ga_to_beta(event) == [event]


# Client events -------------------------------------------------------------------------------------


def test_client_session_update_translated() -> None:
    ga = p.session_update("e1", {"instructions": "x", "output_modalities": ["text"]})
    beta = p.client_event_ga_to_beta(ga)
    assert beta == {
        "type": "session.update",
        "event_id": "e1",
        "session": {"instructions": "x", "modalities": ["text"]},
    }
    assert p.client_event_beta_to_ga(beta) == ga


def test_client_response_create_overrides_translated() -> None:
    ga = p.response_create(
        "e2",
        response={
            "output_modalities": ["text"],
            "instructions": "short",
            "max_output_tokens": 50,
            "audio": {"output": {"voice": "alloy"}},
            "tools": TOOLS,
            "metadata": {"k": "v"},
        },
    )
    beta = p.client_event_ga_to_beta(ga)
    assert beta["response"] == {
        "modalities": ["text"],
        "instructions": "short",
        "max_response_output_tokens": 50,
        "voice": "alloy",
        "tools": TOOLS,
        "metadata": {"k": "v"},
    }
    assert p.client_event_beta_to_ga(beta) == ga


def test_client_item_create_translates_assistant_history() -> None:
    item = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "שלום"}]}
    beta = p.client_event_ga_to_beta(p.conversation_item_create(item))
    assert beta["item"]["content"] == [{"type": "text", "text": "שלום"}]
    assert p.client_event_beta_to_ga(beta)["item"] == item


@pytest.mark.parametrize(
    "event",
    [
        {"type": "input_audio_buffer.append", "audio": "AAAA"},
        {"type": "response.cancel", "event_id": "x"},
        {"type": "response.create"},
        {"type": "session.update"},
        {"type": "who.knows", "session": {"voice": "alloy"}},
    ],
)
def test_other_and_unknown_client_events_pass_unchanged(event: dict[str, Any]) -> None:
    assert p.client_event_ga_to_beta(event) == event
    assert p.client_event_beta_to_ga(event) == event
