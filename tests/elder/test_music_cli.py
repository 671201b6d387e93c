"""``companion music scan``: what a family sees when it checks its music folder."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from companion.cli import app
from tests.elder.test_music_library import make_folder

WIDE = {"COLUMNS": "200"}  # Rich wraps table cells to the terminal; the test reads whole names


def test_scan_lists_artist_title_duration_and_file(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "music")
    result = CliRunner().invoke(app, ["music", "scan", "--dir", str(folder)], env=WIDE)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "│" in line]
    cells = [[c.strip() for c in row.strip("│ ").split("│")] for row in rows]
    assert ["Ofra Haza", "Im Nin'alu", "0:01", "haza.flac"] in cells
    assert ["Arik Einstein", "Ani Ve Ata", "0:02", "Arik Einstein - Ani Ve Ata.wav"] in cells
    assert ["(unknown)", "just a melody", "0:02", "just a melody.wav"] in cells
    assert ["Miles Davis", "So What", "0:01", "jazz/miles.ogg"] in cells
    assert "6 tracks, 2 files skipped (unreadable, or links out)" in result.output


def test_scan_reads_the_configured_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "music")
    env = {**WIDE, "COMPANION_MUSIC_DIR": str(folder), "COMPANION_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(app, ["music", "scan"], env=env)
    assert result.exit_code == 0, result.output
    assert "6 tracks" in result.output


def test_a_missing_folder_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    result = CliRunner().invoke(app, ["music", "scan", "--dir", str(missing)], env=WIDE)
    assert result.exit_code == 2
    assert "does not exist" in result.output and "no-such-folder" in result.output
    unset = CliRunner().invoke(app, ["music", "scan"], env={**WIDE, "COMPANION_MUSIC_DIR": None})
    assert unset.exit_code == 2
    assert "COMPANION_MUSIC_DIR" in unset.output
