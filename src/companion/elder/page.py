"""The elder's voice page at ``/app``: one HTML page, its manifest, its service worker, its files.

The page is server-rendered once per visit and then runs on plain ES modules and AudioWorklets from
``/app/static`` (no build step, nothing from the internet). The HTML holds no secret and no inline
script: the words and the person's name travel in a ``<script type="application/json">`` block that
the browser never executes, so the Content-Security-Policy can forbid every inline script.

The words about the companion ("מקשיבה" / "מקשיב") are in the companion's gender from the person's
profile (``profile.companion``), read whenever the page is served, pairing included (it lands here): a
key ``<key>@male`` or ``<key>@female`` in the strings replaces ``<key>`` for a companion of that gender;
the plain key is the default companion's (female).

Whether the browser is paired is decided by the device cookie (``device_auth``); an unpaired browser
gets the same page in state ``unpaired``, with the code form, so there is one page to test and to
install.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.types import Scope

from companion.api.device_auth import device_from_request, services_of
from companion.api.headers import NOSNIFF, PRIVATE_PAGE
from companion.api.live import REALTIME_PATH
from companion.api.paths import APP, MUSIC, PHOTOS, SESSION, STATIC
from companion.i18n import DEFAULT_LANGUAGE, DIRECTION, Words, pick_language
from companion.profiles.models import DEFAULT_COMPANION_GENDER, Gender

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
SW_SCOPE = APP  # the page itself is /app (no slash), so the worker's scope must reach above /app/
# The shell files the service worker keeps for a flaky network: the page's own code, style, icons.
SHELL_SUFFIXES = (".js", ".css", ".svg", ".png")
# A Host header we are willing to repeat in the CSP (anything else is left out, never echoed).
_SAFE_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

router = APIRouter(include_in_schema=False)


WORDS = Words(Path(__file__).parent / "strings")
strings = WORDS.strings
translate = WORDS.translate


def content_security_policy(host: str | None) -> str:
    """Only this origin: scripts, worklets, media, and the WebSocket to the same host.

    ``connect-src 'self'`` covers ws/wss of the same host in CSP level 3, but older engines need the
    scheme spelled out, so the host is added for both when it looks like a host.
    """
    sockets = f" ws://{host} wss://{host}" if host and _SAFE_HOST.match(host) else ""
    return (
        "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; "
        "img-src 'self' data:; media-src 'self'; font-src 'self'; manifest-src 'self'; "
        f"connect-src 'self'{sockets}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; "
        "object-src 'none'"
    )


def page_headers(request: Request) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(request.headers.get("host")),
        **PRIVATE_PAGE,
        **NOSNIFF,
        "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
    }


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` (no ``</script>``, no ``<!--``)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def shell_files() -> tuple[str, ...]:
    """The static files the service worker may cache (read once: they change only with a release)."""
    return tuple(sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix in SHELL_SUFFIXES))


@cache
def shell_version() -> str:
    """A digest of the shell files: a new release gets a new worker and a fresh cache."""
    digest = hashlib.sha256()
    for name in shell_files():
        digest.update(name.encode())
        digest.update((STATIC_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


class _Person(NamedTuple):
    language: str
    name: str | None
    companion: Gender  # the companion's grammatical gender, for the words about it


async def _person(request: Request) -> _Person | None:
    """The paired person's language, name and companion, or None when this browser is not paired."""
    device = await device_from_request(request)
    if device is None:
        return None
    context = await services_of(request).profiles.context(device.user_id)
    if context.profile is None:
        return _Person(pick_language(None), None, DEFAULT_COMPANION_GENDER)
    info = context.profile.personal_info
    return _Person(
        pick_language(info.language), info.preferred_name or info.full_name, context.profile.companion.gender
    )


def companion_words(lang: str, companion: Gender) -> dict[str, str]:
    """The page's words in ``lang`` with those about the companion in its gender (``<key>@<gender>``
    replaces ``<key>``); the keys with a gender are left out."""
    words = strings(lang)
    chosen = {key: text for key, text in words.items() if "@" not in key}
    suffix = f"@{companion.value}"
    chosen.update({key.removesuffix(suffix): text for key, text in words.items() if key.endswith(suffix)})
    return chosen


