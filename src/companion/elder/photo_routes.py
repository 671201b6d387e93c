"""The family's photos as the elder's tablet fetches them: ``GET /app/photos/{photoId}``.

Only with the paired device's cookie, only that person's photos, only while the family still has them
(each request asks the store: a photo deleted a moment ago is a 404 at once). The answer may not be
kept by any cache (``private, no-store``) and carries the page's Content-Security-Policy. ``HEAD`` lets
the page check, while a photo is on the screen, that the family has not deleted it meanwhile.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from companion.api.deps import ServicesDep
from companion.api.device_auth import DeviceIdentity, require_device
from companion.api.headers import NOSNIFF
from companion.api.paths import PHOTOS
from companion.api.photos import PHOTO_ID_PATTERN, photos_of
from companion.elder.page import content_security_policy

router = APIRouter(prefix=PHOTOS, tags=["elder"])
Device = Annotated[DeviceIdentity, Depends(require_device)]
PhotoId = Annotated[str, Path(pattern=PHOTO_ID_PATTERN)]
IMAGE_CACHE = "private, no-store"  # a deleted photo must not outlive its deletion in any cache
_JPEG = {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}


def _headers(request: Request) -> dict[str, str]:
    return {
        "Cache-Control": IMAGE_CACHE,
        "Content-Security-Policy": content_security_policy(request.headers.get("host")),
        **NOSNIFF,
    }


@router.get(
    "/{photo_id}",
    response_class=Response,
    responses={200: {"content": _JPEG, "description": "The photo's display copy (JPEG, no metadata)"}},
)
async def photo_file(photo_id: PhotoId, request: Request, services: ServicesDep, device: Device) -> Response:
    data, media_type = await photos_of(services).image(device.user_id, photo_id)
    return Response(data, media_type=media_type, headers=_headers(request))


@router.head("/{photo_id}", include_in_schema=False)
async def photo_still_there(
    photo_id: PhotoId, request: Request, services: ServicesDep, device: Device
) -> Response:
    """200 while the person's family still has the photo, else 404 (the page then takes it away)."""
    data, media_type = await photos_of(services).image(device.user_id, photo_id)
    headers = {**_headers(request), "Content-Length": str(len(data))}
    return Response(media_type=media_type, headers=headers)
