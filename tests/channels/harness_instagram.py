"""Harness: the Instagram channel (pyfacebook) against tests/servers/graph.py.

Instagram posts need a picture, so every post the contract suite makes gets one."""
from __future__ import annotations

from schedule.channels.instagram import InstagramChannel
from tests.channels.graph_harness import GraphHarness
from tests.helpers import image, tiny_png


class Harness(GraphHarness):
    network = "instagram"
    channel_class = InstagramChannel

    def __init__(self, tmp_path, monkeypatch):
        super().__init__(tmp_path, monkeypatch)
        picture = image(tiny_png(tmp_path / "auto.png"), alt="The council offices in the sun")
        publish = self.channel.publish

        def with_picture(variant, key, done=(), on_part=None, **more):
            if not variant.media:
                variant.media = (picture,)
            return publish(variant, key, done=done, on_part=on_part, **more)

        self.channel.publish = with_picture      # only the test's input changes; the channel is real

    def posted_text(self, receipt) -> str:
        return self.obj(receipt)["caption"]

    def media_count(self, receipt) -> int:
        container = self.container(receipt)
        return len(container["children"].split(",")) if container.get("children") else 1

    def alt_texts(self, receipt) -> list[str]:
        return [self.container(receipt)["alt_text"]]

    def reply_parent(self, receipt) -> str | None:
        return None

    def count_posts_with(self, text: str) -> int:
        return sum(1 for o in self.server.objects.values() if o["kind"] == "ig_media" and o["caption"] == text)
