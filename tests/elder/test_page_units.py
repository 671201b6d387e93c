"""The elder's page routes, in process: language and direction, the unpaired state, the headers that
keep the page closed to everything but its own origin, the manifest, the service worker and the files.

A paired browser is made the way a family makes one: an administrator asks for a pairing code and the
browser posts it to ``/app/pair`` (the button of the page the pairing link opens), which sets the
device cookie.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from companion.app import create_app
from companion.demo import DEMO_USER, seed_demo
from companion.elder.page import STATIC_DIR, content_security_policy, shell_files
from companion.settings import Settings

ADMIN = "page-admin-token"
ENGLISH_USER = "user-page-en"
STATIC = Path(STATIC_DIR)
# Every hook the browser tests and integrators rely on (see the contract): they must be on the page.
HOOKS = ("talk", "status", "captions", "music")
STATES = ("idle", "connecting", "listening", "thinking", "speaking", "reconnecting", "error", "unpaired")


class _Page(HTMLParser):
    """What a test needs from the HTML: elements by id, every <script>, the JSON config."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: dict[str, dict[str, str]] = {}
        self.scripts: list[dict[str, str]] = []
        self.script_text: list[str] = []
        self.html: dict[str, str] = {}
        self.inline_handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.html = a
        if "id" in a:
            self.ids[a["id"]] = {"tag": tag, **a}
        self.inline_handlers += [k for k in a if k.startswith("on")]
        if tag == "script":
            self.scripts.append(a)
            self.script_text.append("")
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text[-1] += data


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(data_dir=tmp_path, admin_token=ADMIN))
    async with app.router.lifespan_context(app):
        await seed_demo(app.state.services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tablet.test") as c:
            yield c


async def pair(client: httpx.AsyncClient, user: str) -> None:
    """Pair this client's cookie jar as a device of ``user`` (the code posted, as the link's page and
    the code form do: opening the link alone redeems nothing)."""
    made = await client.post(f"/api/users/{user}/pairings", headers={"Authorization": f"Bearer {ADMIN}"})
    assert made.status_code == 201, made.text
    posted = await client.post(
        "/app/pair", data={"code": made.json()["code"]}, headers={"Origin": "http://tablet.test"}
    )
    assert posted.status_code == 303 and posted.headers["location"] == "/app", posted.text


async def add_english_person(client: httpx.AsyncClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    created = await client.post("/api/users", json={"userId": ENGLISH_USER}, headers=admin)
    assert created.status_code == 201, created.text
    profile: dict[str, Any] = {
        "personalInfo": {
            "fullName": "Ruth Miller",
            "preferredName": "Ruth",
            "gender": "female",
            "language": "en",
        }
    }
    saved = await client.put(f"/api/users/{ENGLISH_USER}/profile", json=profile, headers=admin)
    assert saved.status_code == 200, saved.text


def assert_hooks(page: _Page) -> None:
    for hook in HOOKS:
        assert hook in page.ids, f"#{hook} missing"
    assert page.ids["talk"]["tag"] == "button"
    assert page.ids["music"]["data-state"] == "stopped"
    assert "data-title" in page.ids["music"] and "data-artist" in page.ids["music"]
    assert page.ids["status"]["data-state"] in STATES


def config_of(page: _Page) -> dict[str, Any]:
    blocks = [
        text
        for attrs, text in zip(page.scripts, page.script_text, strict=True)
        if attrs.get("type") == "application/json"
    ]
    assert len(blocks) == 1
    config: dict[str, Any] = json.loads(blocks[0])
    return config


async def test_unpaired_browser_gets_the_code_form_in_hebrew(client: httpx.AsyncClient) -> None:
    response = await client.get("/app")
    assert response.status_code == 200
    page = parse(response.text)
    assert page.html["lang"] == "he" and page.html["dir"] == "rtl"
    assert_hooks(page)
    assert page.ids["status"]["data-state"] == "unpaired"
    assert "hidden" in page.ids["talk"], "an unpaired tablet has nothing to talk to"
    assert "hidden" not in page.ids["pair"]
    code = page.ids["code"]
    assert code["tag"] == "input" and code["name"] == "code"
    assert code["inputmode"] == "numeric" and code["pattern"] == "[0-9]{6}" and code["maxlength"] == "6"
    assert re.search(r'<form method="post" action="/app/pair"', response.text)
    assert config_of(page)["paired"] is False


async def test_unpaired_page_may_be_asked_in_english(client: httpx.AsyncClient) -> None:
    page = parse((await client.get("/app?lang=en")).text)
    assert page.html["lang"] == "en" and page.html["dir"] == "ltr"
    page = parse((await client.get("/app?lang=xx")).text)
    assert page.html["lang"] == "he"


async def test_paired_hebrew_person_gets_the_conversation_page_with_their_name(
    client: httpx.AsyncClient,
) -> None:
    await pair(client, DEMO_USER)
    response = await client.get("/app")
    page = parse(response.text)
    assert page.html["lang"] == "he" and page.html["dir"] == "rtl"
    assert_hooks(page)
    assert page.ids["status"]["data-state"] == "idle"
    assert "hidden" not in page.ids["talk"]
    assert "hidden" in page.ids["pair"]
    assert "שלום, משה" in response.text  # the demo person's preferred name
    config = config_of(page)
    assert config["paired"] is True and config["lang"] == "he"
    assert config["realtimePath"] == "/v1/realtime?greet=1"
    assert config["words"]["state.listening"] == "מקשיבה"
    assert config["words"]["state.speaking"] == "מדברת"
    assert config["words"]["state.reconnecting"] == "מתחברת מחדש"
    assert {f"state.{s}" for s in STATES} <= set(config["words"])


async def test_the_words_about_the_companion_follow_its_gender_in_the_profile(
    client: httpx.AsyncClient,
) -> None:
    await pair(client, DEMO_USER)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    page = parse((await client.get("/app")).text)
    assert config_of(page)["words"]["state.idle"] == "מוכנה לשיחה"  # the demo keeps the default
    current = await client.get(f"/api/users/{DEMO_USER}/profile", headers=admin)
    profile = current.json()["data"]
    profile["companion"] = {"gender": "male", "voice": "ash"}
    saved = await client.put(
        f"/api/users/{DEMO_USER}/profile",
        json=profile,
        headers={**admin, "If-Match": current.headers["etag"]},
    )
    assert saved.status_code == 200, saved.text
    response = await client.get("/app")
    page = parse(response.text)
    words = config_of(page)["words"]
    assert [words[f"state.{s}"] for s in ("idle", "connecting", "listening", "thinking", "speaking")] == [
        "מוכן לשיחה",
        "מתחבר…",
        "מקשיב",
        "חושב",
        "מדבר",
    ]
    assert words["state.reconnecting"] == "מתחבר מחדש"
    assert not [key for key in words if "@" in key]
    assert (
        '<p id="status" class="status" data-state="idle" role="status" aria-live="polite">מוכן לשיחה</p>'
        in (response.text)
    )


async def test_paired_english_person_gets_english_left_to_right(client: httpx.AsyncClient) -> None:
    await add_english_person(client)
    await pair(client, ENGLISH_USER)
    response = await client.get("/app")
    page = parse(response.text)
    assert page.html["lang"] == "en" and page.html["dir"] == "ltr"
    assert "Hello, Ruth" in response.text
    assert config_of(page)["words"]["state.listening"] == "Listening"


async def test_a_stale_device_cookie_is_unpaired(client: httpx.AsyncClient) -> None:
    client.cookies.set("companion_device", "not-a-device", domain="tablet.test")
    page = parse((await client.get("/app")).text)
    assert page.ids["status"]["data-state"] == "unpaired"


async def test_page_headers_allow_only_its_own_origin(client: httpx.AsyncClient) -> None:
    response = await client.get("/app")
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["worker-src"] == "'self'"
    assert directives["media-src"] == "'self'"
    assert directives["connect-src"] == "'self' ws://tablet.test wss://tablet.test"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
    assert response.headers["cache-control"] == "no-store"
    # same-origin, not no-referrer: the code form's POST must carry a real Origin for the pairing check
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_strange_host_header_is_never_echoed_into_the_policy() -> None:
    csp = content_security_policy("evil.test; script-src *")
    assert "evil" not in csp and "*" not in csp
    assert "ws://[::1]:8000" in content_security_policy("[::1]:8000")


async def test_no_inline_script_and_nothing_from_elsewhere(client: httpx.AsyncClient) -> None:
    await pair(client, DEMO_USER)
    html = (await client.get("/app")).text
    page = parse(html)
    for attrs, text in zip(page.scripts, page.script_text, strict=True):
        if attrs.get("type") == "application/json":
            assert "</" not in text
            continue
        assert attrs.get("src", "").startswith("/app/static/"), attrs
        assert not text.strip(), "an inline script would need 'unsafe-inline'"
    assert not page.inline_handlers
    assert "style=" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "nothing may come from another origin"


async def test_manifest_installs_a_full_screen_app_scoped_to_app(client: httpx.AsyncClient) -> None:
    response = await client.get("/app/manifest.webmanifest?lang=en")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["name"] == "My companion"
    assert manifest["start_url"] == "/app" and manifest["scope"] == "/app"
    assert manifest["display"] in ("fullscreen", "standalone")
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        fetched = await client.get(icon["src"])
        assert fetched.status_code == 200 and fetched.headers["content-type"] == icon["type"]
    hebrew = (await client.get("/app/manifest.webmanifest")).json()
    assert hebrew["lang"] == "he" and hebrew["dir"] == "rtl"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_png_icons_have_the_sizes_they_claim() -> None:
    assert _png_size((STATIC / "icon-192.png").read_bytes()) == (192, 192)
    assert _png_size((STATIC / "icon-512.png").read_bytes()) == (512, 512)


async def test_service_worker_is_scoped_to_app_and_caches_only_the_shell(client: httpx.AsyncClient) -> None:
    response = await client.get("/app/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["service-worker-allowed"] == "/app"
    assert response.headers["cache-control"] == "no-cache"
    script = response.text
    shell_line = re.search(r"const SHELL = (\[.*?\]);", script)
    prefix_line = re.search(r"const STATIC_PREFIX = (\".*?\");", script)
    assert shell_line is not None and prefix_line is not None
    shell = json.loads(shell_line[1])
    assert shell and all(path.startswith("/app/static/") for path in shell)
    assert "/app/static/app.js" in shell and "/app/static/capture-worklet.js" in shell
    assert not any(p.endswith((".html", ".json")) for p in shell)
    assert json.loads(prefix_line[1]) == "/app/static/"
    for path in shell:
        assert (await client.get(path)).status_code == 200, path


async def test_a_new_release_gets_a_new_worker_version(client: httpx.AsyncClient) -> None:
    script = (await client.get("/app/sw.js")).text
    version = re.search(r'const VERSION = "([0-9a-f]+)";', script)
    assert version is not None
    page = (await client.get("/app")).text
    assert f"app.js?v={version[1]}" in page


async def test_static_files_are_served_with_their_types(client: httpx.AsyncClient) -> None:
    for name, kind in (
        ("app.js", "javascript"),
        ("capture-worklet.js", "javascript"),
        ("playback-worklet.js", "javascript"),
        ("app.css", "text/css"),
        ("icon.svg", "image/svg+xml"),
    ):
        response = await client.get(f"/app/static/{name}")
        assert response.status_code == 200, name
        assert kind in response.headers["content-type"], (name, response.headers["content-type"])
        assert response.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/app/static/../page.py")).status_code == 404


def test_every_module_the_page_imports_is_a_shell_file() -> None:
    files = set(shell_files())
    for name in files:
        if not name.endswith(".js"):
            continue
        for imported in re.findall(r'from "\./([\w-]+\.js)"', (STATIC / name).read_text()):
            assert imported in files, f"{name} imports {imported}, which is not served"


def test_no_script_logs_what_was_said() -> None:
    """The console is the one place a tablet's words could leak to: only codes may be logged."""
    for path in STATIC.glob("*.js"):
        for call in re.findall(r"console\.\w+\(([^)]*)\)", path.read_text()):
            assert "transcript" not in call and "delta" not in call and "secret" not in call.lower(), (
                path.name,
                call,
            )


RESAMPLER_CHECK = """
import { Resampler } from "%s";
import { PcmQueue } from "%s";
const out = [];
for (const rate of [48000, 44100, 24000, 16000]) {
  const r = new Resampler(rate);
  const got = [];
  const seconds = 2, hz = 440;
  for (let start = 0; start < rate * seconds; start += 128) {
    const block = new Float32Array(128);
    for (let i = 0; i < 128; i++) block[i] = 0.5 * Math.sin(2 * Math.PI * hz * (start + i) / rate);
    r.push(block, (s) => got.push(s));
  }
  // skip the filter's settling, then compare with the ideal 24 kHz sine (allowing its group delay)
  let best = Infinity;
  for (let lag = 0; lag < 40; lag++) {
    let err = 0, n = 0;
    for (let i = 200; i < got.length - 200; i++) {
      const ideal = 0.5 * Math.sin(2 * Math.PI * hz * (i - lag * 24000 / rate) / 24000);
      err += (got[i] - ideal) ** 2; n++;
    }
    best = Math.min(best, Math.sqrt(err / n));
  }
  const fed = Math.ceil((rate * seconds) / 128) * 128;
  out.push({ rate, samples: got.length, expected: (fed * 24000) / rate, rmsError: best });
}
// a 16 kHz tone cannot exist at 24 kHz: it must be filtered out, not folded down to 8 kHz
const alias = new Resampler(48000);
let energy = 0, count = 0;
for (let start = 0; start < 48000; start += 128) {
  const block = new Float32Array(128);
  for (let i = 0; i < 128; i++) block[i] = 0.5 * Math.sin(2 * Math.PI * 16000 * (start + i) / 48000);
  alias.push(block, (s) => { if (start > 1000) { energy += s * s; count++; } });
}
out.push({ aliasRms: Math.sqrt(energy / count) });
const q = new PcmQueue(48000);
q.push("a", new Int16Array(480).fill(1000));
q.push("b", new Int16Array(240).fill(-1000));
const block = new Float32Array(128);
let rendered = 0;
for (let i = 0; i < 6; i++) rendered += q.render(block) ? 1 : 0;
const flushed = q.flush();
out.push({ played: q.played, flushed });
console.log(JSON.stringify(out));
"""


def test_resampler_and_playback_counting_in_node(tmp_path: Path) -> None:
    """The worklets' pure parts, run by Node when it is installed (the browser tests run them for real).

    The capture resampler must give exactly 24,000 samples per second from any input rate, keep a
    sine a sine across 128-frame blocks and filter out what 24 kHz cannot carry; the playback queue
    counts 24 kHz samples per item while playing at 48 kHz.
    """
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the worklets are checked by the browser tests only")
    check = tmp_path / "check.mjs"
    check.write_text(
        RESAMPLER_CHECK
        % ((STATIC / "capture-worklet.js").as_uri(), (STATIC / "playback-worklet.js").as_uri())
    )
    result = subprocess.run([node, str(check)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    *rates, alias, playback = json.loads(result.stdout)
    for entry in rates:
        assert abs(entry["samples"] - entry["expected"]) <= 1, entry  # exactly 24 kHz from any rate
        assert entry["rmsError"] < 0.02, entry  # a clean sine: no clicks at block edges, no aliasing
    assert alias["aliasRms"] < 0.005, alias  # 0.35 in, under -36 dB out
    # 6 blocks of 128 frames at 48 kHz = 384 source samples at 24 kHz: all of "a" is not yet played
    assert playback["played"] == {"a": 384}
    assert playback["flushed"] == "a"


POLICY_CHECK = """
import { backoffDelay } from "%s";
import { saysStop } from "%s";
const delays = [];
for (let attempt = 0; attempt < 12; attempt++) {
  delays.push([backoffDelay(attempt, () => 0), backoffDelay(attempt, () => 0.999999)]);
}
const stops = ["די", "די, תודה", "עצור את המוזיקה", "תפסיק!", "Stop the music", "stop"].map(saysStop);
const keeps = ["דירה יפה", "ידיים", "I like this song", "nonstop", ""].map(saysStop);
console.log(JSON.stringify({ delays, stops, keeps }));
"""


def test_reconnect_backoff_and_stop_words_in_node(tmp_path: Path) -> None:
    """Backoff doubles from 0.5 s to a 15 s cap with jitter; stop words match whole words only."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the browser tests cover the page's behaviour")
    check = tmp_path / "policy.mjs"
    check.write_text(POLICY_CHECK % ((STATIC / "connection.js").as_uri(), (STATIC / "music.js").as_uri()))
    result = subprocess.run([node, str(check)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    low, high = zip(*found["delays"], strict=True)
    assert (low[0], high[0]) == (250, 500)  # the first retry: within half a second
    assert (low[1], high[1]) == (500, 1000)
    assert max(high) == 15000 and low[-1] == 7500  # capped, and still jittered at the cap
    assert list(high) == sorted(high)
    assert all(found["stops"]), found["stops"]
    assert not any(found["keeps"]), found["keeps"]


CONNECTION_CHECK = """
const dialed = [];
const fetched = [];
let script = [];  // per session request: "refuse" (socket closes 1006 unopened), "live", "down", "busy"
const timers = [];
const delays = [];
globalThis.window = { addEventListener() {}, removeEventListener() {} };
globalThis.location = { protocol: "https:", host: "tablet.test", href: "https://tablet.test/app" };
globalThis.setTimeout = (fn, ms) => { timers.push(fn); delays.push(ms); return timers.length; };
globalThis.clearTimeout = () => {};
let realtimeUrl = "/v1/realtime";
globalThis.fetch = async (url) => {
  const step = script.shift() || "refuse";
  fetched.push(step);
  if (step === "down") throw new TypeError("connection refused");
  const retryAfter = { get: (h) => (h === "Retry-After" ? "7" : null) };
  if (step === "busy") return { status: 429, ok: false, headers: retryAfter };
  return { status: 200, ok: true, json: async () => ({ clientSecret: "ek_test", realtimeUrl }) };
};
class FakeSocket {
  constructor(url, protocols) {
    dialed.push({ url, protocols });
    this.readyState = 0;
    this.step = fetched[fetched.length - 1];
    Promise.resolve().then(() => {
      if (this.step === "live") {
        this.readyState = 1;
        this.onmessage && this.onmessage({ data: JSON.stringify({ type: "session.created" }) });
      } else {
        this.readyState = 3;
        this.onclose && this.onclose({ code: 1006 });
      }
    });
  }
  close() {}
  send() {}
}
FakeSocket.OPEN = 1;
globalThis.WebSocket = FakeSocket;
const { Connection, RetryBudget, realtimeSocketUrl } = await import("%s");

async function settle() {
  for (let i = 0; i < 400; i++) {
    await new Promise((r) => setImmediate(r));
    const next = timers.shift();
    if (next) next();
  }
}

function run(steps, dropLive = false, reminderId = null) {
  script = steps.slice();
  dialed.length = 0;
  fetched.length = 0;
  const seen = { fatal: null, unpaired: false, live: 0 };
  const link = new Connection(
    { sessionUrl: "/app/session", realtimePath: "/v1/realtime?greet=1" },
    {
      onPhase: (phase) => {
        if (phase !== "live") return;
        seen.live++;
        if (dropLive) Promise.resolve().then(() => link.socket && link.socket.onclose({ code: 1006 }));
      },
      onEvent: () => {},
      onUnpaired: () => { seen.unpaired = true; },
      onFatal: (reason) => { seen.fatal = reason; },
    },
  );
  link.start(reminderId);
  return { link, seen };
}

const out = {};
// the service refuses every upgrade (HTTP 403 -> 1006): a few attempts, then give up
let r = run([]);
await settle();
out.refused = { fatal: r.seen.fatal, dials: dialed.length, wanted: r.link.wanted };
out.url = dialed[0].url;
out.protocols = dialed[0].protocols;
// the service restarting: many refused connections of /app/session, then it is back
r = run([...Array(30).fill("down"), "live"]);
await settle();
out.restart = { fatal: r.seen.fatal, live: r.seen.live, fetches: fetched.length };
// a live session in between starts the count of refused sockets afresh (each live one drops, and
// after the script the service refuses: 4 + 1 + 4 + 1 + 5 sockets before giving up)
const fourRefused = ["refuse", "refuse", "refuse", "refuse"];
r = run([...fourRefused, "live", ...fourRefused, "live"], true);
await settle();
out.reset = { live: r.seen.live, dialsBeforeGivingUp: dialed.length, fatal: r.seen.fatal };
r.link.stop();
// the session answer names the path; greet=1 is added to it
realtimeUrl = "/v2/live?x=1";
r = run(["live"]);
await settle();
out.named = dialed[0].url;
r.link.stop();
out.fallback = realtimeSocketUrl(undefined, "/v1/realtime?greet=1", "http://tablet.test/app");
// opened from a reminder's card: the first session's greeting says it, a reconnection just greets
realtimeUrl = undefined;
r = run(["live", "live"], true, "rem-1");
await settle();
out.forReminder = dialed.slice(0, 2).map((d) => d.url);
r.link.stop();
// too many conversations started from this tablet: it waits as long as the service says, then goes on
delays.length = 0;
r = run(["busy", "live"]);
await settle();
out.busy = { firstWait: delays[0], live: r.seen.live, fatal: r.seen.fatal, fetches: fetched.length };
r.link.stop();
// the time limit for an unreachable service: not within two minutes, but in the end
let now = 0;
const budget = new RetryBudget(() => now);
now = 120000;
out.at2min = budget.exhausted();
now = 600000;
out.at10min = budget.exhausted();
console.log(JSON.stringify(out));
"""


def test_connection_gives_up_on_refused_sockets_but_not_on_a_restart(tmp_path: Path) -> None:
    """Sockets refused before their session starts (a 403 at the upgrade is a bare 1006 in a browser)
    stop after a few in a row instead of spending a new client secret for ever; a service that cannot
    be reached for a while (a restart) is retried far longer; a live session resets the count; the
    socket's path comes from the session answer, with greet=1 (and, for a conversation opened from a
    reminder's card, the reminder on the first socket only)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the browser tests cover the page's behaviour")
    check = tmp_path / "connection.mjs"
    check.write_text(CONNECTION_CHECK % (STATIC / "connection.js").as_uri())
    result = subprocess.run([node, str(check)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["refused"] == {"fatal": "refused", "dials": 5, "wanted": False}
    assert found["url"] == "wss://tablet.test/v1/realtime?greet=1"
    assert found["protocols"] == ["realtime", "openai-insecure-api-key.ek_test"]
    assert found["restart"] == {"fatal": None, "live": 1, "fetches": 31}
    assert found["reset"] == {"live": 2, "dialsBeforeGivingUp": 15, "fatal": "refused"}
    assert found["named"] == "wss://tablet.test/v2/live?x=1&greet=1"
    assert found["fallback"] == "ws://tablet.test/v1/realtime?greet=1"
    assert found["forReminder"] == [
        "wss://tablet.test/v1/realtime?greet=1&reminder=rem-1",
        "wss://tablet.test/v1/realtime?greet=1",
    ]
    assert found["at2min"] is None and found["at10min"] == "unreachable"
    assert found["busy"] == {"firstWait": 7000, "live": 1, "fatal": None, "fetches": 2}  # Retry-After: 7


AUDIO_STOP_CHECK = """
const made = [];
globalThis.location = { href: "https://tablet.test/app" };
class FakeContext {
  constructor(options) {
    if (options && options.sampleRate === 24000 && globalThis.no24k) throw new Error("NotSupportedError");
    this.options = options; this.state = "suspended"; this.closed = false; this.resumed = 0;
    this.audioWorklet = { addModule: () => new Promise((r) => setTimeout(r, 5)) };
    made.push(this);
  }
  resume() { this.resumed++; this.state = "running"; return Promise.resolve(); }
  close() { this.closed = true; return Promise.resolve(); }
}
globalThis.AudioContext = FakeContext;
globalThis.AudioWorkletNode = class { constructor() { throw new Error("no node may be built after stop"); } };
const tracks = [];
globalThis.navigator = { mediaDevices: { getUserMedia: () => new Promise((resolve) => setTimeout(() => {
  const track = { stopped: false, stop() { this.stopped = true; } };
  tracks.push(track);
  resolve({ getTracks: () => [track] });
}, 5)) } };
const { Microphone, Speaker } = await import("%s");
const out = {};
// stop while the browser asks for the microphone: the stream granted afterwards is closed at once
let mic = new Microphone("/app/static/");
mic.open();
out.resumedInClick = made[0].resumed;
let started = mic.start(() => {});
mic.stop();
await started;
out.duringPermission = { trackStopped: tracks[0].stopped, stream: mic.stream, contextClosed: made[0].closed };
// stop while the worklet module loads
mic = new Microphone("/app/static/");
mic.open();
started = mic.start(() => {});
await new Promise((r) => setTimeout(r, 7));
mic.stop();
await started;
out.duringModule = { trackStopped: tracks[1].stopped, stream: mic.stream };
// the speaker: 24 kHz when possible, the device's rate when not; nothing built after stop
let speaker = new Speaker("/app/static/", {});
speaker.open();
out.rate = speaker.context.options.sampleRate;
started = speaker.start();
speaker.stop();
await started;
globalThis.no24k = true;
speaker = new Speaker("/app/static/", {});
speaker.open();
const fallback = speaker.context.options.sampleRate;
out.fallbackRate = fallback === undefined ? "device" : fallback;
out.fallbackResumed = speaker.context.resumed;
speaker.stop();
console.log(JSON.stringify(out));
"""


def test_stop_while_audio_starts_leaves_nothing_open(tmp_path: Path) -> None:
    """Stop pressed while the microphone permission or the worklet module is pending: the stream that
    arrives afterwards is closed and no node is built; contexts are resumed when opened (in the click);
    the voice plays at 24 kHz when the browser allows it and at the device's rate otherwise."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the browser tests cover the page's behaviour")
    check = tmp_path / "audio.mjs"
    check.write_text(AUDIO_STOP_CHECK % (STATIC / "audio.js").as_uri())
    result = subprocess.run([node, str(check)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["resumedInClick"] == 1
    assert found["duringPermission"] == {"trackStopped": True, "stream": None, "contextClosed": True}
    assert found["duringModule"] == {"trackStopped": True, "stream": None}
    assert found["rate"] == 24000
    assert found["fallbackRate"] == "device" and found["fallbackResumed"] == 1
