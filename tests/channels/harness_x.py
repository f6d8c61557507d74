"""Harness: the X channel (tweepy) against tests/servers/x.py."""
from __future__ import annotations

from schedule.channels.x import XChannel
from schedule.config import ChannelConfig
from tests.servers.x import Server

SECRETS = {"consumer_key": "x-consumer-key-4242", "consumer_secret": "x-consumer-secret-4242",
           "access_token": "x-access-token-4242", "access_token_secret": "x-access-token-secret-4242"}


class Harness:
    network = "x"
    has_urls = True

    def __init__(self, tmp_path, monkeypatch):
        self.server = Server().start()
        for field, value in SECRETS.items():
            monkeypatch.setenv(f"CIVICPOST_COUNCIL_X_{field.upper()}", value)
        self.secrets = list(SECRETS.values())
        self.channel = XChannel(ChannelConfig(name="council_x", network="x", api_base=self.server.url))

    def close(self) -> None:
        self.server.stop()

    def _tweet(self, receipt) -> dict:
        return self.server.tweets[receipt.remote_id]

    def posted_text(self, receipt) -> str:
        return self._tweet(receipt)["text"]

    def media_count(self, receipt) -> int:
        return len(self._tweet(receipt)["media_ids"])

    def alt_texts(self, receipt) -> list[str]:
        return [self.server.alt_text.get(str(m)) for m in self._tweet(receipt)["media_ids"]]

    def reply_parent(self, receipt) -> str | None:
        return self._tweet(receipt)["in_reply_to_tweet_id"]

    def count_posts_with(self, text: str) -> int:
        return sum(1 for t in self.server.tweets.values() if t["text"] == text)

    def supports_fault(self, kind: str) -> bool:
        return True

    def fail_nth_post(self, n: int, kind: str) -> None:
        self.server.inject(kind, match=r"^POST /2/tweets$", after=n - 1)

    def inject_on_create(self, kind: str, delay: float = 0.0) -> None:
        """A "created_then_" fault on the call that makes the post."""
        self.server.inject(kind, match=r"^POST /2/tweets$", delay=delay)

    def slow_next_post(self, seconds: float) -> None:
        self.server.inject("slow", delay=seconds, match=r"^POST /2/tweets$")
