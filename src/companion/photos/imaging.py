"""One uploaded file -> the copies the service keeps, or a clear refusal. Pure (bytes in, bytes out).

The file is identified by its content, never by its name or declared type, and only JPEG, PNG, WebP
and HEIC/HEIF decoders are tried, so nothing else Pillow could open (a TIFF, a PSD, an SVG) gets in.
Its pixel count is read from the header and checked before anything is decoded: a small file that
decompresses to gigabytes (a decompression bomb) is refused without being decoded. The image is then
turned upright by its EXIF orientation and re-encoded from its pixels alone, so no EXIF (GPS position,
camera, time), XMP, ICC profile or comment survives; colours in another profile (an iPhone's Display
P3) are converted to sRGB first, so they still look right without it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from companion.errors import InvalidInput, TooLarge, UnsupportedType

register_heif_opener()  # HEIC/HEIF (iPhones) through Pillow's own interface

ACCEPTED_FORMATS: Final = ("JPEG", "PNG", "WEBP", "HEIF")
ACCEPTED_WORDS: Final = "JPEG, PNG, WebP or HEIC"
DISPLAY_PX: Final = 1600  # the longest side of the copy the tablet shows: sharp on a 10" tablet
THUMB_PX: Final = 320  # the dashboard's list
DISPLAY_QUALITY: Final = 85  # JPEG quality of the display copy: no visible loss at tablet size
THUMB_QUALITY: Final = 80
ORIGINAL_QUALITY: Final = 95  # a kept original, re-encoded without its metadata
MEDIA_TYPE: Final = "image/jpeg"  # every copy: one format every browser shows, small for photographs
BACKGROUND: Final = (255, 255, 255)  # what a transparent PNG or WebP is laid on


@dataclass(frozen=True, slots=True)
class Encoded:
    """The copies of one photo, every one without metadata."""

    width: int  # of the display copy
    height: int
    display: bytes
    thumb: bytes
    original: bytes | None
    source_format: str  # what the upload was (JPEG, PNG, WEBP, HEIF): for the answer, never stored

    def __repr__(self) -> str:
        return f"Encoded({self.source_format}, {self.width}x{self.height})"


def encode(data: bytes, *, max_pixels: int, keep_original: bool = False) -> Encoded:
    """Decode ``data`` and make its copies; UnsupportedType, TooLarge or InvalidInput otherwise."""
    with _opened(data) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise TooLarge(
                f"The image is {width} x {height} pixels; at most {max_pixels // 1_000_000} million pixels "
                "are accepted",
                field="files",
            )
        source_format = str(image.format)
        try:
            image.seek(0)  # an animated WebP or PNG: its first frame
            upright = ImageOps.exif_transpose(image)
            rgb = _as_srgb(upright)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise InvalidInput("The image could not be read; it may be damaged", field="files") from exc
    original = _jpeg(rgb, ORIGINAL_QUALITY) if keep_original else None
    display = _fitted(rgb, DISPLAY_PX)
    thumb = _fitted(display, THUMB_PX)
    return Encoded(
        width=display.width,
        height=display.height,
        display=_jpeg(display, DISPLAY_QUALITY),
        thumb=_jpeg(thumb, THUMB_QUALITY),
        original=original,
        source_format=source_format,
    )


def _opened(data: bytes) -> Image.Image:
    """The image, opened (its header read, nothing decoded) by one of the accepted decoders only."""
    with warnings.catch_warnings():
        # Pillow's own bomb warning: our pixel limit (checked next) is the stricter one.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except Image.DecompressionBombError as exc:
            raise TooLarge("The image has too many pixels to be accepted", field="files") from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise UnsupportedType(
                f"This file is not a photo the service accepts: send {ACCEPTED_WORDS}", field="files"
            ) from exc


def _as_srgb(image: Image.Image) -> Image.Image:
    """RGB pixels in sRGB, transparency laid on white; a fresh image, carrying none of ``image.info``."""
    icc = image.info.get("icc_profile")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        rgb = flat
    else:
        rgb = image.convert("RGB")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                rgb, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
            if converted is not None:
                rgb = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: the pixels as they are
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    return clean


def _fitted(image: Image.Image, longest: int) -> Image.Image:
    """A copy whose longest side is at most ``longest`` (never enlarged)."""
    copy = image.copy()
    copy.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    copy.info.clear()
    return copy


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()
