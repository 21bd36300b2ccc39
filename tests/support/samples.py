"""docs/samples/ from a real run: `WRITE_SAMPLES=1 pytest <the test>` writes what a person
read (a message's text and its buttons, or a photo's caption) for the docs."""

from __future__ import annotations

import os
from pathlib import Path

from tests.fakebot import SentMessage

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def write_sample(name: str, message: SentMessage) -> None:
    if not os.environ.get("WRITE_SAMPLES"):
        return
    text = message.text or message.caption or ""
    buttons = message.buttons()
    (SAMPLES / name).write_text(text + (f"\n{buttons}" if buttons else "") + "\n", encoding="utf-8")


def write_sample_png(name: str, png: bytes) -> None:
    """A picture a person saw (the card's chart), as sent."""
    if os.environ.get("WRITE_SAMPLES"):
        (SAMPLES / name).write_bytes(png)
