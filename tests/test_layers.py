"""The layering contracts bite: ``lint-imports`` (run by ``scripts/lint``) fails on an upward import, on
two packages importing each other and on a private store module imported from outside.

Each case copies the source tree to a temporary folder, adds one import to one module, and runs
``lint-imports`` with the project's own contracts on the copy (which comes first on the path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_copy(tmp_path: Path, additions: dict[str, str]) -> subprocess.CompletedProcess[str]:
    shutil.copytree(
        ROOT / "src" / "companion",
        tmp_path / "src" / "companion",
        ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "strings", "migrations"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, line in additions.items():
        path = tmp_path / "src" / "companion" / module
        path.write_text(path.read_text() + f"\n{line}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_copy(tmp_path, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("additions", "broken"),
    [
        pytest.param(
            {"profiles/models.py": "import companion.api.deps  # noqa"},
            [
                "Layers: entry points > web > application > services > domain > base BROKEN",
                "Services and domain packages never import a web module or the composition root BROKEN",
            ],
            id="domain-imports-web",
        ),
        pytest.param(
            {"store/base.py": "import companion.care.alerts  # noqa"},
            ["Layers: entry points > web > application > services > domain > base BROKEN"],
            id="store-imports-care",
        ),
        pytest.param(
            {
                "clock.py": "import companion.keyspace  # noqa",
                "keyspace.py": "import companion.clock  # noqa",
            },
            ["No two packages import each other BROKEN"],
            id="cycle-in-one-layer",
        ),
        pytest.param(
            {"care/delivery.py": "import companion.store._engine  # noqa"},
            ["Only the store imports its private modules BROKEN"],
            id="private-store-module",
        ),
    ],
)
def test_an_added_import_that_breaks_the_rule_fails_the_lint(
    tmp_path: Path, additions: dict[str, str], broken: list[str]
) -> None:
    result = lint_copy(tmp_path, additions)
    assert result.returncode != 0, result.stdout
    for contract in broken:
        assert contract in result.stdout, result.stdout
