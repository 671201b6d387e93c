"""Every request of the elder's page ends: no module of the page calls ``fetch`` without
``fetchWithTimeout``, which gives up on a server that never answers (tested by Node:
``tests/js/fetching.test.mjs``)."""

from __future__ import annotations

import re
from pathlib import Path

from companion.elder.page import STATIC_DIR

STATIC = Path(STATIC_DIR)
TEMPLATES = STATIC.parent / "templates"
BARE_FETCH = re.compile(r"(?<![\w.])fetch\(")


def test_no_module_of_the_page_fetches_without_a_timeout() -> None:
    scripts = sorted(STATIC.glob("*.js"))
    calls = {p.name: len(re.findall(r"fetchWithTimeout\(", p.read_text())) for p in scripts}
    assert sum(calls.values()) >= 4, calls  # the session, a music match, the reminders' poll and answer
    for path in scripts:
        if path.name == "fetching.js":
            continue
        bare = BARE_FETCH.findall(path.read_text())
        assert not bare, f"{path.name} calls fetch without fetchWithTimeout"
    worker = (TEMPLATES / "sw.js").read_text()
    assert BARE_FETCH.findall(worker) and "AbortSignal.timeout(" in worker, "the service worker's fetch too"