# The words app.js shows by itself (states, the button, errors, the greeting once unpaired).
_SCRIPT_WORDS = frozenset({"state", "error", "talk", "hello", "photo"})


def page_config(lang: str, paired: bool, companion: Gender = DEFAULT_COMPANION_GENDER) -> dict[str, Any]:
    """What app.js needs: the words it shows (states, buttons) and where things are."""
    words = companion_words(lang, companion)
    return {
        "lang": lang,
        "paired": paired,
        "realtimePath": REALTIME_PATH + "?greet=1",
        "sessionUrl": SESSION,
        "musicMatchUrl": f"{MUSIC}/match",
        "photosBase": f"{PHOTOS}/",
        "serviceWorker": f"{APP}/sw.js",
        "scope": SW_SCOPE,
        "staticBase": f"{STATIC}/",
        "words": {key: text for key, text in words.items() if key.split(".")[0] in _SCRIPT_WORDS},
    }


@router.get(APP)
async def app_page(request: Request) -> HTMLResponse:
    person = await _person(request)
    if person is None:
        lang, name, state = pick_language(request.query_params.get("lang")), None, "unpaired"
        companion = DEFAULT_COMPANION_GENDER
    else:
        (lang, name, companion), state = person, "idle"
    words = companion_words(lang, companion)

    def t(key: str, **values: Any) -> str:
        text = words.get(key) or companion_words(DEFAULT_LANGUAGE, companion).get(key) or key
        return text.format(**values) if values else text

    html = env.get_template("app.html").render(
        lang=lang,
        dir=DIRECTION[lang],
        t=t,
        name=name,
        state=state,
        paired=person is not None,
        prefix=APP,
        version=shell_version(),
        config=script_json(page_config(lang, person is not None, companion)),
    )
    return HTMLResponse(html, headers=page_headers(request))


@router.get(APP + "/manifest.webmanifest")
async def manifest(request: Request) -> Response:
    """The install manifest; the language comes from ``?lang=`` (browsers fetch it without cookies)."""
    lang = pick_language(request.query_params.get("lang"))
    static = STATIC
    body = {
        "name": translate(lang, "app.name"),
        "short_name": translate(lang, "app.short"),
        "description": translate(lang, "app.description"),
        "lang": lang,
        "dir": DIRECTION[lang],
        "id": APP,
        "start_url": APP,
        "scope": SW_SCOPE,
        "display": "fullscreen",
        "display_override": ["fullscreen", "standalone"],
        "orientation": "any",
        "background_color": "#0b1a2e",
        "theme_color": "#0b1a2e",
        "icons": [
            {"src": f"{static}/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
            {"src": f"{static}/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": f"{static}/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {
                "src": f"{static}/icon-512.png",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache", **NOSNIFF},
    )


@router.get(APP + "/sw.js")
async def service_worker() -> Response:
    """The worker, with this release's version and shell list written in (it cannot read them itself)."""
    script = env.get_template("sw.js").render(
        version=script_json(shell_version()),
        shell=script_json([f"{STATIC}/{name}" for name in shell_files()]),
        static_prefix=script_json(f"{STATIC}/"),
    )
    return Response(
        script,
        media_type="text/javascript",
        headers={
            "Service-Worker-Allowed": SW_SCOPE,
            "Cache-Control": "no-cache",  # a new release must reach the browser's update check at once
            **NOSNIFF,
        },
    )


class ShellFiles(StaticFiles):
    """The page's static files, revalidated on every use (ETag) and never sniffed as another type."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers.update(NOSNIFF)
        return response


def install_static(app: FastAPI) -> None:
    """Mount ``static/`` at ``/app/static`` (before the routes, so the mount is found first)."""
    app.mount(STATIC, ShellFiles(directory=STATIC_DIR), name="elder-static")


__all__ = ["companion_words", "content_security_policy", "install_static", "router", "shell_files"]
