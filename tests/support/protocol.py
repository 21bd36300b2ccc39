"""The bundled protocol file, and copies of it with one targeted edit."""

from __future__ import annotations

from pathlib import Path

from flows.loader import DEFAULT_PROTOCOL_PATH

DEFAULT_TEXT = DEFAULT_PROTOCOL_PATH.read_text(encoding="utf-8")


def write_variant(tmp_path: Path, old: str, new: str, *, count: int = 1) -> Path:
    """The default file with `old` replaced by `new` (old must occur exactly `count` times)."""
    assert DEFAULT_TEXT.count(old) == count, f"{old!r} occurs {DEFAULT_TEXT.count(old)} times"
    path = tmp_path / "protocol.toml"
    path.write_text(DEFAULT_TEXT.replace(old, new), encoding="utf-8")
    return path
