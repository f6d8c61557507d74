"""Harness: the Facebook Page channel (pyfacebook) against tests/servers/graph.py."""
from __future__ import annotations

from schedule.channels.facebook import FacebookChannel
from tests.channels.graph_harness import GraphHarness


class Harness(GraphHarness):
    network = "facebook"
    channel_class = FacebookChannel

    def posted_text(self, receipt) -> str:
        obj = self.obj(receipt)
        return obj.get("message") if obj["kind"] == "post" else obj.get("description")

    def media_count(self, receipt) -> int:
        return len(self.obj(receipt).get("photos", []))

    def alt_texts(self, receipt) -> list[str]:
        obj = self.obj(receipt)
        photos = obj.get("photos", []) if obj["kind"] == "post" else [receipt.remote_id]
        return [self.server.objects[p]["alt_text_custom"] for p in photos]

    def reply_parent(self, receipt) -> str | None:
        return None

    def count_posts_with(self, text: str) -> int:
        return sum(1 for o in self.server.objects.values() if o["kind"] == "post" and o["message"] == text)
