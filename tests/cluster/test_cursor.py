"""The change-log cursor as plain data: out-of-order commits and rolled-back ids."""

from __future__ import annotations

from companion.cluster.cursor import GAP_WAIT_S, MAX_MISSING, ChangeCursor


def test_reads_in_order_advance_the_high_mark() -> None:
    cursor = ChangeCursor(high=3)
    assert cursor.take([4, 5], now=0.0) == [4, 5]
    assert cursor.high == 5
    assert cursor.missing == {}
    assert cursor.take([5], now=1.0) == []  # read twice: not new


def test_an_id_committed_late_is_still_read_once() -> None:
    cursor = ChangeCursor(high=5)
    assert cursor.take([7], now=0.0) == [7]  # 6 is still in an open transaction
    assert 6 in cursor.missing
    assert cursor.take([], now=1.0) == []
    assert cursor.take([6], now=2.0) == [6]  # committed at last
    assert cursor.missing == {}
    assert cursor.take([6, 7], now=3.0) == []


def test_an_id_that_never_comes_is_given_up_after_a_while() -> None:
    cursor = ChangeCursor(high=1)
    cursor.take([3], now=0.0)
    cursor.take([], now=GAP_WAIT_S / 2)
    assert 2 in cursor.missing
    cursor.take([], now=GAP_WAIT_S + 1)
    assert cursor.missing == {}  # rolled back: no longer asked for


def test_a_jump_in_the_sequence_keeps_the_missing_set_bounded() -> None:
    cursor = ChangeCursor(high=0)
    cursor.take([10 * MAX_MISSING], now=0.0)
    assert len(cursor.missing) <= MAX_MISSING
    assert cursor.high == 10 * MAX_MISSING
