"""Harness: the Mastodon channel (Mastodon.py) against tests/servers/mastodon.py."""
from __future__ import annotations

from schedule.channels.mastodon import MastodonChannel, html_to_text
from schedule.config import ChannelConfig
from tests.servers.mastodon import TOKEN, Server


class Harness:
    network = "mastodon"
    has_urls = True

    def __init__(self, tmp_path, monkeypatch):
        self.server = Server().start()
        monkeypatch.setenv("CIVICPOST_COUNCIL_MASTODON_ACCESS_TOKEN", TOKEN)
        self.secrets = [TOKEN]
        self.channel = MastodonChannel(ChannelConfig(name="council_mastodon", network="mastodon",
                                                     api_base=self.server.url,
                                                     settings={"instance": "https://mastodon.example"}))

    def close(self) -> None:
        self.server.stop()

    def _status(self, receipt) -> dict:
        return self.server.statuses[receipt.remote_id]

    def posted_text(self, receipt) -> str:
        return html_to_text(self._status(receipt)["content"])

    def media_count(self, receipt) -> int:
        return len(self._status(receipt)["media_attachments"])

    def alt_texts(self, receipt) -> list[str]:
        return [m["description"] for m in self._status(receipt)["media_attachments"]]

    def reply_parent(self, receipt) -> str | None:
        return self._status(receipt)["in_reply_to_id"]

    def count_posts_with(self, text: str) -> int:
        return sum(1 for s in self.server.statuses.values() if html_to_text(s["content"]) == text)

    def supports_fault(self, kind: str) -> bool:
        return True

    def fail_nth_post(self, n: int, kind: str) -> None:
        self.server.inject(kind, match=r"^POST /api/v1/statuses$", after=n - 1)

    def inject_on_create(self, kind: str, delay: float = 0.0) -> None:
        self.server.inject(kind, match=r"^POST /api/v1/statuses$", delay=delay)

    def slow_next_post(self, seconds: float) -> None:
        self.server.inject("slow", delay=seconds, match=r"^POST /api/v1/statuses$")
