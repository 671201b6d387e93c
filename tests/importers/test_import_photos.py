"""Photos brought over with their files: from an export folder into SQLite and PostgreSQL, and from the
Cosmos DB server, each photo whose file is in the copy of the Blob container uploaded through the
photo library and then checked as the family sees it (its caption, people, day and place through the
API, the image it serves); a photo without a file, or with a damaged one, named in the report while
the rest of the person comes over; run again (nothing), with a file that appeared since, after a
change at the source, after the family's own edit, and with --overwrite."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from api.conftest import Api, make_settings
from bench.cosmos_server import KEY
from companion.app import create_app
from companion.cli import app as cli
from companion.errors import AlreadyExists
from companion.importers.photos import photo_id
from companion.importers.report import ImportReport, PhotoProblem
from companion.importers.runner import ImportRunner
from companion.importers.sources import CosmosSource, DirSource, PhotoFolder, Source
from companion.photos.service import Described
from companion.profiles.models import PhotoEdit
from importers import seed_data as SEED
from importers.checks import check_everything
from importers.conftest import Published, write_export
from photos.images import ROTATE_CW, has_metadata, photo

GARDEN_ID = photo_id(SEED.TIFERET, SEED.GARDEN)
WEDDING_ID = photo_id(SEED.TIFERET, SEED.WEDDING)
GRANDCHILDREN_ID = photo_id(SEED.MOSHE, SEED.GRANDCHILDREN)
REFUSED = "This file is not a photo the service accepts: send JPEG, PNG, WebP or HEIC"
GARDEN = {
    "id": GARDEN_ID,
    "caption": "In the garden",
    "people": ["Tiferet", "Sarah"],
    "when": "2019-06-01",
    "where": "Grandma's balcony in Haifa",
    "onlyWhenAsked": False,
    "position": 0,
    "version": 1,
    "width": 800,  # 2400 x 1200 turned upright by its EXIF orientation, then fitted into 1600
    "height": 1600,
}


@pytest.fixture
def blobs(tmp_path: Path) -> Path:
    """A copy of the seed system's Blob container: the garden photo (a real one, taken sideways) and
    the wedding photo, damaged; the grandchildren's file was never copied."""
    folder = tmp_path / "blobs"
    (folder / SEED.TIFERET).mkdir(parents=True)
    (folder / SEED.GARDEN).write_bytes(photo("jpeg", orientation=ROTATE_CW, size=(2400, 1200)))
    (folder / SEED.WEDDING).write_bytes(b"\xff\xd8 not a photo after all")
    return folder


async def run(api: Api, source: Source, blobs: Path | None, **options: Any) -> tuple[ImportReport, Published]:
    published = Published(api)
    runner = ImportRunner(
        api.services.store,
        published,
        clock=lambda: SEED.NOW,
        photos=api.services.photos,
        photo_files=PhotoFolder(blobs) if blobs is not None else None,
        **options,
    )
    try:
        return await runner.run(source), published
    finally:
        await source.close()


def person(report: ImportReport, user_id: str) -> Any:
    return next(p for p in report.people if p.user_id == user_id)


async def photos_here(api: Api, user_id: str) -> list[dict[str, Any]]:
    answer = await api.admin("GET", f"/api/users/{user_id}/photos")
    assert answer.status_code == 200, answer.text
    listed: list[dict[str, Any]] = answer.json()["photos"]
    for entry in listed:
        entry.pop("createdAt")
        entry.pop("storedBytes")
    return listed


