"""When to rotate, how long to wait between attempts, what to retry and what the client's events do
meanwhile: pure functions and a clock-injected buffer, tested with numbers."""

from __future__ import annotations

import pytest

from companion.errors import CompanionError, UpstreamError, UpstreamLost, UpstreamRejected, UpstreamTimeout
from companion.realtime.reconnect import (
    EXPIRY_MARGIN_S,
    FIRST_RETRY_S,
    HOLD_AUDIO_S,
    MAX_HELD_EVENTS,
    MAX_RETRY_S,
    MIN_EXPIRY_MARGIN_S,
    MIN_LIFETIME_S,
    HeldEvents,
    default_max_session_s,
    retry_delay_s,
    rotate_after_s,
    worth_retrying,
)

# ---- rotate_after_s ---------------------------------------------------------------------------------


def test_without_an_expiry_the_configured_maximum_rules() -> None:
    assert rotate_after_s(55 * 60.0, expires_in_s=None) == 55 * 60.0
    assert rotate_after_s(90.0, expires_in_s=None) == 90.0


def test_an_expiry_later_than_the_maximum_changes_nothing() -> None:
    # OpenAI: 60 minutes left, 5 minutes of margin -> 55 minutes, not later than the maximum
    assert rotate_after_s(55 * 60.0, expires_in_s=60 * 60.0) == 55 * 60.0
    assert rotate_after_s(20 * 60.0, expires_in_s=60 * 60.0) == 20 * 60.0


def test_an_expiry_sooner_than_the_maximum_wins_less_its_margin() -> None:
    # Azure's 30-minute cap under a 55-minute setting: a tenth of it (3 min) is the margin
    assert rotate_after_s(55 * 60.0, expires_in_s=30 * 60.0) == 27 * 60.0
    # a long remaining time: the margin is capped at EXPIRY_MARGIN_S
    assert rotate_after_s(120 * 60.0, expires_in_s=100 * 60.0) == 100 * 60.0 - EXPIRY_MARGIN_S
    assert EXPIRY_MARGIN_S == 300.0
    # a short one: a tenth of it
    assert rotate_after_s(55 * 60.0, expires_in_s=100.0) == pytest.approx(90.0)
    # a very short one: the switch's own time at least
    assert rotate_after_s(55 * 60.0, expires_in_s=4.0) == 4.0 - MIN_EXPIRY_MARGIN_S
    assert rotate_after_s(55 * 60.0, expires_in_s=30.0) == pytest.approx(27.0)


def test_the_rotation_is_never_planned_sooner_than_the_minimum_lifetime() -> None:
    assert rotate_after_s(55 * 60.0, expires_in_s=0.5) == MIN_LIFETIME_S
    assert rotate_after_s(55 * 60.0, expires_in_s=0.0) == MIN_LIFETIME_S
    assert rotate_after_s(55 * 60.0, expires_in_s=-3600.0) == MIN_LIFETIME_S  # a clock gone wrong
    assert rotate_after_s(0.0, expires_in_s=None) == MIN_LIFETIME_S
    assert rotate_after_s(0.2, expires_in_s=3600.0) == MIN_LIFETIME_S


# ---- retry_delay_s ----------------------------------------------------------------------------------


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999])
def test_the_first_attempt_is_at_once(jitter: float) -> None:
    assert retry_delay_s(0, jitter) == 0.0
    assert retry_delay_s(-1, jitter) == 0.0


def test_the_delay_doubles_from_the_first_retry() -> None:
    delays = [retry_delay_s(attempt, 1.0) for attempt in range(1, 6)]
    assert delays == [FIRST_RETRY_S * 2**n for n in range(5)]
    assert delays[0] == FIRST_RETRY_S == 0.25


def test_the_delay_is_capped() -> None:
    delays = [retry_delay_s(attempt, 1.0) for attempt in range(1, 40)]
    assert max(delays) == MAX_RETRY_S == 5.0
    assert delays == sorted(delays)
    assert delays[5:] == [MAX_RETRY_S] * len(delays[5:])  # 0.25 * 2**5 = 8 > 5


def test_the_delay_stays_capped_however_long_the_outage() -> None:
    assert retry_delay_s(2_000, 0.5) <= MAX_RETRY_S


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 10, 60])
def test_jitter_spreads_over_the_second_half_of_each_step(attempt: int) -> None:
    step = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (attempt - 1))
    low = retry_delay_s(attempt, 0.0)
    high = retry_delay_s(attempt, 0.999999)
    assert low == pytest.approx(step / 2)
    assert step / 2 <= high < step
    assert high == pytest.approx(step, rel=1e-5)
    for jitter in (0.1, 0.3, 0.7, 0.9):
        assert low <= retry_delay_s(attempt, jitter) <= high
    assert retry_delay_s(attempt, 0.25) < retry_delay_s(attempt, 0.75)


# ---- worth_retrying ---------------------------------------------------------------------------------


def test_a_refused_configuration_is_not_retried() -> None:
    assert worth_retrying(UpstreamRejected("bad session.update")) is False


@pytest.mark.parametrize(
    "error",
    [
        UpstreamError("502 from the model"),
        UpstreamTimeout("no session.created"),
        UpstreamLost("the connection ended"),
        TimeoutError(),
        CompanionError("something else"),
    ],
)
def test_anything_else_may_pass_next_time(error: CompanionError | TimeoutError) -> None:
    assert worth_retrying(error) is True


