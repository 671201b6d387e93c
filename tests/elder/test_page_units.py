"""The elder's page routes, in process: language and direction, the unpaired state, the headers that
keep the page closed to everything but its own origin, the manifest, the service worker and the files.
The page's JavaScript modules are tested by Node (``tests/js/*.test.mjs``).

A paired browser is made the way a family makes one: an administrator asks for a pairing code and the
browser posts it to ``/app/pair`` (the button of the page the pairing link opens), which sets the
device cookie.
"""

from __future__ import annotations

import json
import re
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
