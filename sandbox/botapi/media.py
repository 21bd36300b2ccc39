"""Image sniffing and the photo sizes Telegram returns.

Telegram decodes every uploaded photo; bytes that are not an image (an HTML error
page saved as ``qr.png``, an empty buffer) come back as ``IMAGE_PROCESS_FAILED``.
The fake reads the PNG/JPEG header for the real dimensions, so the ``PhotoSize``
list it returns looks like Telegram's (several sizes, never upscaled).
"""

from __future__ import annotations

import struct
import zlib

from sandbox.botapi import errors
from sandbox.botapi.errors import ApiError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_SIZE_STEPS = (90, 320, 800, 1280, 2560)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def image_size(data: bytes) -> tuple[str, int, int]:
    """(mime type, width, height) of a PNG or JPEG; ApiError IMAGE_PROCESS_FAILED otherwise."""
    if data.startswith(PNG_MAGIC) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        mime = "image/png"
    elif data.startswith(JPEG_MAGIC):
        size = _jpeg_size(data)
        if size is None:
            raise ApiError(400, errors.IMAGE_PROCESS_FAILED)
        width, height = size
        mime = "image/jpeg"
    else:
        raise ApiError(400, errors.IMAGE_PROCESS_FAILED)
    if width <= 0 or height <= 0:
        raise ApiError(400, errors.IMAGE_PROCESS_FAILED)
    if width + height > 10000 or max(width, height) > 20 * min(width, height):
        raise ApiError(400, errors.PHOTO_INVALID_DIMENSIONS)
    return mime, width, height


def photo_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """The (width, height) variants Telegram would keep, smallest first."""
    longest = max(width, height)
    sizes: list[tuple[int, int]] = []
    for step in _SIZE_STEPS:
        if step >= longest:
            break
        scale = step / longest
        sizes.append((max(1, round(width * scale)), max(1, round(height * scale))))
    if longest > _SIZE_STEPS[-1]:
        scale = _SIZE_STEPS[-1] / longest
        sizes.append((max(1, round(width * scale)), max(1, round(height * scale))))
    else:
        sizes.append((width, height))
    return sizes


def tiny_png(width: int = 4, height: int = 4) -> bytes:
    """A valid grey PNG, used when a simulated user sends a photo."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        PNG_MAGIC
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )
