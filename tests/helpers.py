"""Small builders shared by the tests (no mocks: real files, real values)."""
from __future__ import annotations

import struct
import time
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


def video(path: Path, alt: str = "", captions: Path | None = None) -> Media:
    return Media(path=path, rel=f"media/{path.name}", alt=alt, kind="video", mime="video/mp4",
                 size=path.stat().st_size, captions=captions)


def make_variant(channel, texts: list[str], media: tuple[Media, ...] = (), item_id: str = "test-item",
                 title: str = "Test title", link: str | None = None) -> Variant:
    parts = tuple(Part(t, channel.count(t)) for t in texts)
    return Variant(item_id=item_id, channel=channel.name, network=channel.network, parts=parts,
                   limit=channel.max_length, media=media, title=title, link=link, source="content/test.md")


# ----- a throw-away project for feature tests --------------------------------------
ALL_NETWORK_CHANNELS = """
[channels.log]
network = "log"
[channels.x]
network = "x"
[channels.facebook]
network = "facebook"
page_id = "1234567890"
[channels.instagram]
network = "instagram"
ig_user_id = "17841400000000000"
media_base_url = "https://www.example.gov.uk/social-media"
[channels.threads]
network = "threads"
threads_user_id = "1234567890"
media_base_url = "https://www.example.gov.uk/social-media"
[channels.youtube]
network = "youtube"
channel_id = "UCexample"
[channels.mastodon]
network = "mastodon"
instance = "https://mastodon.example"
[channels.bluesky]
network = "bluesky"
handle = "council.example"
[channels.linkedin]
network = "linkedin"
organization = "urn:li:organization:123"
"""


class Project:
    """Writes real files; tests then run real commands against them."""

    def __init__(self, root: Path, templates: Path):
        import shutil

        self.root = root
        self.content = root / "content"
        (self.content / "media").mkdir(parents=True)
        shutil.copytree(templates, root / "templates")
        self.config_path = root / "config.toml"
        self.write_config()

    def write_config(self, extra: str = "", channels: str = '[channels.log]\nnetwork = "log"\n',
                     default_channels: str = '["log"]', timezone: str = "Europe/London") -> Path:
        self.config_path.write_text(
            f'timezone = "{timezone}"\ndefault_channels = {default_channels}\n{extra}\n{channels}', encoding="utf-8")
        return self.config_path

    def config(self):
        from schedule.config import load_config
        return load_config(self.config_path)

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.content / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def post(self, rel: str, front: str, body: str = "Bins go out on Tuesday this week.") -> Path:
        return self.write(rel, f"---\n{front.strip()}\n---\n{body}\n")

    def image(self, name: str = "pool.png") -> Path:
        return tiny_png(self.content / "media" / name)


def poll(check, seconds: float = 20.0, every: float = 0.2):
    """``check()`` again and again until it gives something true or ``seconds`` pass; its
    last answer (for tests that wait on a daemon or a server)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    return check()


def wait_until(check, timeout: float, what: str, log: str = ""):
    """``poll``, failing the test with what was awaited (and ``log``) if it never came."""
    found = poll(check, timeout)
    if not found:
        raise AssertionError(f"timed out waiting for {what}" + (f"\n{log}" if log else ""))
    return found

