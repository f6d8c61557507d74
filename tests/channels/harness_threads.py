"""Harness: the Threads channel (pyfacebook ThreadsGraphAPI) against tests/servers/graph.py."""
from __future__ import annotations

from schedule.channels.threads import ThreadsChannel
from tests.channels.graph_harness import GraphHarness


class Harness(GraphHarness):
    network = "threads"
    channel_class = ThreadsChannel

    def posted_text(self, receipt) -> str:
        return self.obj(receipt)["text"]

    def media_count(self, receipt) -> int:
        return 0 if self.container(receipt)["media_type"] == "TEXT" else 1

    def alt_texts(self, receipt) -> list[str]:
        return [self.container(receipt)["alt_text"]]

    def reply_parent(self, receipt) -> str | None:
        return self.obj(receipt)["reply_to_id"]

    def count_posts_with(self, text: str) -> int:
        return sum(1 for o in self.server.objects.values() if o["kind"] == "thread" and o["text"] == text)
