"""The pages' JavaScript tests (``tests/js/*.test.mjs``, Node's own test runner), one pytest test per
file so that they run, fail and are counted with the rest of the suite.

Each file imports the page's ES modules straight from ``src/`` (no build step, as the browser does) and
fakes only what a browser would provide (sockets, timers, audio contexts). Without Node they skip on a
developer machine and fail under ``CI=true`` (``scripts/setup`` installs Debian's ``nodejs`` as root).
Run them alone with ``node --test tests/js/``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from services import require_service

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FILES = sorted(HERE.glob("*.test.mjs"))
NODE_TIMEOUT_S = 120  # a few hundred milliseconds each; generous for a loaded 2-core machine


def test_every_page_module_with_exports_is_tested_somewhere() -> None:
    """A test file per page concern exists; an empty folder would pass silently otherwise."""
    assert len(FILES) >= 5, FILES


@pytest.mark.parametrize("path", FILES, ids=[p.name.removesuffix(".test.mjs") for p in FILES])
def test_node(path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        require_service("Node.js", "node is not on PATH (apt-get install nodejs)")
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", str(path.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ℹ fail 0" in result.stdout, result.stdout