async def check_photos(api: Api, report: ImportReport) -> None:
    """What the family sees after the first import with the copy of the Blob container."""
    tiferet = person(report, SEED.TIFERET)
    assert tiferet.status == "created"
    assert [c for c in tiferet.changes if c[0].startswith("photo:")] == [(f"photo:{GARDEN_ID}", "created")]
    assert tiferet.photos_missing == []
    wedding = PhotoProblem(WEDDING_ID, "photos/9d0e1f2a-0000-4000-8000-000000000002", SEED.WEDDING, REFUSED)
    assert tiferet.photos_failed == [wedding]
    grandchildren = PhotoProblem(
        GRANDCHILDREN_ID, "photos/9d0e1f2a-0000-4000-8000-000000000003", SEED.GRANDCHILDREN
    )
    assert person(report, SEED.MOSHE).photos_missing == [grandchildren]
    assert (report.totals()["photosMissing"], report.totals()["photosFailed"]) == (1, 1)
    assert report.by_kind()["photo"] == 1
    [body] = [p for p in report.as_json()["people"] if p["userId"] == SEED.TIFERET]
    assert body["photosFailed"] == [
        {"photo": WEDDING_ID, "source": wedding.source, "file": SEED.WEDDING, "error": REFUSED}
    ]

    assert await photos_here(api, SEED.TIFERET) == [GARDEN]
    assert await photos_here(api, SEED.MOSHE) == []
    image = await api.admin("GET", f"/api/users/{SEED.TIFERET}/photos/{GARDEN_ID}/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    shown = Image.open(io.BytesIO(image.content))
    assert (shown.format, shown.size) == ("JPEG", (800, 1600))
    assert shown.getpixel((400, 100))[0] > 200  # red on top: the photo was turned upright
    assert has_metadata(image.content) == []  # no camera, no GPS position


async def test_photos_come_over_with_their_files(service: Api, export_dir: Path, blobs: Path) -> None:
    report, published = await run(service, DirSource(export_dir), blobs)
    await check_photos(service, report)
    await check_everything(service, report)  # a refused photo takes nothing else of the person's
    # one change event for the person, naming the photos with the rest
    [event] = [e for e in published.events if e.user_id == SEED.TIFERET]
    assert event.sections == ("profile", "safety", "music", "memories", "photos")

    changes_before = await service.services.store.last_change_id()
    again, published = await run(service, DirSource(export_dir), blobs)
    assert again.totals()["changes"] == 0 and again.totals()["conflicts"] == 0
    assert published.events == []
    assert await service.services.store.last_change_id() == changes_before
    assert await photos_here(service, SEED.TIFERET) == [GARDEN]
    # still not here, so named again
    assert (again.totals()["photosMissing"], again.totals()["photosFailed"]) == (1, 1)
    # the library never stores two photos under one id
    found = PhotoFolder(blobs).find(SEED.GARDEN)
    assert found is not None and service.services.photos is not None
    with pytest.raises(AlreadyExists):
        await service.services.photos.add_described(
            SEED.TIFERET, Described(found, GARDEN_ID, PhotoEdit(caption="again"))
        )
    assert await photos_here(service, SEED.TIFERET) == [GARDEN]


async def test_a_file_that_appears_later_comes_then(service: Api, export_dir: Path, blobs: Path) -> None:
    first, _ = await run(service, DirSource(export_dir), None)
    assert [(p.photo_id, p.file) for p in person(first, SEED.TIFERET).photos_missing] == [
        (WEDDING_ID, SEED.WEDDING),
        (GARDEN_ID, SEED.GARDEN),
    ]
    assert first.totals()["photosMissing"] == 3 and "photo" not in first.by_kind()
    assert await photos_here(service, SEED.TIFERET) == []

    (blobs / SEED.WEDDING).unlink()
    second, published = await run(service, DirSource(export_dir), blobs)
    tiferet = person(second, SEED.TIFERET)
    assert (tiferet.status, tiferet.changes) == ("updated", [(f"photo:{GARDEN_ID}", "created")])
    assert [p.file for p in tiferet.photos_missing] == [SEED.WEDDING]
    assert [(e.user_id, e.sections) for e in published.events] == [(SEED.TIFERET, ("photos",))]
    assert await photos_here(service, SEED.TIFERET) == [GARDEN]

    (blobs / SEED.WEDDING).write_bytes(photo("png", size=(300, 200)))
    third, _ = await run(service, DirSource(export_dir), blobs)
    assert person(third, SEED.TIFERET).changes == [(f"photo:{WEDDING_ID}", "created")]
    wedding = (await photos_here(service, SEED.TIFERET))[1]
    assert (wedding["id"], wedding["caption"], wedding["people"], wedding["when"], wedding["position"]) == (
        WEDDING_ID,
        "Sarah's wedding",
        ["Sarah", "David"],
        "",  # the seed system's capturedDate was the day of the upload
        1,
    )
    fourth, _ = await run(service, DirSource(export_dir), blobs)
    assert fourth.totals()["changes"] == 0 and fourth.totals()["photosMissing"] == 1  # Moshe's


async def test_a_change_at_the_source_and_an_edit_here(
    service: Api, export_dir: Path, blobs: Path, tmp_path: Path
) -> None:
    await run(service, DirSource(export_dir), blobs)
    data = SEED.containers()
    data["photos"][0]["caption"] = "In the garden, spring 2019"
    changed, published = await run(service, DirSource(write_export(tmp_path / "changed", data)), blobs)
    assert person(changed, SEED.TIFERET).changes == [(f"photo:{GARDEN_ID}", "updated")]
    assert [(e.user_id, e.sections) for e in published.events] == [(SEED.TIFERET, ("photos",))]
    [garden] = await photos_here(service, SEED.TIFERET)
    assert (garden["caption"], garden["version"]) == ("In the garden, spring 2019", 2)

    # the family names someone else in it here; at the source the people change too
    url = f"/api/users/{SEED.TIFERET}/photos/{GARDEN_ID}"
    answer = await service.admin("PATCH", url, json={"people": ["Tiferet", "Sarah", "Noam"]})
    assert answer.status_code == 200, answer.text
    data["photos"][0]["manualTags"] = ["Tiferet"]
    folder = write_export(tmp_path / "again", data)
    kept, published = await run(service, DirSource(folder), blobs)
    tiferet = person(kept, SEED.TIFERET)
    assert tiferet.conflicts == [(f"photo:{GARDEN_ID}", "edited here since the last import", False)]
    assert tiferet.changes == [] and published.events == []
    [garden] = await photos_here(service, SEED.TIFERET)
    assert (garden["people"], garden["version"]) == (["Tiferet", "Sarah", "Noam"], 3)

    forced, _ = await run(service, DirSource(folder), blobs, overwrite=True)
    assert person(forced, SEED.TIFERET).changes == [(f"photo:{GARDEN_ID}", "overwritten")]
    [garden] = await photos_here(service, SEED.TIFERET)
    assert (garden["people"], garden["caption"]) == (["Tiferet"], "In the garden, spring 2019")

    # deleted here: not brought back while the source stays as it is
    assert (await service.admin("DELETE", url)).status_code == 204
    after, _ = await run(service, DirSource(folder), blobs)
    assert person(after, SEED.TIFERET).changes == [] and person(after, SEED.TIFERET).conflicts == []
    assert await photos_here(service, SEED.TIFERET) == []


async def test_photos_from_cosmos_db(
    tmp_path: Path, cosmos_endpoint: str, cosmos_db: str, blobs: Path
) -> None:
    app = create_app(make_settings(tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            api = Api(app, client)
            report, _ = await run(api, CosmosSource(cosmos_endpoint, KEY, cosmos_db), blobs)
            await check_photos(api, report)
            again, _ = await run(api, CosmosSource(cosmos_endpoint, KEY, cosmos_db), blobs)
            assert again.totals()["changes"] == 0 and again.totals()["conflicts"] == 0


def test_the_command_line_names_the_photos_left_behind(export_dir: Path, blobs: Path, tmp_path: Path) -> None:
    env = {"COMPANION_DATA_DIR": str(tmp_path / "data")}
    report = tmp_path / "report.json"
    args = ["import", "never-alone", "--from-dir", str(export_dir), "--photos-dir", str(blobs)]
    result = CliRunner().invoke(cli, [*args, "--report", str(report)], env=env)
    assert result.exit_code == 1, result.output  # the broken person, and the refused photo
    assert f"photo refused: {SEED.TIFERET} {SEED.WEDDING}" in result.output
    assert f"photo without a file: {SEED.MOSHE} {SEED.GRANDCHILDREN}" in result.output
    assert f"not found under {blobs}" in result.output
    body = json.loads(report.read_text())
    assert (body["totals"]["photosMissing"], body["totals"]["photosFailed"]) == (1, 1)
    assert body["changesByKind"]["photo"] == 1
    [moshe] = [p for p in body["people"] if p["userId"] == SEED.MOSHE]
    source = "photos/9d0e1f2a-0000-4000-8000-000000000003"
    assert moshe["photosMissing"] == [
        {"photo": GRANDCHILDREN_ID, "source": source, "file": SEED.GRANDCHILDREN}
    ]


def test_a_photo_path_never_leads_out_of_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "blobs"
    (folder / "u").mkdir(parents=True)
    (folder / "u" / "1-a.jpg").write_bytes(b"a")
    (tmp_path / "secret.jpg").write_bytes(b"s")
    (folder / "u" / "2-link.jpg").symlink_to(tmp_path / "secret.jpg")
    files = PhotoFolder(folder)
    found = files.find("u/1-a.jpg")
    assert found is not None and (found.name, found.size) == ("u/1-a.jpg", 1)
    for path in (
        "../secret.jpg",
        "u/../../secret.jpg",
        str(tmp_path / "secret.jpg"),
        "u/2-link.jpg",
        "u",
        "",
    ):
        assert files.find(path) is None, path
