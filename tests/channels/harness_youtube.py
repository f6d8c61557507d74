"""Harness: the YouTube channel (google-api-python-client) against tests/servers/youtube.py.

YouTube posts are videos, so every post the contract suite makes gets a small video."""
from __future__ import annotations

from schedule.channels.youtube import YouTubeChannel
from schedule.config import ChannelConfig
from tests.helpers import tiny_mp4, video
from tests.servers.youtube import CLIENT, Server


class Harness:
    network = "youtube"
    has_urls = True

    def __init__(self, tmp_path, monkeypatch):
        self.server = Server().start()
        for field, value in CLIENT.items():
            monkeypatch.setenv(f"CIVICPOST_COUNCIL_YOUTUBE_{field.upper()}", value)
        self.secrets = list(CLIENT.values())
        self.channel = YouTubeChannel(ChannelConfig(name="council_youtube", network="youtube",
                                                    api_base=self.server.url, settings={"chunk_bytes": 262144}))
        clip = video(tiny_mp4(tmp_path / "clip.mp4"))
        publish = self.channel.publish

        def with_video(variant, key, done=(), on_part=None):
            if not any(m.kind == "video" for m in variant.media):
                variant.media = (clip, *variant.media)
            return publish(variant, key, done=done, on_part=on_part)

        self.channel.publish = with_video        # only the test's input changes; the channel is real

    def close(self) -> None:
        self.server.stop()

    def posted_text(self, receipt) -> str:
        return self.server.videos[receipt.remote_id]["snippet"]["description"]

    def media_count(self, receipt) -> int:
        return 1 if receipt.remote_id in self.server.thumbnails else 0

    def alt_texts(self, receipt) -> list[str]:
        return []

    def reply_parent(self, receipt) -> str | None:
        return None

    def count_posts_with(self, text: str) -> int:
        return sum(1 for v in self.server.videos.values() if v["snippet"]["description"] == text)

    def supports_fault(self, kind: str) -> bool:
        return kind != "duplicate"              # YouTube accepts the same video twice

    def fail_nth_post(self, n: int, kind: str) -> None:
        # httplib2 quietly retries a dropped connection once (safe: no video exists until the
        # last chunk), so a drop that should reach the channel happens twice.
        times = 2 if kind == "drop" else 1
        self.server.inject(kind, match=r"^POST /upload/youtube/v3/videos$", after=n - 1, times=times)

    def inject_on_create(self, kind: str, delay: float = 0.0) -> None:
        # The resumable upload's last chunk makes the video (one chunk here).
        self.server.inject(kind, match=r"^PUT /upload/youtube/v3/videos$", delay=delay)

    def slow_next_post(self, seconds: float) -> None:
        self.server.inject("slow", delay=seconds, match=r"^POST /upload/youtube/v3/videos$")
