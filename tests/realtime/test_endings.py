"""The one table of how a conversation ends: close codes, client error codes, close reasons."""

from __future__ import annotations

import pytest
from websockets.frames import CloseCode

from companion.realtime.endings import MAX_CLOSE_REASON_BYTES, Close, Ending


@pytest.mark.parametrize(
    ("ending", "code"),
    [
        (Ending.NORMAL, 1000),
        (Ending.SHUTDOWN, 1001),
        (Ending.DEVICE_REVOKED, 1008),
        (Ending.TOKEN_REVOKED, 1008),
        (Ending.CREDENTIAL_EXPIRED, 1008),
        (Ending.PERSON_ERASED, 1008),
        (Ending.REFUSED, 1008),
        (Ending.UPSTREAM_UNAVAILABLE, 1011),
        (Ending.UPSTREAM_LOST, 1011),
        (Ending.CLIENT_TOO_SLOW, 1013),
        (Ending.TOO_MANY_SESSIONS, 1013),
        (Ending.INTERNAL, 1011),
    ],
)
def test_close_codes_are_websockets_close_codes(ending: Ending, code: int) -> None:
    assert ending.code == code
    assert type(ending.code) is int  # what a close frame is sent with, not an enum member
    assert ending.code in {c.value for c in CloseCode}


def test_every_ending_is_in_the_table() -> None:
    assert len(Ending) == 12  # no two endings collapsed into an alias of one another


@pytest.mark.parametrize(
    ("ending", "error_code"),
    [
        (Ending.NORMAL, None),
        (Ending.SHUTDOWN, None),
        (Ending.DEVICE_REVOKED, None),
        (Ending.REFUSED, None),
        (Ending.UPSTREAM_UNAVAILABLE, "upstream_unavailable"),
        (Ending.UPSTREAM_LOST, "upstream_disconnected"),
        (Ending.CLIENT_TOO_SLOW, "client_too_slow"),
        (Ending.TOO_MANY_SESSIONS, "too_many_sessions"),
        (Ending.INTERNAL, "internal_error"),
    ],
)
def test_the_client_error_sent_before_each_close(ending: Ending, error_code: str | None) -> None:
    assert ending.error_code == error_code


def test_every_ending_with_an_error_has_its_own_code() -> None:
    codes = [e.error_code for e in Ending if e.error_code is not None]
    assert len(codes) == 5
    assert len(set(codes)) == len(codes)


def test_an_ending_with_an_error_is_never_a_normal_close() -> None:
    for ending in Ending:
        if ending.error_code is not None:
            assert ending.code not in (CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY), ending


def test_close_uses_the_endings_reason_unless_given_one() -> None:
    assert Ending.NORMAL.close() == Close(1000, "session closed")
    assert Ending.REFUSED.close("origin not allowed") == Close(1008, "origin not allowed")
    assert Ending.UPSTREAM_LOST.close(None) == Close(1011, "realtime model disconnected")
    assert all(e.reason for e in Ending)


def test_a_short_reason_is_not_clipped() -> None:
    assert Ending.SHUTDOWN.close().clipped() == (1001, "server shutting down")
    assert Ending.REFUSED.close("המכשיר נותק").clipped() == (1008, "המכשיר נותק")


def test_a_long_ascii_reason_is_cut_to_the_limit() -> None:
    code, reason = Ending.INTERNAL.close("x" * 500).clipped()
    assert code == 1011
    assert reason == "x" * MAX_CLOSE_REASON_BYTES
    assert MAX_CLOSE_REASON_BYTES == 123


@pytest.mark.parametrize(
    "long_reason",
    [
        "החיבור למודל נותק ולא ניתן היה לחדש אותו בזמן; נסו שוב בעוד כמה רגעים. " * 4,  # 2-byte letters
        "a" + "החיבור נותק " * 20,  # the same, starting on an odd byte
        "🎵" * 40,  # 4-byte characters
        "x" + "€" * 60,  # 3-byte characters
    ],
)
def test_a_long_reason_is_cut_on_a_character_boundary(long_reason: str) -> None:
    assert len(long_reason.encode()) > MAX_CLOSE_REASON_BYTES
    code, reason = Ending.REFUSED.close(long_reason).clipped()
    assert code == 1008
    size = len(reason.encode())
    assert size <= MAX_CLOSE_REASON_BYTES
    assert long_reason.startswith(reason)  # whole characters, nothing garbled, nothing replaced
    assert "\ufffd" not in reason
    next_char = long_reason[len(reason)]
    assert size + len(next_char.encode()) > MAX_CLOSE_REASON_BYTES  # as much as fits
