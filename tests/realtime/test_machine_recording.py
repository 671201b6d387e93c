"""The session machine records the conversation: the recorder's notes it makes from the model's events
(turns with their text, the cut of a barge-in, model connections, what the companion did, the end) and
the summary it asks for after the person left, on virtual time with plain dicts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from companion.conversations import notes as N
from companion.conversations.summary import SUMMARY_TAG, SUMMARY_WAIT_S
from companion.realtime import actions as A
from companion.realtime.mirror import QUIET_SETTLE_S
from companion.realtime.policy import ToClient
from companion.realtime.records import Status
from companion.realtime.saying import SAY_TAG
from tests.realtime.machine_run import READ_OUT_S, Run, call, response

pytestmark = pytest.mark.unit


def notes(run: Run) -> list[Any]:
    kinds = (
        N.TurnStarted,
        N.TurnEnded,
        N.TurnCut,
        N.Connected,
        N.Did,
        N.Ended,
        N.Summarised,
        N.Abandoned,
    )
    return [a for a in run.actions if isinstance(a, kinds)]


def spoken(run: Run, number: int, item: str, text: str, *, audio_ms: int = 1000) -> None:
    """The companion begins an answer with one spoken item: ``audio_ms`` of audio and its words."""
    run.model(
        number,
        {"type": "response.created", "response": {"id": f"r_{item}", "status": "in_progress"}},
        {"type": "response.output_item.added", "item": {"id": item, "type": "message", "role": "assistant"}},
        {"type": "response.output_audio.delta", "item_id": item, "delta": "A" * (audio_ms * 48 * 4 // 3)},
        {"type": "response.output_audio_transcript.delta", "item_id": item, "delta": text},
    )


def finished(run: Run, number: int, item: str, text: str, *, status: str = "completed") -> None:
    done = {
        "id": item,
        "type": "message",
        "role": "assistant",
        "status": "incomplete" if status != "completed" else "completed",
        "content": [{"type": "output_audio", "transcript": text}],
    }
    run.model(
        number,
        {"type": "response.output_item.done", "item": done},
        {"type": "response.done", "response": {"id": f"r_{item}", "status": status, "output": [done]}},
    )


def heard(number: int, run: Run, item: str, transcript: str) -> None:
    run.model(
        number,
        {"type": "input_audio_buffer.speech_started", "item_id": item},
        {"type": "input_audio_buffer.speech_stopped", "item_id": item},
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": item,
            "transcript": transcript,
        },
    )


# ---- the notes ----------------------------------------------------------------------------------------


def test_turns_of_both_sides_what_the_companion_did_the_connections_and_the_end() -> None:
    run = Run()
    first = run.start()
    t0 = run.wall()
    heard(first, run, "u1", "play music")
    typed = {"id": "u2", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    run.model(first, {"type": "conversation.item.added", "item": typed})
    spoken(run, first, "a1", "Here is a song")
    finished(run, first, "a1", "Here is a song")
    run.model(first, *call("r2", "play_music", '{"artist": "Arik Einstein", "reason": "requested"}'))
    named = {"id": "r3", "status": "in_progress", "metadata": {SAY_TAG: "say_1"}}
    run.model(first, {"type": "response.created", "response": named})
    run.model(first, {"type": "response.done", "response": {**named, "status": "completed", "output": []}})
    run.feed(run.m.model_closed(first, run.now, code=1006))
    second = run.switch()
    for event in run.sent(second, "conversation.item.create"):  # the replay's echo: nobody's turn
        run.model(second, {"type": "conversation.item.added", "item": event["item"]})
    run.after(10.0)
    run.feed(run.m.close(run.now))
    t1 = run.wall()
    assert notes(run) == [
        N.TurnStarted("person", t0),
        N.TurnEnded("person", "play music", t0),
        N.TurnStarted("person", t0),
        N.TurnEnded("person", "hi", t0),
        N.TurnStarted("companion", t0),
        N.TurnEnded("companion", "Here is a song", t0, key="a1"),
        N.Did("song", t0, "Arik Einstein"),
        N.Did("reminder_said", t0),
        N.Connected("reconnect", t0),
        N.Ended("person", t1),
    ]


def test_a_barge_in_cuts_the_companions_words_where_its_audio_stopped() -> None:
    run = Run()
    number = run.start()
    spoken(run, number, "a1", "one two three four five six", audio_ms=2000)
    finished(run, number, "a1", "one two three four five six", status="cancelled")
    run.model(
        number,
        {"type": "conversation.item.truncated", "item_id": "a1", "content_index": 0, "audio_end_ms": 1000},
    )
    ended, cut = notes(run)[-2:]
    assert isinstance(ended, N.TurnEnded) and ended.cut and ended.key == "a1"
    assert cut == N.TurnCut("a1", "one two three…", run.wall())


def test_a_truncation_before_the_items_end_ends_the_turn_as_heard() -> None:
    run = Run()
    number = run.start()
    spoken(run, number, "a1", "one two three four", audio_ms=1000)
    run.model(
        number,
        {"type": "conversation.item.truncated", "item_id": "a1", "content_index": 0, "audio_end_ms": 500},
    )
    finished(run, number, "a1", "one two three four", status="cancelled")
    companion = [n for n in notes(run) if isinstance(n, N.TurnEnded) and n.role == "companion"]
    assert companion == [N.TurnEnded("companion", "one two…", run.wall(), key="a1", cut=True)]


def test_a_barge_in_before_the_answer_is_finished_keeps_only_what_was_heard() -> None:
    """The truncation arrives while the answer is still being made: the turn is written once, when it
    ends, cut where its audio stopped (the words against all the audio made for them), never whole."""
    run = Run()
    number = run.start()
    text = "one two three four five six seven eight"
    spoken(run, number, "a1", text, audio_ms=1000)
    run.model(
        number,
        {"type": "conversation.item.truncated", "item_id": "a1", "content_index": 0, "audio_end_ms": 500},
    )
    assert not [n for n in notes(run) if isinstance(n, N.TurnEnded | N.TurnCut)], "not before it ends"
    run.model(number, {"type": "response.output_audio.delta", "item_id": "a1", "delta": "A" * (1000 * 64)})
    finished(run, number, "a1", text, status="cancelled")
    companion = [n for n in notes(run) if isinstance(n, N.TurnEnded | N.TurnCut)]
    # 500 of 2,000 ms made: a quarter of the words, back to a whole word
    assert companion == [N.TurnEnded("companion", "one two…", run.wall(), key="a1", cut=True)]
    run.model(
        number,
        {"type": "conversation.item.truncated", "item_id": "a1", "content_index": 0, "audio_end_ms": 200},
    )
    assert [n for n in notes(run) if isinstance(n, N.TurnEnded | N.TurnCut)] == companion, "cut once"


def test_an_answer_cut_by_the_loss_of_its_connection_ends_cut() -> None:
    run = Run()
    first = run.start()
    spoken(run, first, "a1", "I was saying")
    run.feed(run.m.model_closed(first, run.now, code=1006))
    assert notes(run)[-1] == N.TurnEnded("companion", "I was saying", run.wall(), key="a1", cut=True)
    run.switch()
    assert notes(run)[-1] == N.Connected("reconnect", run.wall())


def test_a_rotation_is_noted_as_one() -> None:
    run = Run(max_session_s=60.0)
    run.start()
    run.after(60.0)
    assert run.m.status is Status.RECONNECTING
    run.switch()
    assert notes(run)[-1] == N.Connected("rotation", run.wall())


def test_a_conversation_closed_before_it_started_is_abandoned() -> None:
    run = Run()
    run.feed(run.m.start(run.now, 1.7e9))
    run.feed(run.m.close(run.now))
    assert [type(n) for n in notes(run)] == [N.Abandoned]


def test_the_end_says_how() -> None:
    from companion.realtime.endings import Ending

    run = Run()
    run.start()
    run.feed(run.m.close(run.now, Ending.DEVICE_REVOKED))
    assert notes(run)[-1] == N.Ended("revoked", run.wall())


def test_without_a_recorder_no_notes_are_made() -> None:
    run = Run(notes=False)
    number = run.start()
    heard(number, run, "u1", "hello")
    run.model(number, *response("r1"))
    run.after(QUIET_SETTLE_S + 1)
    run.feed(run.m.client_left(run.now, summary_language="en"))
    assert notes(run) == []
    assert run.m.status is Status.CLOSING  # and no summary is asked
    assert run.sent(number, "response.create") == []


# ---- the summary after the person left ----------------------------------------------------------------


def summary_events(key: str, text: str = "He talked about the garden.") -> list[dict[str, Any]]:
    response = {"id": "resp_s", "status": "in_progress", "metadata": {SUMMARY_TAG: key}}
    message = {"type": "message", "content": [{"type": "output_text", "text": text}]}
    return [
        {"type": "response.created", "response": response},
        {"type": "response.output_item.added", "response_id": "resp_s", "item": {"id": "s1", **message}},
        {"type": "response.output_text.delta", "response_id": "resp_s", "item_id": "s1", "delta": text},
        {
            "type": "response.done",
            "response": {**response, "status": "completed", "output": [message]},
        },
    ]


def left_quietly(run: Run, language: str | None = "he") -> int:
    number = run.start()
    heard(number, run, "u1", "I planted tomatoes")
    run.model(number, *response("r1"))
    run.after(QUIET_SETTLE_S + 1)
    run.feed(run.m.client_left(run.now, summary_language=language))
    return number


def test_the_summary_is_asked_out_of_band_and_its_events_reach_no_one() -> None:
    run = Run()
    number = left_quietly(run)
    [ask] = [e for e in run.sent(number) if e.get("response", {}).get("conversation") == "none"]
    assert ask["type"] == "response.create" and ask["response"]["output_modalities"] == ["text"]
    assert "עברית" in ask["response"]["instructions"]
    assert run.m.status is Status.ACTIVE  # the model connection stays open for it
    assert run.m.next_deadline(run.now) == pytest.approx(run.now + SUMMARY_WAIT_S)
    turns, clients = len(run.m.mirror.turns), len(run.to_client())
    run.model(number, *summary_events(ask["response"]["metadata"][SUMMARY_TAG]))
    assert len(run.to_client()) == clients, "the client is told nothing of the summary"
    assert len(run.m.mirror.turns) == turns and not run.m.mirror.response_active, "nor the mirror"
    assert run.m.turn_count == 1 and run.of(A.Tokens) == [], "nor the counts"
    assert notes(run)[-2:] == [
        N.Summarised("He talked about the garden.", run.wall()),
        N.Ended("person", run.wall()),
    ]
    assert run.m.status is Status.CLOSING and run.client_close() == (1000, "session closed")
    assert number in run.closed_models()


def test_a_summary_that_does_not_come_is_given_up_after_its_bound() -> None:
    run = Run()
    left_quietly(run)
    left = run.now
    run.until_deadline()
    assert run.now == pytest.approx(left + SUMMARY_WAIT_S)
    assert notes(run)[-2:] == [N.Summarised(None, run.wall()), N.Ended("person", run.wall())]
    assert run.m.status is Status.CLOSING


def test_an_error_naming_the_request_ends_the_wait_at_once() -> None:
    run = Run()
    number = left_quietly(run)
    [ask] = run.sent(number, "response.create")[-1:]
    error = {"type": "invalid_request_error", "code": "bad", "event_id": ask["event_id"]}
    run.model(number, {"type": "error", "error": error})
    assert run.to_client("error") == []
    assert isinstance(notes(run)[-2], N.Summarised) and notes(run)[-2].text is None
    assert run.m.status is Status.CLOSING


def test_the_connection_lost_while_waiting_ends_the_conversation_without_reconnecting() -> None:
    run = Run()
    number = left_quietly(run)
    run.feed(run.m.model_closed(number, run.now, code=1006))
    assert run.m.status is Status.CLOSING
    assert isinstance(notes(run)[-2], N.Summarised) and notes(run)[-2].text is None
    assert notes(run)[-1] == N.Ended("person", run.wall())


def test_no_summary_is_asked_where_none_is_wanted() -> None:
    run = Run()
    number = left_quietly(run, language=None)
    assert run.m.status is Status.CLOSING
    assert [e for e in run.sent(number, "response.create") if "metadata" in e.get("response", {})] == []
    assert not [n for n in notes(run) if isinstance(n, N.Summarised)]


def test_the_answer_is_read_out_first_then_the_summary_is_asked() -> None:
    run = Run()
    number = run.start()
    heard(number, run, "u1", "I fell")
    run.model(number, response("r1")[0])
    run.feed(run.m.client_left(run.now, summary_language="en"))
    assert run.sent(number, "response.create") == []  # the answer is still being made
    run.model(number, *call("r1", "alert_family", '{"severity":"urgent","summary":"fell"}')[1:])
    assert [s.call.name for s in run.tools_started()] == ["alert_family"]
    [ask] = run.sent(number, "response.create")
    assert ask["response"]["conversation"] == "none"
    assert run.m.status is Status.ACTIVE
    [run_] = run.tools_started()
    run.feed(run.m.tool_done(run_.token, {"ok": True}, run.now))  # the alert is written ...
    assert run.sent(number, "conversation.item.create") == []  # ... and nobody is answered with it
    assert run.sent(number, "response.create") == [ask]


def test_nothing_else_is_started_while_the_summary_is_awaited() -> None:
    run = Run(max_session_s=60.0)
    number = left_quietly(run)
    opened = len(run.of(A.OpenModel))
    run.feed(run.m.say_requested("Remind her of the pills", 60.0, run.now))
    run.after(READ_OUT_S)  # past the rotation's moment, quiet: still no rotation, no reminder said
    assert len(run.of(A.OpenModel)) == opened
    assert not [e for e in run.sent(number, "conversation.item.create") if "pills" in json.dumps(e)]


def test_the_client_sees_nothing_new_after_it_left() -> None:
    run = Run()
    number = left_quietly(run)
    key = run.sent(number, "response.create")[-1]["response"]["metadata"][SUMMARY_TAG]
    for action in run.model(number, *summary_events(key)):
        assert not isinstance(action, ToClient)
