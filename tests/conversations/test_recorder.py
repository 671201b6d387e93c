"""The recorder, with plain notes: what each choice keeps, bounded incremental writes, cuts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from companion.conversations.notes import Connected, Did, Ended, TurnCut, TurnEnded, TurnStarted
from companion.conversations.recorder import FLUSH_S, MAX_PENDING_CHARS, Recorder, heard_part

pytestmark = pytest.mark.unit
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def talk(recorder: Recorder) -> None:
    recorder.feed(TurnStarted("person", at(1)))
    recorder.feed(TurnEnded("person", "I planted tomatoes", at(4)))
    recorder.feed(TurnStarted("companion", at(5)))
    recorder.feed(TurnEnded("companion", "How lovely, which kind did you plant?", at(9), key="item-1"))
    recorder.feed(Did("song", at(10), "Arik Einstein"))
    recorder.feed(Connected("rotation", at(11)))
    recorder.feed(Ended("person", at(20)))


@pytest.mark.parametrize("level", ["none", "summary", "transcript"])
def test_each_choice_keeps_the_counts_and_only_what_it_allows(level: str) -> None:
    recorder = Recorder("c1", "u1", T0, level=level)  # type: ignore[arg-type]
    talk(recorder)
    recorder.summarised("He planted tomatoes.", "model")
    write = recorder.take_write(at(21))
    assert write is not None and write.first
    row = write.record
    assert (row.person_turns, row.companion_turns, row.person_talk_ms, row.companion_talk_ms) == (
        1,
        1,
        3000,
        4000,
    )
    assert (row.songs, row.connections, row.rotations, row.ended_how) == (1, 2, 1, "person")
    assert row.duration_s == 20
    if level == "none":
        assert row.summary is None and row.timeline == () and write.turns == ()
    else:
        assert row.summary == "He planted tomatoes." and [e.label for e in row.timeline] == [
            "Arik Einstein",
            "",
        ]
    assert [t.text for t in write.turns] == (
        ["I planted tomatoes", "How lovely, which kind did you plant?"] if level == "transcript" else []
    )


def test_writes_are_incremental_and_due_within_the_flush_interval() -> None:
    recorder = Recorder("c1", "u1", T0, level="transcript")
    assert recorder.write_due(at(0))
    first = recorder.take_write(at(0))
    assert first is not None and first.first
    assert recorder.take_write(at(0.5)) is None, "nothing changed"
    recorder.feed(TurnEnded("person", "hello", at(1)))
    assert not recorder.write_due(at(1)), "within the interval of the last write"
    assert recorder.write_due(at(FLUSH_S))
    second = recorder.take_write(at(FLUSH_S))
    assert second is not None and not second.first and [t.seq for t in second.turns] == [0]


def test_a_cut_after_the_turn_was_written_becomes_an_update_of_that_turn() -> None:
    recorder = Recorder("c1", "u1", T0, level="transcript")
    recorder.feed(TurnEnded("companion", "one two three four", at(2), key="item-9"))
    recorder.feed(TurnCut("item-9", "one two…", at(3)))
    pending = recorder.take_write(at(3))
    assert pending is not None and [(t.text, t.cut) for t in pending.turns] == [("one two…", True)]
    recorder.feed(TurnEnded("companion", "five six seven", at(4), key="item-10"))
    recorder.take_write(at(6))
    recorder.feed(TurnCut("item-10", "five…", at(7)))
    later = recorder.take_write(at(9))
    assert later is not None and later.cuts == ((1, "five…"),)


def test_a_long_conversation_holds_only_what_is_not_yet_written() -> None:
    recorder = Recorder("c1", "u1", T0, level="transcript")
    for i in range(10_000):
        recorder.feed(TurnEnded("person", "x" * 100, at(i)))
        if i % 10 == 0:
            recorder.take_write(at(i))
    assert recorder.record.person_turns == 10_000
    assert recorder.take_write(at(10_001)) is not None
    assert recorder.take_write(at(10_002)) is None


def test_a_store_away_keeps_at_most_a_bounded_backlog_and_counts_what_it_dropped() -> None:
    recorder = Recorder("c1", "u1", T0, level="transcript")
    for i in range(2_000):
        recorder.feed(TurnEnded("person", "y" * 100, at(i)))
        write = recorder.take_write(at(i))
        assert write is not None
        recorder.give_back(write)  # the store did not take it
    final = recorder.take_write(at(3_000))
    assert final is not None and final.first, "the row was never created: the next write still creates it"
    assert sum(len(t.text) for t in final.turns) <= MAX_PENDING_CHARS
    assert recorder.lost_turns == 2_000 - len(final.turns)


def test_narrowing_a_live_conversation_drops_what_waits() -> None:
    recorder = Recorder("c1", "u1", T0, level="transcript")
    recorder.feed(TurnEnded("person", "private", at(1)))
    recorder.feed(Did("song", at(2), "A song"))
    recorder.set_level("none")
    write = recorder.take_write(at(3))
    assert write is not None and write.turns == () and write.record.timeline == ()
    assert write.record.records == "none" and write.record.person_turns == 1


@pytest.mark.parametrize(
    ("text", "fraction", "heard"),
    [
        ("one two three four", 0.5, "one two…"),
        ("one two three four", 1.0, "one two three four"),
        ("one two three four", 0.0, "…"),
        ("שלום לך משה", 0.6, "שלום…"),
    ],
)
def test_heard_part_cuts_on_a_whole_word(text: str, fraction: float, heard: str) -> None:
    assert heard_part(text, fraction) == heard
