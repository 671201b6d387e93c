"""Settings read from the environment: an empty variable means the setting is not set."""

from __future__ import annotations

import pytest

from companion.settings import Settings


def test_an_empty_variable_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPANION_MUSIC_DIR", "")
    monkeypatch.setenv("COMPANION_PORT", "")
    settings = Settings()
    assert settings.music_dir is None, "an empty COMPANION_MUSIC_DIR must not scan the current folder"
    assert settings.port == 8000


def test_a_set_variable_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("COMPANION_MUSIC_DIR", str(tmp_path))
    assert str(Settings().music_dir) == str(tmp_path)
