"""The photo library over the API, on SQLite and PostgreSQL: every accepted format stored upright and
without metadata (read back from the stored bytes), the limits (size, type, decompression bomb, quota)
refused before any work with a clear answer, edits and order, deletion, erasure and export."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from companion.photos.imaging import DISPLAY_PX, THUMB_PX
from tests.photos.conftest import OTHER, PERSON, PhotoApi
from tests.photos.images import (
    FORMATS,
    MEDIA,
    ROTATE_CW,
    bluish,
    bomb,
    colour_at,
    gif,
    has_metadata,
    photo,
    reddish,
)

BASE = f"/api/users/{PERSON}/photos"


async def stored_bytes(api: PhotoApi, photo_id: str, variant: str = "display") -> bytes:
    """The bytes as the store holds them (not as a route serves them)."""
    found = await api.services.store.photo_bytes(PERSON, photo_id, variant)  # type: ignore[arg-type]
    assert found is not None
    return found[0]


@pytest.mark.parametrize("kind", sorted(FORMATS))
async def test_each_format_is_stored_upright_and_without_metadata(photo_api: Any, kind: str) -> None:
    api: PhotoApi = await photo_api(photo_keep_originals=True)
    original = photo(kind, orientation=ROTATE_CW)
    assert "camera name" in has_metadata(original)  # the upload does carry it
    r = await api.upload((f"grandson.{kind}", original, MEDIA[kind]))
    assert r.status_code == 201, r.text
    [result] = r.json()["photos"]
    photo_id = result["id"]
    for variant in ("display", "thumb", "original"):
        data = await stored_bytes(api, photo_id, variant)
        assert data[:2] == b"\xff\xd8", variant  # JPEG
        assert has_metadata(data) == [], variant  # no EXIF (GPS, camera), no ICC, no XMP, no comment
        image = Image.open(io.BytesIO(data))
        assert image.height > image.width, variant  # 400 x 200 turned by its orientation: 200 x 400
        assert reddish(colour_at(data, 0.5, 0.1)) and bluish(colour_at(data, 0.5, 0.9)), variant
    served = await api.as_carol("GET", f"{BASE}/{photo_id}/image")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"] == "private, no-store"
    assert served.content == await stored_bytes(api, photo_id)


async def test_display_copy_and_thumbnail_sizes_and_no_original_by_default(photo_api: Any) -> None:
    api: PhotoApi = await photo_api()
    r = await api.upload(("big.jpg", photo("jpeg", size=(3000, 2000)), "image/jpeg"))
    assert r.status_code == 201, r.text
    photo_id = r.json()["photos"][0]["id"]
    display = Image.open(io.BytesIO(await stored_bytes(api, photo_id)))
    thumb = Image.open(io.BytesIO(await stored_bytes(api, photo_id, "thumb")))
    assert display.width == DISPLAY_PX and abs(display.height - DISPLAY_PX * 2 / 3) < 1
    assert max(thumb.size) == THUMB_PX
    assert await api.services.store.photo_bytes(PERSON, photo_id, "original") is None
    small = await api.as_carol("GET", f"{BASE}/{photo_id}/image", params={"size": "thumb"})
    assert Image.open(io.BytesIO(small.content)).size == thumb.size


async def test_wrong_type_bomb_and_size_are_refused_with_their_reason(photo_api: Any) -> None:
    api: PhotoApi = await photo_api(photo_max_file_bytes=64 * 1024)
    big = photo("png", size=(1200, 1200)) + bytes(70 * 1024)  # a valid PNG, padded past the limit
    half = photo("jpeg", size=(600, 400))  # cut in half: its header reads, its pixels do not
    cases = {
        "old.gif": (gif(), "image/gif", 415, "unsupported_type"),
        "notes.txt": (b"not a photo at all", "text/plain", 415, "unsupported_type"),
        "fake.jpg": (b"\xff\xd8\xff\xe0" + bytes(100), "image/jpeg", 415, "unsupported_type"),
        "cut.jpg": (half[: len(half) // 2], "image/jpeg", 422, "invalid_input"),
        "bomb.png": (bomb(), "image/png", 413, "too_large"),
        "big.png": (big, "image/png", 413, "too_large"),
    }
    for name, (data, media, status, code) in cases.items():
        r = await api.upload((name, data, media))
        assert r.status_code == status, (name, r.text)
        body = r.json()
        assert body["error"] == code and body["field"] == "files", (name, body)
        assert body["photos"][0]["file"] == name
    assert (await api.services.store.photo_usage(PERSON)).count == 0  # nothing stored


async def test_several_at_once_answer_each_file(photo_api: Any) -> None:
    api: PhotoApi = await photo_api()
    r = await api.upload(
        ("a.jpg", photo("jpeg"), "image/jpeg"),
        ("b.gif", gif(), "image/gif"),
        ("c.webp", photo("webp"), "image/webp"),
    )
    assert r.status_code == 207, r.text
    results = r.json()["photos"]
    assert [x["file"] for x in results] == ["a.jpg", "b.gif", "c.webp"]
    assert "id" in results[0] and "id" in results[2]
    assert results[1]["error"]["statusCode"] == 415
    listed = (await api.as_carol("GET", BASE)).json()
    assert [p["id"] for p in listed["photos"]] == [results[0]["id"], results[2]["id"]]
    assert listed["usage"]["count"] == 2


async def test_quota_of_photos(photo_api: Any) -> None:
    api: PhotoApi = await photo_api(photo_max_count=2)
    r = await api.upload(*[(f"{i}.jpg", photo("jpeg"), "image/jpeg") for i in range(3)])
    assert r.status_code == 207
    assert [("id" in x) for x in r.json()["photos"]] == [True, True, False]
    assert r.json()["photos"][2]["error"]["error"] == "quota_exceeded"
    again = await api.upload(("3.jpg", photo("jpeg"), "image/jpeg"))
    assert again.status_code == 409 and "300" not in again.json()["message"]
    assert "2" in again.json()["message"]


async def test_quota_of_bytes(photo_api: Any) -> None:
    tight: PhotoApi = await photo_api(photo_quota_bytes=10_000)  # one such photo takes ~6.7 KB
    first = await tight.upload(("a.jpg", photo("jpeg", size=(800, 600)), "image/jpeg"))
    assert first.status_code == 201  # the first fits (the library is empty)...
    usage = await tight.services.store.photo_usage(PERSON)
    second = await tight.upload(("b.jpg", photo("jpeg", size=(800, 600)), "image/jpeg"))
    assert second.status_code == 409, second.text  # ... the second would pass the quota
    assert (await tight.services.store.photo_usage(PERSON)) == usage


async def test_edit_reorder_and_delete(photo_api: Any) -> None:
    api: PhotoApi = await photo_api()
    r = await api.upload(*[(f"{i}.jpg", photo("jpeg"), "image/jpeg") for i in range(3)])
    a, b, c = (x["id"] for x in r.json()["photos"])
    edit = {
        "caption": "נועם ביום הראשון בבית הספר",
        "people": ["נועם", "Dana"],
        "when": "2019",
        "where": "Haifa",
        "onlyWhenAsked": True,
    }
    r = await api.as_carol("PATCH", f"{BASE}/{b}", json=edit)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in edit} == edit
    version = r.json()["version"]
    assert r.headers["etag"] == f'"{version}"'
    stale = await api.as_carol("PATCH", f"{BASE}/{b}", json={"caption": "x"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    bad = await api.as_carol("PATCH", f"{BASE}/{b}", json={"people": "Noam"})
    assert bad.status_code == 422 and bad.json()["field"] == "people"
    unknown = await api.as_carol("PATCH", f"{BASE}/{b}", json={"gps": "32,34"})
    assert unknown.status_code == 422
    moved = await api.as_carol("PATCH", f"{BASE}/{c}", json={"position": 0})
    assert moved.status_code == 200
    order = [p["id"] for p in (await api.as_carol("GET", BASE)).json()["photos"]]
    assert order == [c, a, b]
    gone = await api.as_carol("DELETE", f"{BASE}/{a}")
    assert gone.status_code == 204
    assert await api.services.store.photo_bytes(PERSON, a, "display") is None
    assert (await api.as_carol("GET", f"{BASE}/{a}/image")).status_code == 404
    assert (await api.as_carol("DELETE", f"{BASE}/{a}")).status_code == 404
    assert [p["id"] for p in (await api.as_carol("GET", BASE)).json()["photos"]] == [c, b]


async def test_only_the_care_team_of_the_person(photo_api: Any) -> None:
    api: PhotoApi = await photo_api()
    r = await api.upload(("a.jpg", photo("jpeg"), "image/jpeg"))
    photo_id = r.json()["photos"][0]["id"]
    oscar = {"Authorization": f"Bearer {api.oscar}"}
    for method, url in (("GET", BASE), ("GET", f"{BASE}/{photo_id}/image"), ("DELETE", f"{BASE}/{photo_id}")):
        assert (await api.client.request(method, url, headers=oscar)).status_code == 404, url
    token = await api.admin("POST", "/api/tokens", json={"role": "device", "userId": PERSON})
    device = {"Authorization": f"Bearer {token.json()['token']}"}
    assert (await api.client.get(f"{BASE}/{photo_id}/image", headers=device)).status_code == 403
    # another person's photo id under this person's path is not found either
    other = await api.client.post(
        f"/api/users/{OTHER}/photos",
        headers=oscar,
        files=[("files", ("o.jpg", photo("jpeg"), "image/jpeg"))],
    )
    other_id = other.json()["photos"][0]["id"]
    assert (await api.as_carol("GET", f"{BASE}/{other_id}/image")).status_code == 404
    assert (await api.admin("GET", f"{BASE}/{other_id}/image")).status_code == 404


async def test_erasure_removes_photos_in_the_same_transaction(photo_api: Any) -> None:
    api: PhotoApi = await photo_api()
    r = await api.upload(("a.jpg", photo("jpeg"), "image/jpeg"), ("b.png", photo("png"), "image/png"))
    ids = [x["id"] for x in r.json()["photos"]]
    other = await api.client.post(
        f"/api/users/{OTHER}/photos",
        headers={"Authorization": f"Bearer {api.oscar}"},
        files=[("files", ("o.jpg", photo("jpeg"), "image/jpeg"))],
    )
    assert other.status_code == 201
    counts = await api.services.store.erase_user(PERSON, actor="test")
    assert counts.photos == 2
    for photo_id in ids:
        assert await api.services.store.photo_bytes(PERSON, photo_id, "display") is None
    assert await api.services.store.list(PERSON, "photo") == []
    assert (await api.services.store.photo_usage(OTHER)).count == 1  # someone else's stay


async def test_export_lists_metadata_and_sizes_without_bytes(photo_api: Any) -> None:
    api: PhotoApi = await photo_api()
    r = await api.upload(("a.jpg", photo("jpeg"), "image/jpeg"))
    photo_id = r.json()["photos"][0]["id"]
    await api.as_carol("PATCH", f"{BASE}/{photo_id}", json={"caption": "At the sea", "people": ["Noam"]})
    assert api.services.photos is not None
    exported = await api.services.photos.export(PERSON)
    assert len(exported) == 1
    item = exported[0]
    assert item["id"] == photo_id and item["caption"] == "At the sea" and item["people"] == ["Noam"]
    assert item["storedBytes"] > 0 and item["mediaType"] == "image/jpeg" and item["shownCount"] == 0
    assert not any(isinstance(value, bytes) for value in item.values())
    assert await api.services.photos.export(OTHER) == []
    document = await api.as_carol("GET", f"/api/users/{PERSON}/export")  # the family's whole export
    assert document.status_code == 200, document.text
    assert document.json()["photos"] == [item]
    assert "photos" not in document.json()["records"]  # the pixels are never inlined as raw rows
