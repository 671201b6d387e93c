"""A stored document that no longer validates is skipped and logged, never fatal to the person's context."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from companion.events import InProcessBus
from companion.profiles.service import ProfileService
from companion.store import open_store

USER = "user-bad-doc"


async def test_a_bad_stored_section_or_memory_is_skipped_and_logged_without_its_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    await store.migrate()
    try:
        await store.create_user(USER)
        # written by an older version, or by hand: a phone that is not a phone, a memory without text
        await store.put(
            USER,
            "safety",
            "main",
            {"emergencyContacts": [{"name": "דנה", "relationship": "בת", "phone": "SECRET-NOT-A-PHONE"}]},
            expected_version=None,
        )
        await store.put(USER, "memory", "m1", {"id": "m1", "importance": 3}, expected_version=None)
        await store.put(USER, "music", "main", {"preferredArtists": ["עפרה חזה"]}, expected_version=None)
        profiles = ProfileService(store, InProcessBus())
        with caplog.at_level(logging.WARNING):
            context = await profiles.context(USER)
        assert context.safety.emergency_contacts == []  # the unreadable section: defaults
        assert context.memories == ()
        assert context.music.preferred_artists == ["עפרה חזה"]  # the rest is still used
        logged = " ".join(r.getMessage() for r in caplog.records)
        assert "safety" in logged and "memory" in logged and USER in logged
        assert "SECRET-NOT-A-PHONE" not in logged and "דנה" not in logged
        # the care team still sees the person, and can write the section again over its version
        section = await profiles.get_section(USER, "safety")
        assert section.data is None and section.version == 1
        states, memories = await profiles.all_sections(USER)
        assert {s.name: s.data is None for s in states}["safety"] is True and memories == []
    finally:
        await store.close()
