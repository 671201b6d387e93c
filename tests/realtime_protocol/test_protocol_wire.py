"""Parsing, serialising and building realtime events: plain strings and dicts, no sockets."""

from __future__ import annotations

import json

import pytest

from companion.realtime import protocol as p


def test_parse_event_keeps_the_whole_object() -> None:
    event = p.parse_event('{"type":"session.updated","event_id":"event_1","session":{"instructions":"x"}}')
    assert event.type == "session.updated"
    assert event.event_id == "event_1"
    assert event.data["session"] == {"instructions": "x"}
    assert event.is_known()


def test_parse_event_accepts_bytes() -> None:
    assert p.parse_event(b'{"type":"response.done"}').type == "response.done"


def test_unknown_event_type_is_kept_not_rejected() -> None:
    text = '{"type":"response.brand_new_thing.delta","delta":"x","extra":{"a":[1,2]}}'
    event = p.parse_event(text)
    assert event.type == "response.brand_new_thing.delta"
    assert not event.is_known()
    assert not event.is_known(side="client")
    assert json.loads(p.dump_event(event)) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "code", "param"),
    [
        ("not json", "invalid_json", None),
        ("{", "invalid_json", None),
        ("", "invalid_json", None),
        (b"\xff\xfe", "invalid_json", None),
        ("[1, 2]", "invalid_event", None),
        ('"session.update"', "invalid_event", None),
        ("null", "invalid_event", None),
        ('{"event_id":"e1"}', "missing_required_parameter", "type"),
        ('{"type": 7}', "invalid_type", "type"),
    ],
)
def test_malformed_frames_raise_protocol_error(text: str | bytes, code: str, param: str | None) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.parse_event(text)
    assert isinstance(info.value, ValueError)
    assert info.value.code == code
    assert info.value.param == param


def test_dump_event_is_compact_and_keeps_hebrew_readable() -> None:
    text = p.dump_event({"type": "x", "text": "שלום «משה»", "n": [1, 2]})
    assert text == '{"type":"x","text":"שלום «משה»","n":[1,2]}'


def test_event_is_immutable() -> None:
    event = p.parse_event('{"type":"x"}')
    with pytest.raises(AttributeError):
        event.type = "y"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kind", "dialect", "side", "known"),
    [
        ("session.update", "ga", "client", True),
        ("response.output_audio.delta", "ga", "server", True),
        ("response.audio.delta", "ga", "server", False),
        ("response.audio.delta", "beta", "server", True),
        ("conversation.item.created", "beta", "server", True),
        ("conversation.item.added", "beta", "server", False),
        ("transcription_session.update", "beta", "client", True),
        ("transcription_session.update", "ga", "client", False),
    ],
)
def test_catalogues(kind: str, dialect: p.Dialect, side: str, known: bool) -> None:
    assert p.Event(kind, {"type": kind}).is_known(dialect=dialect, side=side) is known  # type: ignore[arg-type]


def test_new_event_id_is_prefixed_and_unique() -> None:
    ids = {p.new_event_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("evt_") for i in ids)
    assert p.new_event_id("refresh").startswith("refresh_")


def test_session_update_builder_fills_session_type() -> None:
    session = {"instructions": "hi"}
    event = p.session_update("evt_1", session)
    assert event == {
        "type": "session.update",
        "event_id": "evt_1",
        "session": {"instructions": "hi", "type": "realtime"},
    }
    assert session == {"instructions": "hi"}  # the caller's dict is not mutated
    assert "event_id" not in p.session_update(None, session)


def test_response_create_builder() -> None:
    assert p.response_create() == {"type": "response.create"}
    assert p.response_create("e1", response={"instructions": "short"}) == {
        "type": "response.create",
        "event_id": "e1",
        "response": {"instructions": "short"},
    }


def test_function_call_output_builder() -> None:
    event = p.function_call_output("call_1", '{"ok":true}', event_id="e2")
    assert event == {
        "type": "conversation.item.create",
        "event_id": "e2",
        "item": {"type": "function_call_output", "call_id": "call_1", "output": '{"ok":true}'},
    }


def test_user_text_message_and_item_create_builders() -> None:
    event = p.user_text_message("שלום")
    assert event["item"]["content"] == [{"type": "input_text", "text": "שלום"}]
    item = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]}
    created = p.conversation_item_create(item, previous_item_id="root")
    assert created["previous_item_id"] == "root"
    assert created["item"] == item


def test_error_event_shape() -> None:
    event = p.error_event("cannot_update_voice", "Nope.", event_id="client_7", server_event_id="event_9")
    assert event == {
        "type": "error",
        "event_id": "event_9",
        "error": {
            "type": "invalid_request_error",
            "code": "cannot_update_voice",
            "message": "Nope.",
            "param": None,
            "event_id": "client_7",
        },
    }
    generated = p.error_event("x", "y", type="server_error", param="session.voice")
    assert generated["event_id"].startswith("event_")
    assert generated["error"]["type"] == "server_error"
    assert generated["error"]["param"] == "session.voice"


@pytest.mark.parametrize(
    "instructions",
    ["", "plain", 'quotes " and \\ backslashes', "שלום, משה.\nמה שלומך היום?\t\u2028", "\x00\x1f control"],
)
def test_an_instructions_update_frame_is_exactly_the_update_dumped(instructions: str) -> None:
    event_id = 'evt_refresh_"x"'
    frame = p.instructions_update_frame(event_id, instructions)
    expected = p.session_update(event_id, {"type": "realtime", "instructions": instructions})
    assert frame == p.dump_event(expected)
    assert json.loads(p.instructions_update_frame("evt_2", instructions)) == p.session_update(
        "evt_2", {"instructions": instructions}
    )
