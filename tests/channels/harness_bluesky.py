"""Harness: the Bluesky channel (atproto) against the real Bluesky PDS, behind the
fault-injecting proxy (tests/servers/proxy.py)."""
from __future__ import annotations

import itertools
import os

from schedule.channels.bluesky import BlueskyChannel
from schedule.config import ChannelConfig
from tests.servers import pds

SKIP_REASON = pds.unavailable()
if SKIP_REASON and os.environ.get("CI"):
    raise RuntimeError(f"CI must test Bluesky against the real PDS: {SKIP_REASON}")
_numbers = itertools.count(1)


class Harness:
    network = "bluesky"
    has_urls = True

    def __init__(self, tmp_path, monkeypatch):
        from tests.servers.proxy import Server

        self.pds = pds.shared_pds()
        handle = f"council{next(_numbers)}-{os.getpid()}.test"
        password = f"app-pass-{os.getpid()}-x7"
        self.pds.account(handle, password)
        self.proxy = Server(self.pds.url).start()
        monkeypatch.setenv("CIVICPOST_COUNCIL_BSKY_APP_PASSWORD", password)
        self.secrets = [password]
        self.channel = BlueskyChannel(ChannelConfig(name="council_bsky", network="bluesky", api_base=self.proxy.url,
                                                    settings={"handle": handle}))
        self.handle = handle

    def close(self) -> None:
        self.proxy.stop()

    def record(self, receipt) -> dict:
        import requests

        did, _, rkey = receipt.remote_id.removeprefix("at://").partition("/app.bsky.feed.post/")
        answer = requests.get(f"{self.pds.url}/xrpc/com.atproto.repo.getRecord",
                              params={"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey}, timeout=10)
        answer.raise_for_status()
        return answer.json()["value"]

    def posted_text(self, receipt) -> str:
        return self.record(receipt)["text"]

    def media_count(self, receipt) -> int:
        return len((self.record(receipt).get("embed") or {}).get("images", []))

    def alt_texts(self, receipt) -> list[str]:
        return [image["alt"] for image in (self.record(receipt).get("embed") or {}).get("images", [])]

    def reply_parent(self, receipt) -> str | None:
        reply = self.record(receipt).get("reply")
        return reply["parent"]["uri"] if reply else None

    def all_texts(self) -> list[str]:
        import requests

        did = self.channel._did()
        answer = requests.get(f"{self.pds.url}/xrpc/com.atproto.repo.listRecords",
                              params={"repo": did, "collection": "app.bsky.feed.post", "limit": 100}, timeout=10)
        return [r["value"]["text"] for r in answer.json()["records"]]

    def count_posts_with(self, text: str) -> int:
        return self.all_texts().count(text)

    def supports_fault(self, kind: str) -> bool:
        return kind != "duplicate"           # Bluesky has no duplicate-content check

    def fail_nth_post(self, n: int, kind: str) -> None:
        self.channel.client()                 # log in first: the fault is for the post itself
        self.proxy.inject(kind, match=r"^POST /xrpc/com\.atproto\.repo\.createRecord$", after=n - 1)

    def inject_on_create(self, kind: str, delay: float = 0.0) -> None:
        self.channel.client()
        self.proxy.inject(kind, match=r"^POST /xrpc/com\.atproto\.repo\.createRecord$", delay=delay)

    def slow_next_post(self, seconds: float) -> None:
        self.channel.client()
        self.proxy.inject("slow", delay=seconds, match=r"createRecord$")
