"""Every request of the elder's page ends: ``fetchWithTimeout`` (run in node, as the page runs it) gives
up on a server that never answers, and no module of the page calls ``fetch`` without it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from companion.elder.page import STATIC_DIR

STATIC = Path(STATIC_DIR)
TEMPLATES = STATIC.parent / "templates"
BARE_FETCH = re.compile(r"(?<![\w.])fetch\(")

CHECK = """
const alive = setInterval(() => {}, 1000);  // node does not wait for AbortSignal.timeout's timer by itself
const seen = [];
globalThis.fetch = (url, options) => {
  seen.push({ url, method: options.method || "GET", hasSignal: options.signal instanceof AbortSignal });
  if (url === "/fast") return Promise.resolve({ ok: true, status: 200 });
  return new Promise((resolve, reject) => {  // a server that never answers: only the signal ends it
    options.signal.addEventListener("abort", () => reject(options.signal.reason));
  });
};
const { fetchWithTimeout, FETCH_TIMEOUT_MS } = await import("%s");
const fast = await fetchWithTimeout("/fast", { method: "POST", credentials: "include" });
let error = null;
try {
  await fetchWithTimeout("/hangs", {}, 20);
} catch (exc) {
  error = exc.name;
}
clearInterval(alive);
process.stdout.write(JSON.stringify({ fast: fast.status, error, seen, defaultMs: FETCH_TIMEOUT_MS }));
"""


def test_a_request_that_gets_no_answer_is_abandoned_with_a_timeout_error(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the browser tests cover the page's behaviour")
    check = tmp_path / "timeout.mjs"
    check.write_text(CHECK % (STATIC / "fetching.js").as_uri())
    result = subprocess.run([node, str(check)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["fast"] == 200
    assert found["error"] == "TimeoutError"
    assert found["seen"][0] == {"url": "/fast", "method": "POST", "hasSignal": True}, "options kept"
    assert found["seen"][1]["hasSignal"]
    assert 1000 <= found["defaultMs"] <= 30000


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
