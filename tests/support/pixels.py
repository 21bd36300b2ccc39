"""Reading a PNG the bot sent: how many pixels are exactly one colour (a chart's cells)."""

from __future__ import annotations

from io import BytesIO

from PIL import Image


def pixels_of(png: bytes, hex_color: str) -> int:
    """How many pixels of the image are exactly `hex_color` ("#rrggbb")."""
    rgb = tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    image = Image.open(BytesIO(png)).convert("RGB")
    colors = image.getcolors(image.width * image.height) or []
    return sum(count for count, color in colors if color == rgb)
