"""When a long conversation's running summary is asked for: plain numbers on virtual time."""

from __future__ import annotations

import pytest

from companion.conversations.cadence import RETRY_S, RUNNING_EVERY_S, Cadence

pytestmark = pytest.mark.unit
EVERY = RUNNING_EVERY_S


def test_the_first_is_due_a_period_after_the_start_if_the_person_said_something() -> None:
    cadence = Cadence(100.0)
    assert cadence.wait_s(100.0) == EVERY
    assert not cadence.due(100.0 + EVERY - 1, person_turns=3)
    assert cadence.due(100.0 + EVERY, person_turns=3)
    assert not cadence.due(100.0 + EVERY, person_turns=0)


def test_nothing_new_said_looks_again_a_period_on() -> None:
    cadence = Cadence(0.0)
    assert not cadence.look(EVERY, person_turns=0)
    assert cadence.next_at == 2 * EVERY
    assert cadence.look(2 * EVERY, person_turns=1)


def test_an_answer_sets_the_next_a_period_after_the_ask_and_counts_what_it_covered() -> None:
    cadence = Cadence(0.0)
    cadence.asked(EVERY, person_turns=4)
    assert cadence.asking and not cadence.due(3 * EVERY, person_turns=9), "one at a time"
    cadence.answered(EVERY + 20, ok=True)
    assert cadence.next_at == 2 * EVERY
    assert not cadence.due(2 * EVERY, person_turns=4), "nothing since the last one"
    assert cadence.due(2 * EVERY, person_turns=5)


def test_a_summary_or_a_quiet_moment_that_did_not_come_is_tried_again_later() -> None:
    cadence = Cadence(0.0)
    cadence.asked(EVERY, person_turns=2)
    cadence.answered(EVERY + 30, ok=False)
    assert cadence.next_at == EVERY + 30 + RETRY_S
    assert cadence.due(EVERY + 30 + RETRY_S, person_turns=2), "what it did not cover is still new"
    cadence.no_quiet(EVERY + 400)
    assert cadence.next_at == EVERY + 400 + RETRY_S


def test_a_late_answer_never_schedules_the_next_in_the_past() -> None:
    cadence = Cadence(0.0)
    cadence.asked(EVERY, person_turns=1)
    cadence.answered(3 * EVERY, ok=True)
    assert cadence.next_at == 3 * EVERY
