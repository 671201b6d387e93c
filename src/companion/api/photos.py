"""The family's photo library of one person: upload, list, edit, reorder, delete, and the image itself.

Care-team routes like the profile's (a device token is refused, another family's person is a 404).
An upload answers each file on its own, stored or refused, so one bad file among ten costs only itself.
Images are answered ``Cache-Control: private, no-store``: a photo deleted by the family must not live on
in a cache.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, File, Header, Path, Query, Response, UploadFile, status
from fastapi.responses import JSONResponse

from companion.api.deps import PrincipalDep, ServicesDep
from companion.api.errors import error_body
from companion.api.headers import NOSNIFF
from companion.api.users import UserId, care_team_only, etag, parse_if_match
from companion.errors import NotFound
from companion.photos.service import Incoming, Listed, PhotoService, Uploaded
from companion.services import Services

router = APIRouter(prefix="/api/users", tags=["photos"], dependencies=[Depends(care_team_only)])

PHOTO_ID_PATTERN = r"^photo-[0-9a-f]{16}$"
PhotoId = Annotated[str, Path(pattern=PHOTO_ID_PATTERN, description="e.g. photo-3f9c0a1b2c3d4e5f")]
IMAGE_HEADERS = {"Cache-Control": "private, no-store", **NOSNIFF}
_JPEG = {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}
_PHOTO = {
    "type": "object",
    "required": ["id", "caption", "people", "when", "where", "onlyWhenAsked", "position", "createdAt"],
    "properties": {
        "id": {"type": "string"},
        "caption": {"type": "string"},
        "people": {"type": "array", "items": {"type": "string"}},
        "when": {"type": "string"},
        "where": {"type": "string"},
        "onlyWhenAsked": {"type": "boolean"},
        "position": {"type": "integer"},
        "createdAt": {"type": "string"},
        "version": {"type": "integer"},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "storedBytes": {"type": "integer"},
    },
}


def photos_of(services: Services) -> PhotoService:
    if services.photos is None:  # pragma: no cover - the composition root always builds it
        raise NotFound("The photo library is not available")
    return services.photos


def photo_json(entry: Listed) -> dict[str, Any]:
    body: dict[str, Any] = entry.photo.model_dump(mode="json", by_alias=True)
    body["version"] = entry.version
    if entry.facts is not None:
        body.update(width=entry.facts.width, height=entry.facts.height, storedBytes=entry.facts.stored_bytes)
    return body


def _result(outcome: Uploaded) -> dict[str, Any]:
    if outcome.photo is not None:
        return {"file": outcome.name, "id": outcome.photo.id}
    error = outcome.error
    assert error is not None
    return {"file": outcome.name, "error": error_body(error.status, error.message, error.code, error.field)}


_RESULTS = {
    "type": "object",
    "required": ["photos"],
    "properties": {
        "photos": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string"},
                    "id": {"type": "string"},
                    "error": {"type": "object"},
                },
            },
        }
    },
}


@router.post(
    "/{user_id}/photos",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {
            "description": "Every file was stored: each one's photo id",
            "content": {"application/json": {"schema": _RESULTS}},
        },
        207: {
            "description": "Some files were stored: each file's photo id, or the error that refused it",
            "content": {"application/json": {"schema": _RESULTS}},
        },
    },
)
async def upload_photos(
    user_id: UserId,
    services: ServicesDep,
    principal: PrincipalDep,
    files: Annotated[list[UploadFile], File(description="One or more photos: JPEG, PNG, WebP or HEIC")],
) -> Response:
    """Store each photo upright, without its metadata, as a display copy and a thumbnail. 201 when
    every file was stored; when only some were, 207 with each file's outcome; when none was, the
    first refusal's status (413, 415, 409, 422) with every file's outcome."""
    await services.auth.require_user(principal, user_id)
    incoming = [Incoming(f.filename or "", f.size, f.read) for f in files]
    outcomes = await photos_of(services).upload(user_id, incoming)
    results = [_result(o) for o in outcomes]
    stored = sum(1 for o in outcomes if o.photo is not None)
    if stored == len(outcomes):
        return JSONResponse({"photos": results}, status_code=status.HTTP_201_CREATED)
    if stored:
        return JSONResponse({"photos": results}, status_code=status.HTTP_207_MULTI_STATUS)
    first = next(o.error for o in outcomes if o.error is not None)
    body = error_body(first.status, first.message, first.code, first.field, photos=results)
    return JSONResponse(body, status_code=first.status)


@router.get(
    "/{user_id}/photos", responses={200: {"description": "The person's photos, in the family's order"}}
)
async def list_photos(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    await services.auth.require_user(principal, user_id)
    library = photos_of(services)
    entries = await library.list(user_id)
    usage = await services.store.photo_usage(user_id)
    limits = library.limits
    return {
        "photos": [photo_json(entry) for entry in entries],
        "usage": {
            "count": usage.count,
            "storedBytes": usage.stored_bytes,
            "maxCount": limits.max_count,
            "quotaBytes": limits.quota_bytes,
        },
    }


@router.patch(
    "/{user_id}/photos/{photo_id}",
    responses={
        200: {"content": {"application/json": {"schema": _PHOTO}}, "description": "The photo as saved"}
    },
)
async def edit_photo(
    user_id: UserId,
    photo_id: PhotoId,
    response: Response,
    services: ServicesDep,
    principal: PrincipalDep,
    body: Annotated[Any, Body(description="caption, people, when, where, onlyWhenAsked, position")],
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Change what the family says about the photo; ``position`` moves it in the order (0: first)."""
    await services.auth.require_user(principal, user_id)
    version, _ = parse_if_match(if_match)
    entry = await photos_of(services).edit(user_id, photo_id, body, if_match=version)
    response.headers["ETag"] = etag(entry.version)
    return photo_json(entry)


@router.delete("/{user_id}/photos/{photo_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_photo(
    user_id: UserId, photo_id: PhotoId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """The photo and its bytes go at once; a tablet showing it can no longer fetch it."""
    await services.auth.require_user(principal, user_id)
    await photos_of(services).delete(user_id, photo_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{user_id}/photos/{photo_id}/image",
    response_class=Response,
    responses={200: {"content": _JPEG, "description": "The display copy (or the thumbnail), as JPEG"}},
)
async def photo_image(
    user_id: UserId,
    photo_id: PhotoId,
    services: ServicesDep,
    principal: PrincipalDep,
    size: Annotated[Literal["display", "thumb"], Query(description="thumb: the small copy")] = "display",
) -> Response:
    await services.auth.require_user(principal, user_id)
    data, media_type = await photos_of(services).image(user_id, photo_id, size)
    return Response(data, media_type=media_type, headers=IMAGE_HEADERS)
