"""Conversations on SQLite and PostgreSQL: incremental writes, search in Hebrew and English, paging,
date ranges, narrowing what is kept, retention, deletion (audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from companion.store import SqlStore
from companion.store.base import ConversationRecord, ConversationWrite, TimelineEntry, TurnRecord

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
PERSON = "user-conv"


def record(
    cid: str, started: datetime, *, summary: str | None = None, records: str = "transcript"
) -> ConversationRecord:
    return ConversationRecord(
        cid,
        PERSON,
        None,
        records,  # type: ignore[arg-type]
        started,
        ended_at=started + timedelta(minutes=5),
        ended_how="person",
        person_turns=1,
        summary=summary,
        summary_kind="model" if summary else None,
        timeline=(TimelineEntry(started, "song", "Naomi Shemer"),),
    )


async def save(store: SqlStore, cid: str, started: datetime, *texts: str, summary: str | None = None) -> None:
    turns = tuple(
        TurnRecord(i, "person" if i % 2 == 0 else "companion", started, t) for i, t in enumerate(texts)
    )
    assert await store.save_conversation(
        ConversationWrite(record(cid, started, summary=summary), turns, first=True)
    )


async def test_incremental_writes_add_turns_and_cut_one_already_stored(store: SqlStore) -> None:
    base = record("c1", T0)
    assert await store.save_conversation(
        ConversationWrite(base, (TurnRecord(0, "person", T0, "hi"),), first=True)
    )
    later = ConversationRecord(base.id, PERSON, None, "transcript", T0, person_turns=1, companion_turns=1)
    turn = TurnRecord(1, "companion", T0 + timedelta(seconds=2), "Hello there, how are you today")
    assert await store.save_conversation(ConversationWrite(later, (turn,)))
    assert await store.save_conversation(ConversationWrite(later, cuts=((1, "Hello there…"),)))
    got = await store.get_conversation(PERSON, "c1")
    assert got is not None
    row, turns = got
    assert row.companion_turns == 1 and row.ended_at is None
    assert [(t.seq, t.role, t.text, t.cut) for t in turns] == [
        (0, "person", "hi", False),
        (1, "companion", "Hello there…", True),
    ]
    assert await store.get_conversation("someone-else", "c1") is None


async def test_a_deleted_conversation_is_not_brought_back_by_its_next_write(store: SqlStore) -> None:
    await save(store, "c1", T0, "hello")
    assert await store.delete_conversation(PERSON, "c1", actor="cg-1")
    assert not await store.save_conversation(ConversationWrite(record("c1", T0)))
    assert await store.get_conversation(PERSON, "c1") is None
    [entry] = await store.audit_entries()
    assert (entry.actor, entry.action, entry.target) == ("cg-1", "delete_conversation", "c1")
    assert not await store.delete_conversation(PERSON, "c1", actor="cg-1")


async def test_search_finds_words_in_summaries_and_turns_in_hebrew_and_english(store: SqlStore) -> None:
    await save(store, "c-he", T0, "דיברנו על החתונה של יוסי", summary="שיחה על המשפחה")
    await save(store, "c-en", T0 + timedelta(hours=1), "I planted Tomatoes today", summary="Garden talk")
    await save(store, "c-pct", T0 + timedelta(hours=2), "I am 100% sure", summary=None)

    async def found(words: str) -> list[str]:
        return [c.id for c in await store.list_conversations(PERSON, words=words)]

    assert await found("החתונה") == ["c-he"]
    assert await found("משפחה") == ["c-he"]
    assert await found("tomatoes") == ["c-en"], "English is case-folded"
    assert await found("GARDEN") == ["c-en"]
    assert await found("100%") == ["c-pct"]
    assert await found("0_") == [], "LIKE's wildcards in the words are literal"
    assert await found("%") == ["c-pct"]


async def test_pages_newest_first_with_a_cursor_and_a_date_range(store: SqlStore) -> None:
    for i in range(7):
        await save(store, f"c{i}", T0 + timedelta(days=i), f"day {i}")
    first = await store.list_conversations(PERSON, limit=3)
    assert [c.id for c in first] == ["c6", "c5", "c4"]
    last = first[-1]
    second = await store.list_conversations(PERSON, limit=3, after=(last.started_at, last.id))
    assert [c.id for c in second] == ["c3", "c2", "c1"]
    ranged = await store.list_conversations(PERSON, start=T0 + timedelta(days=2), end=T0 + timedelta(days=4))
    assert [c.id for c in ranged] == ["c3", "c2"]
    between = await store.conversations_between(PERSON, T0, T0 + timedelta(days=2))
    assert [c.id for c in between] == ["c0", "c1"], "oldest first"


async def test_narrowing_removes_what_is_no_longer_allowed_at_once(store: SqlStore) -> None:
    await save(store, "c1", T0, "private words", summary="a summary")
    assert await store.narrow_conversations(PERSON, "summary") == 1
    got = await store.get_conversation(PERSON, "c1")
    assert got is not None
    assert got[1] == [] and got[0].records == "summary" and got[0].summary == "a summary"
    assert await store.list_conversations(PERSON, words="private") == []
    await store.narrow_conversations(PERSON, "none")
    got = await store.get_conversation(PERSON, "c1")
    assert got is not None
    row = got[0]
    assert (row.records, row.summary, row.timeline) == ("none", None, ())
    assert row.person_turns == 1 and row.ended_how == "person", "the counts stay"


async def test_retention_prunes_older_conversations_with_their_turns(store: SqlStore) -> None:
    await save(store, "old", T0, "long ago")
    await save(store, "new", T0 + timedelta(days=40), "recently")
    assert await store.prune_conversations(PERSON, T0 + timedelta(days=30)) == 1
    assert [c.id for c in await store.list_conversations(PERSON)] == ["new"]
    assert [cid for cid, _ in await store.all_turns_of(PERSON)] == ["new"]


async def test_recent_conversations_are_the_ended_ones_newest_first_with_their_last_turns(
    store: SqlStore,
) -> None:
    await save(store, "a", T0, "one", "two", "three")
    await save(store, "b", T0 + timedelta(hours=1), "four")
    live = ConversationRecord("live", PERSON, None, "transcript", T0 + timedelta(hours=2))
    assert await store.save_conversation(ConversationWrite(live, first=True))
    assert [c.id for c in await store.recent_conversations(PERSON, 5)] == ["b", "a"]
    assert [t.text for t in await store.last_turns("a", 2)] == ["two", "three"]
