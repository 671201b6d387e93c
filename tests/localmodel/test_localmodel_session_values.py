"""Session configs are values: an update replaces the config, shares what it did not change, and no
one's later change to an event reaches the engine."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

from companion.localmodel import EngineSession

TOOL = {
    "type": "function",
    "name": "play_music",
    "description": "Play a song",
    "parameters": {"type": "object"},
}


def _update(engine: EngineSession, session: dict[str, object]) -> dict[str, object]:
    (answer,) = engine.receive_text(json.dumps({"type": "session.update", "session": session}))
    assert answer["type"] == "session.updated", answer
    return answer


def test_an_update_leaves_the_config_it_replaced_and_earlier_answers_unchanged(
    make_engine: Callable[..., EngineSession],
) -> None:
    engine = make_engine()
    first = _update(engine, {"type": "realtime", "instructions": "one", "tools": [TOOL]})
    first_seen = copy.deepcopy(first)
    before = engine.config
    before_seen = copy.deepcopy(before)
    vad = {"type": "server_vad", "silence_duration_ms": 900}
    second = _update(
        engine, {"type": "realtime", "instructions": "two", "audio": {"input": {"turn_detection": vad}}}
    )
    assert before == before_seen  # replaced, not changed in place
    assert first == first_seen  # an answer already given keeps saying what it said
    assert second["session"]["instructions"] == "two"  # type: ignore[index]
    assert second["session"]["tools"] == [TOOL]  # type: ignore[index]
    assert engine.config["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 900
    assert before["audio"]["input"]["turn_detection"] != engine.config["audio"]["input"]["turn_detection"]
    assert engine.config["audio"]["output"] is before["audio"]["output"]  # untouched levels are shared


def test_a_callers_later_change_to_its_event_does_not_reach_the_engine(
    make_engine: Callable[..., EngineSession],
) -> None:
    engine = make_engine()
    event = {
        "type": "session.update",
        "session": {"type": "realtime", "instructions": "kept", "tools": [TOOL]},
    }
    engine.receive_event(event)
    event["session"]["instructions"] = "changed afterwards"  # type: ignore[index]
    event["session"]["tools"][0]["name"] = "changed"  # type: ignore[index]
    assert engine.config["instructions"] == "kept"
    assert engine.config["tools"][0]["name"] == "play_music"
