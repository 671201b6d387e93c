"""Runs ``bench.run --smoke`` for the bench's smoke tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
SMOKE_TIMEOUT_S = 180  # the smoke run takes a few seconds; a stuck child is killed by this bound


def run_bench(tmp_path: Path, *only: str, docs_text: str | None = None) -> tuple[dict[str, Any], str]:
    """``bench.run --smoke`` for ``only``: its results file and the docs page it rewrote."""
    out, docs = tmp_path / "latest.json", tmp_path / "performance.md"
    if docs_text is not None:
        docs.write_text(docs_text)
    command = [sys.executable, "-m", "bench.run", "--smoke"]
    for name in only:
        command += ["--only", name]
    result = subprocess.run(
        [*command, "--out", str(out), "--docs", str(docs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results: dict[str, Any] = json.loads(out.read_text())
    return results, docs.read_text()
