"""The music routes over ASGI: what the page asks (is there music, which track) and the file it plays,
with byte ranges so that seeking works. The client is a paired device (a code made and redeemed through the
device service, its secret in the cookie); one test leaves it unpaired to see its requests refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from companion.api.device_auth import DEVICE_COOKIE
from companion.app import create_app
from companion.music import track_id
from companion.services import Services
from companion.settings import Settings
from tests.elder.test_music_library import make_folder

USER = "user-music-1"
PREFS = {
    "preferredArtists": ["Ofra Haza", "Arik Einstein"],
    "preferredGenres": ["jazz"],
    "dislikedArtists": ["Eyal Golan"],
}
Client = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, Services]]]


@asynccontextmanager
async def _client(
    tmp_path: Path, music_dir: Path | None, *, paired: bool = True
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    app: FastAPI = create_app(Settings(data_dir=tmp_path / "data", music_dir=music_dir))
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        await services.store.create_user(USER)
        await services.profiles.save_section(USER, "music", PREFS, if_match=None)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            if paired:
                pairing = await services.devices.create_pairing(USER, created_by=None)
                attempt = await services.devices.redeem(
                    pairing.code, client="test", user_agent="kitchen tablet"
                )
                assert attempt.cookie is not None, attempt
                client.cookies.set(DEVICE_COOKIE, attempt.cookie)
            yield client, services


@pytest.fixture
def music_dir(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "music")


async def test_library_state_and_a_match(tmp_path: Path, music_dir: Path) -> None:
    async with _client(tmp_path, music_dir) as (client, _):
        r = await client.get("/app/music")
        assert r.status_code == 200
        assert r.json() == {"available": True, "tracks": 6}
        r = await client.get("/app/music/match", params={"song": "im nin'alu"})
        assert r.status_code == 200
        assert r.json() == {
            "available": True,
            "track": {
                "id": track_id("haza.flac"),
                "artist": "Ofra Haza",
                "title": "Im Nin'alu",
                "url": f"/app/music/tracks/{track_id('haza.flac')}",
                "durationS": pytest.approx(1.0, abs=0.05),
            },
            "reason": None,
        }
        r = await client.get("/app/music/match", params={"genre": "Jazz"})
        assert r.json()["track"]["title"] == "So What"


async def test_match_follows_the_profile_as_it_is_now(tmp_path: Path, music_dir: Path) -> None:
    async with _client(tmp_path, music_dir) as (client, services):
        r = await client.get("/app/music/match", params={"artist": "Eyal Golan"})
        assert r.json() == {"available": True, "track": None, "reason": "artist_disliked"}
        golan = await client.get(f"/app/music/tracks/{track_id('golan.ogg')}")
        assert golan.status_code == 403, "a disliked artist's file is not served even by its id"
        r = await client.get("/app/music/match", params={"artist": "Arik Einstein"})
        arik = r.json()["track"]
        assert arik["artist"] == "Arik Einstein"
        assert (await client.get(arik["url"])).status_code == 200
        state = await services.profiles.get_section(USER, "music")
        removed = {**PREFS, "preferredArtists": ["Ofra Haza"], "dislikedArtists": ["Arik Einstein"]}
        await services.profiles.save_section(USER, "music", removed, if_match=state.version)
        r = await client.get("/app/music/match", params={"artist": "Arik Einstein"})
        assert r.json() == {"available": True, "track": None, "reason": "artist_disliked"}
        r = await client.get("/app/music/match")
        assert r.json()["track"]["artist"] == "Ofra Haza"
        assert (await client.get(arik["url"])).status_code == 403, "nor streamed by its old link"
        off = {**removed, "enabled": False}
        state = await services.profiles.get_section(USER, "music")
        await services.profiles.save_section(USER, "music", off, if_match=state.version)
        r = await client.get("/app/music/match", params={"artist": "Ofra Haza"})
        assert r.json() == {"available": True, "track": None, "reason": "music_disabled"}


async def test_no_library(tmp_path: Path) -> None:
    for run, folder in enumerate((None, tmp_path / "missing")):
        async with _client(tmp_path / str(run), folder) as (client, _):
            assert (await client.get("/app/music")).json() == {"available": False, "tracks": 0}
            r = await client.get("/app/music/match", params={"artist": "Ofra Haza"})
            assert r.status_code == 200
            assert r.json() == {"available": False, "track": None, "reason": "no_library"}
            assert (await client.get(f"/app/music/tracks/{track_id('haza.flac')}")).status_code == 404


async def test_the_file_with_ranges(tmp_path: Path, music_dir: Path) -> None:
    data = (music_dir / "haza.flac").read_bytes()
    url = f"/app/music/tracks/{track_id('haza.flac')}"
    async with _client(tmp_path, music_dir) as (client, _):
        whole = await client.get(url)
        assert whole.status_code == 200
        assert whole.content == data
        assert whole.headers["content-type"] == "audio/flac"
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["cache-control"] == "private, no-cache"
        assert whole.headers["etag"] and whole.headers["last-modified"]
        part = await client.get(url, headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206
        assert part.content == data[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
        assert part.headers["content-length"] == "1000"
        tail = await client.get(url, headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == data[-10:]
        beyond = await client.get(url, headers={"Range": f"bytes={len(data)}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{len(data)}"
        wav = await client.get(f"/app/music/tracks/{track_id('Arik Einstein - Ani Ve Ata.wav')}")
        assert wav.headers["content-type"] == "audio/wav"


async def test_only_indexed_tracks_are_served(tmp_path: Path, music_dir: Path) -> None:
    async with _client(tmp_path, music_dir) as (client, _):
        for bad in ("nope", "haza.flac", "..%2F..%2Fetc%2Fpasswd", track_id("broken.mp3")):
            assert (await client.get(f"/app/music/tracks/{bad}")).status_code == 404, bad
        (music_dir / "haza.flac").unlink()
        r = await client.get(f"/app/music/tracks/{track_id('haza.flac')}")
        assert r.status_code == 404, "a file removed since the scan is gone, not a server error"


async def test_a_request_without_a_paired_device_is_refused(tmp_path: Path, music_dir: Path) -> None:
    async with _client(tmp_path, music_dir, paired=False) as (client, _):
        for url in ("/app/music", "/app/music/match", f"/app/music/tracks/{track_id('haza.flac')}"):
            r = await client.get(url)
            assert r.status_code == 401, url
            assert r.json()["error"] == "unauthorized"
