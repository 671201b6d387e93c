"""Settings read from the environment: an empty variable means the setting is not set."""

from __future__ import annotations

from pathlib import Path

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


def test_every_setting_is_read_by_the_service() -> None:
    """A setting nothing reads misleads whoever sets it (a "secret key" that signs nothing)."""
    src = Path(__file__).resolve().parent.parent / "src" / "companion"
    code = "\n".join(p.read_text() for p in src.rglob("*.py"))  # settings.py's own derived values too
    unread = [name for name in Settings.model_fields if f".{name}" not in code]
    assert unread == []
