"""The sessions of one person refreshed by one save share one read of the store and one build,
and a burst of saves still ends every session on the latest version."""

from __future__ import annotations

import asyncio

from companion.events import ProfileChanged
from companion.profiles.models import CareContext, Music
from tests.live.conftest import USER, Live

SESSIONS = 2  # one device token may hold two live conversations (max_sessions_per_device)


async def test_one_save_reads_the_store_once_for_all_sessions_of_the_person(live: Live) -> None:
    for _ in range(SESSIONS):
        await live.connect()
    manager = live.services.sessions
    reads: list[str] = []
    load = manager._load_context

    async def counting(user_id: str) -> CareContext:
        reads.append(user_id)
        return await load(user_id)

    manager._load_context = counting
    response = await live.put_music("שלמה ארצי")
    assert response.json()["liveSessions"] == {"refreshed": SESSIONS, "unchanged": 0, "failed": 0}
    assert reads == [USER]
    versions = {s.instructions.version for s in manager.of_user(USER) if s.instructions}
    assert len(versions) == 1
    for engine in live.engine.sessions:
        assert "שלמה ארצי" in engine.config["instructions"]


async def test_burst_of_saves_ends_every_session_on_the_latest_version(live: Live) -> None:
    for _ in range(SESSIONS):
        await live.connect()
    live.engine.session_update_delay_s = 0.05  # saves pile up behind refreshes in flight
    publishes = []
    version = 1
    for n in range(12):
        body = Music(preferred_artists=[f"artist-{n:02d}"]).model_dump(mode="json", by_alias=True)
        doc = await live.services.store.put(USER, "music", "main", body, expected_version=version)
        version = doc.version
        publishes.append(
            asyncio.create_task(live.services.bus.publish(ProfileChanged(USER, ("music",), version)))
        )
        await asyncio.sleep(0.005)
    results = await asyncio.gather(*publishes)
    assert sum(r.failed for r in results) == 0
    for engine in live.engine.sessions:
        applied = [
            next(n for n in range(12) if f"artist-{n:02d}" in text)
            for text in engine.instructions_history
            if "artist-" in text
        ]
        assert applied == sorted(applied), f"an older version was applied after a newer one: {applied}"
        assert applied[-1] == 11
