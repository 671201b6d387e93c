"""The sans-I/O engine with plain dicts: session config, validation, errors, streaming, items."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from lm_helpers import EN_INSTRUCTIONS, HE_INSTRUCTIONS, Clock, append, pcm, types, update, user_text

from companion.localmodel import EngineSession
from companion.localmodel.engine import Behaviour

Make = Callable[..., EngineSession]


def error_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert types(events) == ["error"], events
    return dict(events[0]["error"])


def test_session_created_carries_the_whole_default_session() -> None:
    engine = EngineSession(model="gpt-realtime", session_id="sess_9", clock=Clock(1000.0))
    [created] = engine.start()
    assert created["type"] == "session.created"
    session = created["session"]
    assert session["type"] == "realtime"
    assert session["object"] == "realtime.session"
    assert session["id"] == "sess_9"
    assert session["model"] == "gpt-realtime"
    assert session["output_modalities"] == ["audio"]
    assert session["instructions"] == ""
    assert session["tools"] == []
    assert session["tool_choice"] == "auto"
    assert session["max_output_tokens"] == "inf"
    assert session["expires_at"] == 1000 + 3600
    pcm = {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["input"]["format"] == pcm
    assert session["audio"]["input"]["transcription"] is None
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    }
    assert session["audio"]["output"] == {"format": pcm, "voice": "alloy", "speed": 1.0}


def test_session_update_merges_and_answers_with_the_whole_session(make_engine: Make) -> None:
    engine = make_engine()
    [updated] = engine.receive_event(update("c1", instructions=HE_INSTRUCTIONS))
    assert updated["type"] == "session.updated"
    assert updated["event_id"] != "c1"  # session.updated does not echo the client's id
    assert updated["session"]["instructions"] == HE_INSTRUCTIONS
    assert updated["session"]["audio"]["output"]["voice"] == "alloy"
    [updated] = engine.receive_event(update(audio={"input": {"turn_detection": {"type": "server_vad"}}}))
    assert updated["session"]["instructions"] == HE_INSTRUCTIONS  # untouched fields stay
    assert updated["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    engine.receive_event(update(instructions="second"))
    assert engine.instructions_history == ["", HE_INSTRUCTIONS, "second"]
    assert engine.config["instructions"] == "second"


def test_partial_turn_detection_gets_defaults(make_engine: Make) -> None:
    engine = make_engine()
    [updated] = engine.receive_event(
        update(audio={"input": {"turn_detection": {"type": "server_vad", "threshold": 0.7}}})
    )
    vad = updated["session"]["audio"]["input"]["turn_detection"]
    assert vad["threshold"] == 0.7
    assert vad["silence_duration_ms"] == 500
    [updated] = engine.receive_event(update(audio={"input": {"turn_detection": None}}))
    assert updated["session"]["audio"]["input"]["turn_detection"] is None


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"instructions": "x"}, "missing_required_parameter", "session.type"),
        ({"type": "transcription"}, "invalid_value", "session.type"),
        ({"type": "realtime", "modalities": ["text"]}, "unknown_parameter", "session.modalities"),
        ({"type": "realtime", "voice": "alloy"}, "unknown_parameter", "session.voice"),
        ({"type": "realtime", "temperature": 0.8}, "unknown_parameter", "session.temperature"),
        ({"type": "realtime", "bogus_field": 1}, "unknown_parameter", "session.bogus_field"),
        ({"type": "realtime", "instructions": 5}, "invalid_type", "session.instructions"),
        (
            {"type": "realtime", "output_modalities": ["text", "audio"]},
            "invalid_value",
            "session.output_modalities",
        ),
        (
            {"type": "realtime", "audio": {"output": {"voice": "robot"}}},
            "invalid_value",
            "session.audio.output.voice",
        ),
        (
            {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            "integer_below_min_value",
            "session.audio.input.format.rate",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}},
            },
            "decimal_above_max_value",
            "session.audio.input.turn_detection.threshold",
        ),
        (
            {"type": "realtime", "tools": [{"type": "function", "name": "x", "meta": 1}]},
            "unknown_parameter",
            "session.tools[0].meta",
        ),
        (
            {"type": "realtime", "tools": [{"type": "function"}]},
            "missing_required_parameter",
            "session.tools[0].name",
        ),
        ({"type": "realtime", "tool_choice": "sometimes"}, "invalid_value", "session.tool_choice"),
        (
            {"type": "realtime", "max_output_tokens": 0},
            "integer_below_min_value",
            "session.max_output_tokens",
        ),
    ],
)
def test_ga_session_update_is_strict(
    make_engine: Make, session: dict[str, Any], code: str, param: str
) -> None:
    engine = make_engine()
    before = json.dumps(engine.config, sort_keys=True)
    error = error_of(engine.receive_event({"type": "session.update", "event_id": "c7", "session": session}))
    assert (error["type"], error["code"], error["param"], error["event_id"]) == (
        "invalid_request_error",
        code,
        param,
        "c7",
    )
    assert json.dumps(engine.config, sort_keys=True) == before  # rejected whole, nothing applied


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"type": "realtime"}, "unknown_parameter", "session.type"),
        ({"output_modalities": ["audio"]}, "unknown_parameter", "session.output_modalities"),
        ({"audio": {"output": {"voice": "alloy"}}}, "unknown_parameter", "session.audio"),
        ({"modalities": ["audio"]}, "invalid_value", "session.modalities"),
        ({"input_audio_format": "wav"}, "invalid_value", "session.input_audio_format"),
        ({"temperature": 0.1}, "decimal_below_min_value", "session.temperature"),
        ({"voice": "robot"}, "invalid_value", "session.voice"),
        (
            {"turn_detection": {"type": "server_vad", "threshold": -1}},
            "decimal_below_min_value",
            "session.turn_detection.threshold",
        ),
        (
            {"max_response_output_tokens": 99999},
            "integer_above_max_value",
            "session.max_response_output_tokens",
        ),
    ],
)
def test_beta_session_update_is_strict_in_beta_terms(
    make_engine: Make, session: dict[str, Any], code: str, param: str
) -> None:
    engine = make_engine(dialect="beta")
    error = error_of(engine.receive_event({"type": "session.update", "event_id": "b1", "session": session}))
    assert (error["code"], error["param"], error["event_id"]) == (code, param, "b1")


def test_beta_session_shapes(make_engine: Make) -> None:
    engine = EngineSession(dialect="beta", clock=Clock())
    [created] = engine.start()
    session = created["session"]
    assert "type" not in session
    assert "audio" not in session
    assert session["modalities"] == ["text", "audio"]
    assert session["voice"] == "alloy"
    assert session["input_audio_format"] == session["output_audio_format"] == "pcm16"
    assert session["turn_detection"]["type"] == "server_vad"
    assert session["max_response_output_tokens"] == "inf"
    assert session["temperature"] == 0.8
    [updated] = engine.receive_event(
        {"type": "session.update", "session": {"modalities": ["text"], "voice": "verse", "temperature": 1.0}}
    )
    assert updated["session"]["modalities"] == ["text"]
    assert updated["session"]["voice"] == "verse"
    assert updated["session"]["temperature"] == 1.0
    assert engine.config["output_modalities"] == ["text"]  # stored in GA shape


def test_unknown_event_type_is_an_error_echoing_the_event_id(make_engine: Make) -> None:
    engine = make_engine()
    error = error_of(engine.receive_event({"type": "session.nope", "event_id": "abc"}))
    assert error["code"] == "invalid_value"
    assert error["param"] == "type"
    assert error["event_id"] == "abc"
    assert "Supported values are: 'session.update'" in error["message"]
    assert engine.receive_event(update(instructions="still open"))[0]["type"] == "session.updated"


def test_unknown_top_level_parameter(make_engine: Make) -> None:
    error = error_of(make_engine().receive_event({"type": "response.create", "event_id": "q", "extra": 1}))
    assert (error["code"], error["param"], error["event_id"]) == ("unknown_parameter", "extra", "q")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1]", "invalid_event"),
        ('{"event_id":"x"}', "missing_required_parameter"),
    ],
)
def test_malformed_frames(make_engine: Make, frame: str, code: str) -> None:
    error = error_of(make_engine().receive_text(frame))
    assert error["code"] == code
    assert error["event_id"] is None


def test_binary_frames_are_rejected(make_engine: Make) -> None:
    assert error_of(make_engine().receive_bytes(b"\x00\x01"))["code"] == "invalid_event"


def test_voice_is_frozen_once_assistant_audio_exists(make_engine: Make) -> None:
    engine = make_engine()
    assert engine.receive_event(update(audio={"output": {"voice": "verse"}}))[0]["type"] == "session.updated"
    engine.receive_event({"type": "response.create"})
    assert "response.output_audio.delta" in types(engine.drain())
    error = error_of(engine.receive_event(update("v2", audio={"output": {"voice": "ash"}})))
    assert error["code"] == "cannot_update_voice"
    assert error["event_id"] == "v2"
    # the same voice counts too: the service rejects any voice field once audio exists
    assert (
        error_of(engine.receive_event(update(audio={"output": {"voice": "verse"}})))["code"]
        == "cannot_update_voice"
    )
    assert engine.receive_event(update(instructions="fine"))[0]["type"] == "session.updated"


def test_voice_may_change_after_text_only_responses(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(update(output_modalities=["text"]))
    engine.receive_event({"type": "response.create"})
    engine.drain()
    assert engine.receive_event(update(audio={"output": {"voice": "ash"}}))[0]["type"] == "session.updated"


def test_only_one_active_response(make_engine: Make) -> None:
    engine = make_engine()
    [created] = engine.receive_event({"type": "response.create", "event_id": "r1"})
    assert created["type"] == "response.created"
    error = error_of(engine.receive_event({"type": "response.create", "event_id": "r2"}))
    assert error["code"] == "conversation_already_has_active_response"
    assert error["event_id"] == "r2"
    assert created["response"]["id"] in error["message"]
    engine.drain()
    assert types(engine.receive_event({"type": "response.create"})) == ["response.created"]


def test_response_cancel(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(update(output_modalities=["text"]))
    engine.receive_event({"type": "response.create"})
    first = [engine.next_output() for _ in range(4)]  # up to the first text delta
    assert types(first)[-1] == "response.output_text.delta"  # type: ignore[arg-type]
    assert engine.receive_event({"type": "response.cancel"}) == []
    rest = engine.drain()
    assert types(rest) == [
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
        "rate_limits.updated",
    ]
    done = rest[2]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert rest[1]["item"]["status"] == "incomplete"
    said = first[-1]["delta"]  # type: ignore[index]
    assert engine.items[-1]["content"] == [{"type": "output_text", "text": said}]
    error = error_of(engine.receive_event({"type": "response.cancel", "event_id": "x"}))
    assert (error["code"], error["event_id"]) == ("response_cancel_not_active", "x")


def test_cancel_before_anything_streamed(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event({"type": "response.create"})
    engine.receive_event({"type": "response.cancel"})
    assert types(engine.drain()) == ["response.done", "rate_limits.updated"]
    assert engine.items == []


def test_audio_turn_event_order_and_usage(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(update(instructions=EN_INSTRUCTIONS))
    events = engine.receive_event({"type": "response.create"}) + engine.drain()
    order = [t for t in types(events) if not t.endswith(".delta")]
    assert order == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
        "rate_limits.updated",
    ]
    transcript = next(e for e in events if e["type"] == "response.output_audio_transcript.done")["transcript"]
    assert transcript == "Hello Ann! How are you feeling today?"
    deltas = [e for e in events if e["type"] == "response.output_audio_transcript.delta"]
    assert "".join(d["delta"] for d in deltas) == transcript
    done = events[-2]["response"]
    assert done["status"] == "completed"
    usage = done["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_token_details"]["text_tokens"] > 0
    assert usage["output_token_details"]["audio_tokens"] > 0
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": transcript}]
    assert events[-1]["rate_limits"][0]["name"] == "tokens"


def test_audio_length_follows_the_text_and_is_capped(make_engine: Make) -> None:
    import base64

    engine = make_engine()
    engine.receive_event(update(instructions=EN_INSTRUCTIONS))
    engine.receive_event({"type": "response.create"})
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in engine.drain() if e["type"] == "response.output_audio.delta"
    )
    assert len(audio) == 7 * 60 * 48  # 7 words x 60 ms x 48 bytes per ms
    engine.receive_event(user_text("word " * 200))
    engine.receive_event({"type": "response.create"})
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in engine.drain() if e["type"] == "response.output_audio.delta"
    )
    assert len(audio) <= 3000 * 48


def test_text_modality_produces_text_events(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(update(output_modalities=["text"], instructions=EN_INSTRUCTIONS))
    events = engine.receive_event({"type": "response.create"}) + engine.drain()
    assert "response.output_audio.delta" not in types(events)
    text_done = next(e for e in events if e["type"] == "response.output_text.done")
    assert text_done["text"] == "Hello Ann! How are you feeling today?"
    assert engine.items[-1]["content"] == [{"type": "output_text", "text": text_done["text"]}]


def test_response_overrides_apply_to_that_response_only(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(update(output_modalities=["text"], instructions=EN_INSTRUCTIONS))
    override = {"instructions": HE_INSTRUCTIONS, "metadata": {"k": "v"}}
    events = engine.receive_event({"type": "response.create", "response": override}) + engine.drain()
    assert next(e for e in events if e["type"] == "response.output_text.done")["text"].startswith("שלום משה!")
    assert events[-2]["response"]["metadata"] == {"k": "v"}
    assert engine.config["instructions"] == EN_INSTRUCTIONS
    events = engine.receive_event({"type": "response.create"}) + engine.drain()
    assert "Ann" in next(e for e in events if e["type"] == "response.output_text.done")["text"]


def test_out_of_band_response_leaves_the_conversation_alone(make_engine: Make) -> None:
    engine = make_engine()
    events = (
        engine.receive_event({"type": "response.create", "response": {"conversation": "none"}})
        + engine.drain()
    )
    assert "conversation.item.added" not in types(events)
    assert events[-2]["response"]["conversation_id"] is None
    assert engine.items == []


def test_invalid_response_overrides(make_engine: Make) -> None:
    engine = make_engine()
    error = error_of(
        engine.receive_event(
            {"type": "response.create", "event_id": "o", "response": {"modalities": ["text"]}}
        )
    )
    assert (error["code"], error["param"]) == ("unknown_parameter", "response.modalities")
    assert engine.active is None


def test_items_create_delete_retrieve(make_engine: Make) -> None:
    engine = make_engine()
    added, done = engine.receive_event(user_text("hello", "i1"))
    assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")
    item_id = added["item"]["id"]
    assert added["item"]["status"] == "completed"
    assert added["previous_item_id"] is None
    [retrieved] = engine.receive_event({"type": "conversation.item.retrieve", "item_id": item_id})
    assert retrieved["item"]["content"][0]["text"] == "hello"
    [deleted] = engine.receive_event({"type": "conversation.item.delete", "item_id": item_id})
    assert deleted == {
        "type": "conversation.item.deleted",
        "event_id": deleted["event_id"],
        "item_id": item_id,
    }
    for kind, code in [
        ("conversation.item.delete", "item_delete_invalid_item_id"),
        ("conversation.item.retrieve", "item_retrieve_invalid_item_id"),
        ("conversation.item.truncate", "item_truncate_invalid_item_id"),
    ]:
        error = error_of(
            engine.receive_event(
                {"type": kind, "event_id": "e", "item_id": item_id, "content_index": 0, "audio_end_ms": 0}
                if kind.endswith("truncate")
                else {"type": kind, "event_id": "e", "item_id": item_id}
            )
        )
        assert (error["code"], error["event_id"]) == (code, "e")
        assert "does not exist" in error["message"]


def test_item_previous_item_id_and_client_ids(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event(user_text("a"))
    first = engine.items[0]["id"]
    event = user_text("b")
    event["item"]["id"] = "mine"
    event["previous_item_id"] = "root"
    [added, _] = engine.receive_event(event)
    assert added["previous_item_id"] is None
    assert [i["id"] for i in engine.items] == ["mine", first]
    error = error_of(engine.receive_event(event))
    assert error["param"] == "item.id"
    event["item"]["id"] = "other"
    event["previous_item_id"] = "missing"
    assert error_of(engine.receive_event(event))["code"] == "item_create_invalid_previous_item_id"


@pytest.mark.parametrize(
    ("item", "code", "param"),
    [
        (None, "missing_required_parameter", "item"),
        (
            {"type": "message", "role": "user", "content": [{"type": "input_text"}]},
            "missing_required_parameter",
            "item.content[0].text",
        ),
        (
            {"type": "message", "role": "user", "content": [{"type": "output_text", "text": "x"}]},
            "invalid_value",
            "item.content[0].type",
        ),
        (
            {"type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "x"}]},
            "invalid_value",
            "item.content[0].type",
        ),
        ({"type": "message", "role": "robot", "content": []}, "invalid_value", "item.role"),
        ({"type": "function_call_output", "call_id": "c"}, "missing_required_parameter", "item.output"),
        ({"type": "message", "role": "user", "content": [], "extra": 1}, "unknown_parameter", "item.extra"),
        ({"type": "reasoning"}, "invalid_value", "item.type"),
    ],
)
def test_item_validation(make_engine: Make, item: Any, code: str, param: str) -> None:
    event: dict[str, Any] = {"type": "conversation.item.create", "event_id": "it"}
    if item is not None:
        event["item"] = item
    error = error_of(make_engine().receive_event(event))
    assert (error["code"], error["param"], error["event_id"]) == (code, param, "it")


def test_beta_item_content_names(make_engine: Make) -> None:
    engine = make_engine(dialect="beta")
    item = {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "earlier reply"}]}
    [created] = engine.receive_event({"type": "conversation.item.create", "item": item})
    assert created["type"] == "conversation.item.created"
    assert created["item"]["content"] == [{"type": "text", "text": "earlier reply"}]
    assert engine.items[0]["content"] == [{"type": "output_text", "text": "earlier reply"}]
    item["content"] = [{"type": "output_text", "text": "GA name"}]
    assert (
        error_of(engine.receive_event({"type": "conversation.item.create", "item": item}))["code"]
        == "invalid_value"
    )


def test_truncate_assistant_audio(make_engine: Make) -> None:
    engine = make_engine()
    engine.receive_event({"type": "response.create"})
    engine.drain()
    assistant = engine.items[-1]["id"]
    too_far = {
        "type": "conversation.item.truncate",
        "item_id": assistant,
        "content_index": 0,
        "audio_end_ms": 99999,
    }
    assert error_of(engine.receive_event(too_far))["param"] == "audio_end_ms"
    [truncated] = engine.receive_event({**too_far, "audio_end_ms": 100})
    assert truncated["type"] == "conversation.item.truncated"
    assert truncated["audio_end_ms"] == 100
    assert engine.items[-1]["content"][0]["transcript"] == ""
    engine.receive_event(user_text("x"))
    user = engine.items[-1]["id"]
    assert (
        error_of(engine.receive_event({**too_far, "item_id": user, "audio_end_ms": 0}))["param"] == "item_id"
    )


def test_commit_needs_100_ms(make_engine: Make) -> None:

    engine = make_engine()
    engine.receive_event(update(audio={"input": {"turn_detection": None}}))
    error = error_of(engine.receive_event({"type": "input_audio_buffer.commit", "event_id": "k"}))
    assert error["code"] == "input_audio_buffer_commit_empty"
    assert "0.00ms" in error["message"]
    assert engine.receive_event(append(pcm(150))) == []
    events = engine.receive_event({"type": "input_audio_buffer.commit"})
    assert types(events) == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert events[0]["item_id"] == events[1]["item"]["id"]
    assert events[1]["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    assert engine.receive_event(append(pcm(150))) == []
    assert types(engine.receive_event({"type": "input_audio_buffer.clear"})) == ["input_audio_buffer.cleared"]
    assert (
        error_of(engine.receive_event({"type": "input_audio_buffer.commit"}))["code"]
        == "input_audio_buffer_commit_empty"
    )


def test_bad_audio_is_rejected(make_engine: Make) -> None:
    error = error_of(make_engine().receive_event({"type": "input_audio_buffer.append", "audio": "%%%"}))
    assert (error["code"], error["param"]) == ("invalid_value", "audio")


def test_expiry(make_engine: Make) -> None:
    engine = make_engine(max_session_s=3600)
    error = error_of(engine.expire())
    assert error["code"] == "session_expired"
    assert error["message"] == "Your session hit the maximum duration of 60 minutes."
    assert engine.closed == (1001, error["message"])
    short = make_engine(max_session_s=0.5)
    assert short.expire()[0]["error"]["message"] == "Your session hit the maximum duration of 0.5 seconds."


def test_behaviour_reject_and_ignore(make_engine: Make) -> None:
    behaviour = Behaviour(reject_session_updates=True)
    engine = make_engine(behaviour=behaviour)
    error = error_of(engine.receive_event(update("u1", instructions="x")))
    assert error["event_id"] == "u1"
    assert engine.config["instructions"] == ""
    behaviour.reject_session_updates = False
    behaviour.ignore_session_updates = True
    assert engine.receive_event(update("u2", instructions="y")) == []
    assert engine.config["instructions"] == ""
    behaviour.ignore_session_updates = False
    assert engine.receive_event(update("u3", instructions="z"))[0]["session"]["instructions"] == "z"


def test_beta_dialect_event_names(make_engine: Make) -> None:
    engine = make_engine(dialect="beta")
    engine.receive_event(user_text("hi"))
    events = engine.receive_event({"type": "response.create"}) + engine.drain()
    names = set(types(events))
    assert {
        "response.audio.delta",
        "response.audio_transcript.delta",
        "response.audio_transcript.done",
    } <= names
    assert "conversation.item.created" in names
    assert not {"conversation.item.added", "conversation.item.done", "response.output_audio.delta"} & names
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["modalities"] == ["text", "audio"]
    assert done["output"][0]["content"][0]["type"] == "audio"


def test_replies_are_deterministic(make_engine: Make) -> None:
    def run() -> list[dict[str, Any]]:
        engine = make_engine()
        out = engine.receive_event(update(instructions=HE_INSTRUCTIONS, tools=[]))
        out += engine.receive_event({"type": "response.create"}) + engine.drain()
        out += engine.receive_event(user_text("בוא נשמע מוזיקה"))
        out += engine.receive_event({"type": "response.create"}) + engine.drain()
        return out

    assert run() == run()