# ---- default_max_session_s --------------------------------------------------------------------------


def test_the_default_maximum_is_below_each_upstreams_cap() -> None:
    assert default_max_session_s("openai") == 55 * 60.0  # cap 60 min
    assert default_max_session_s("azure") == 25 * 60.0  # cap 30 min
    assert default_max_session_s("local") == 55 * 60.0
    assert default_max_session_s("something-new") == 55 * 60.0


# ---- HeldEvents -------------------------------------------------------------------------------------


def audio(n: int) -> dict[str, object]:
    return {"type": "input_audio_buffer.append", "audio": f"chunk{n}"}


def test_events_are_released_in_order_and_once() -> None:
    held = HeldEvents()
    events: list[dict[str, object]] = [
        audio(0),
        {"type": "input_audio_buffer.commit"},
        audio(1),
        {"type": "response.create"},
    ]
    for n, event in enumerate(events):
        assert held.hold(event, f"frame{n}", now=10.0 + n * 0.1)
    assert len(held) == 4
    released = held.release(now=10.5)
    assert [h.event for h in released] == events
    assert [h.frame for h in released] == ["frame0", "frame1", "frame2", "frame3"]
    assert [h.audio for h in released] == [True, False, True, False]
    assert [h.at for h in released] == pytest.approx([10.0, 10.1, 10.2, 10.3])
    assert held.release(now=10.6) == []
    assert len(held) == 0
    assert held.audio_dropped == 0


def test_old_audio_is_dropped_and_counted_at_release() -> None:
    held = HeldEvents()
    held.hold(audio(0), None, now=0.0)
    held.hold(audio(1), None, now=1.0)
    held.hold({"type": "input_audio_buffer.commit"}, None, now=1.0)
    held.hold(audio(2), None, now=2.5)
    released = held.release(now=1.0 + HOLD_AUDIO_S + 0.5)  # 3.5: chunks 0 and 1 are stale
    assert [h.event for h in released] == [{"type": "input_audio_buffer.commit"}, audio(2)]
    assert held.audio_dropped == 2


def test_audio_of_exactly_the_hold_time_is_kept() -> None:
    held = HeldEvents()
    held.hold(audio(0), None, now=5.0)
    assert [h.event for h in held.release(now=5.0 + HOLD_AUDIO_S)] == [audio(0)]
    assert held.audio_dropped == 0


def test_old_audio_is_dropped_and_counted_while_holding() -> None:
    held = HeldEvents()
    for n in range(5):
        held.hold(audio(n), None, now=n * 0.5)  # 0.0 .. 2.0: none older than 2 s yet
    assert held.audio_dropped == 0
    assert len(held) == 5
    held.hold(audio(5), None, now=3.2)  # chunks 0, 1 and 2 (0.0, 0.5, 1.0) are older than 2 s now
    assert held.audio_dropped == 3
    assert len(held) == 3
    assert [h.event for h in held.release(now=3.2)] == [audio(3), audio(4), audio(5)]
    assert held.audio_dropped == 3  # counted once


def test_the_drop_count_adds_up_across_switches() -> None:
    held = HeldEvents()
    held.hold(audio(0), None, now=0.0)
    held.release(now=10.0)
    assert held.audio_dropped == 1
    held.hold(audio(1), None, now=20.0)
    held.hold(audio(2), None, now=29.0)  # drops chunk 1 while holding
    assert held.audio_dropped == 2
    held.release(now=40.0)  # drops chunk 2 at release
    assert held.audio_dropped == 3


def test_other_events_are_kept_however_old() -> None:
    held = HeldEvents()
    kept: list[dict[str, object]] = [
        {"type": "conversation.item.create", "item": {"type": "message", "role": "user"}},
        {"type": "session.update", "session": {"audio": {"output": {"voice": "marin"}}}},
        {"type": "input_audio_buffer.commit"},
        {"type": "response.cancel"},
    ]
    for event in kept:
        held.hold(event, None, now=0.0)
    held.hold(audio(0), None, now=0.0)
    released = held.release(now=3600.0)
    assert [h.event for h in released] == kept
    assert held.audio_dropped == 1


def test_the_number_of_held_events_is_bounded() -> None:
    held = HeldEvents()
    for n in range(MAX_HELD_EVENTS):
        assert held.hold({"type": "input_audio_buffer.commit", "n": n}, None, now=0.0)
    assert held.hold({"type": "response.create"}, None, now=0.0) is False
    assert held.hold(audio(0), None, now=0.0) is False
    assert len(held) == MAX_HELD_EVENTS
    released = held.release(now=0.0)
    assert [h.event["n"] for h in released] == list(range(MAX_HELD_EVENTS))  # the refused were not kept
    assert held.hold({"type": "response.create"}, None, now=0.0) is True  # room again after a release


def test_stale_audio_makes_room_before_the_bound_is_checked() -> None:
    held = HeldEvents()
    for n in range(MAX_HELD_EVENTS):
        assert held.hold(audio(n), None, now=0.0)
    assert held.hold(audio(-1), None, now=0.5) is False
    assert held.hold({"type": "input_audio_buffer.commit"}, None, now=HOLD_AUDIO_S + 1.0) is True
    assert held.audio_dropped == MAX_HELD_EVENTS
    assert [h.event for h in held.release(now=HOLD_AUDIO_S + 1.0)] == [{"type": "input_audio_buffer.commit"}]
