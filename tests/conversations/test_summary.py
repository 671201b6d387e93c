"""The summary's request, answer and fallback, with plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from companion.conversations import summary
from companion.store.base import ConversationRecord

pytestmark = pytest.mark.unit
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_the_request_is_out_of_band_text_with_its_own_instructions_and_tag() -> None:
    frame = summary.summary_request("sum_1", "he")
    response = frame["response"]
    assert frame["type"] == "response.create" and frame["event_id"] == "evt_sum_1"
    assert response["conversation"] == "none" and response["output_modalities"] == ["text"]
    assert response["instructions"] == summary.INSTRUCTIONS["he"]
    assert summary.key_of(response) == "sum_1"
    assert summary.summary_request("k", "fr")["response"]["instructions"] == summary.INSTRUCTIONS["en"]


def done(status: str, *texts: str) -> dict[str, object]:
    content = [{"type": "output_text", "text": t} for t in texts]
    return {
        "type": "response.done",
        "response": {"status": status, "output": [{"type": "message", "content": content}]},
    }


def test_the_answer_is_read_tidied_and_bounded() -> None:
    assert (
        summary.answer_text(done("completed", "He talked\n about  the garden."))
        == "He talked about the garden."
    )
    assert summary.answer_text(done("failed", "x")) is None
    assert summary.answer_text(done("completed", "   ")) is None
    long = "A sentence. " * 200
    text = summary.answer_text(done("completed", long))
    assert text is not None and len(text) <= summary.MAX_SUMMARY_CHARS and text.endswith(".")


def test_only_a_kept_summary_of_someone_who_spoke_is_asked_of_the_model() -> None:
    spoke = ConversationRecord("c", "u", None, "summary", T0, person_turns=2)
    assert summary.wants_model_summary(spoke)
    assert not summary.wants_model_summary(ConversationRecord("c", "u", None, "none", T0, person_turns=2))
    assert not summary.wants_model_summary(ConversationRecord("c", "u", None, "summary", T0))


def test_the_digest_is_built_from_the_counts_in_the_persons_language() -> None:
    record = ConversationRecord(
        "c",
        "u",
        None,
        "summary",
        T0,
        ended_at=T0 + timedelta(minutes=12),
        person_turns=5,
        companion_turns=6,
        songs=1,
    )
    assert summary.digest(record, "en") == (
        "A conversation of about 12 minutes: 5 turns by the person, 6 by the companion. 1 songs played."
    )
    assert "12" in summary.digest(record, "he") and "שירים" in summary.digest(record, "he")
