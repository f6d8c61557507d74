"""Small builders shared by the tests (no mocks: real files, real values)."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

from schedule.model import Media, Part, Variant


def tiny_png(path: Path, width: int = 2, height: int = 2) -> Path:
    """Write a real, valid PNG (red pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


def tiny_mp4(path: Path) -> Path:
    """A few bytes with an MP4 'ftyp' box: enough for upload round trips, not for playback."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00isomiso2" + b"\x00" * 64)
    return path


def image(path: Path, alt: str = "A red square, the council's test image") -> Media:
    return Media(path=path, rel=f"media/{path.name}", alt=alt, kind="image", mime="image/png",
                 size=path.stat().st_size)


def video(path: Path, alt: str = "") -> Media:
    return Media(path=path, rel=f"media/{path.name}", alt=alt, kind="video", mime="video/mp4",
                 size=path.stat().st_size)


def make_variant(channel, texts: list[str], media: tuple[Media, ...] = (), item_id: str = "test-item",
                 title: str = "Test title", link: str | None = None) -> Variant:
    parts = tuple(Part(t, channel.count(t)) for t in texts)
    return Variant(item_id=item_id, channel=channel.name, network=channel.network, parts=parts,
                   limit=channel.max_length, media=media, title=title, link=link, source="content/test.md")
