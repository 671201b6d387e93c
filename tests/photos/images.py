"""Photos made in the test with Pillow: every accepted format, with EXIF (a GPS position, a camera, an
orientation) to prove what the service strips and applies, and files it must refuse."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Final

from PIL import Image
from pillow_heif import register_heif_opener

register_heif_opener()

GPS_IFD: Final = 0x8825
ORIENTATION: Final = 0x0112
MAKE: Final = 0x010F
CAMERA: Final = "TestCam Secret-Model"  # a string that must not survive in any stored copy
# Orientation 6: the camera was turned; the stored pixels must be rotated 90° clockwise to stand up.
ROTATE_CW: Final = 6
FORMATS: Final = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heic": "HEIF"}
MEDIA: Final = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heic"}


def exif(orientation: int = 1) -> Image.Exif:
    data = Image.Exif()
    data[ORIENTATION] = orientation
    data[MAKE] = CAMERA
    data[GPS_IFD] = {1: "N", 2: (32.0, 49.0, 10.0), 3: "E", 4: (34.0, 59.0, 20.0)}  # Haifa
    return data


def two_tone(width: int = 400, height: int = 200) -> Image.Image:
    """Red on the left half, blue on the right: after turning, where red is tells which way it turned."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))
    return image


def photo(kind: str, *, orientation: int = 1, size: tuple[int, int] = (400, 200)) -> bytes:
    image = two_tone(*size)
    if kind == "png":
        image = image.convert("RGBA")
    out = io.BytesIO()
    image.save(out, format=FORMATS[kind], exif=exif(orientation).tobytes())
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    two_tone(40, 20).save(out, format="GIF")
    return out.getvalue()


def bomb(side: int = 12_000) -> bytes:
    """A valid PNG of ``side`` x ``side`` black pixels (1 bit each) in a few KB: decoded, it would be
    ``side``² bytes of memory. A real decompression bomb, made by hand (Pillow would need the memory)."""
    row = b"\x00" + bytes((side + 7) // 8)
    raw = zlib.compress(row * side, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def has_metadata(data: bytes) -> list[str]:
    """What of the original's metadata ``data`` still carries (empty: nothing)."""
    found = []
    image = Image.open(io.BytesIO(data))
    if image.getexif():
        found.append("exif")
    for key in ("exif", "icc_profile", "xmp", "comment"):
        if key in image.info:
            found.append(key)
    if b"Exif\x00\x00" in data:
        found.append("Exif segment")
    if CAMERA.encode() in data:
        found.append("camera name")
    return found


def colour_at(data: bytes, x: float, y: float) -> tuple[int, int, int]:
    """The colour at a fraction of the width and height."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    pixel = image.getpixel((int(x * (image.width - 1)), int(y * (image.height - 1))))
    assert isinstance(pixel, tuple)
    return pixel[0], pixel[1], pixel[2]


def reddish(rgb: tuple[int, int, int]) -> bool:
    return rgb[0] > 200 and rgb[2] < 60


def bluish(rgb: tuple[int, int, int]) -> bool:
    return rgb[2] > 200 and rgb[0] < 60
