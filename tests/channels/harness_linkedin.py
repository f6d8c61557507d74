"""Harness: the LinkedIn channel (requests) against tests/servers/linkedin.py."""
from __future__ import annotations

from schedule.channels.linkedin import LinkedInChannel, _escape
from schedule.config import ChannelConfig
from tests.servers.linkedin import ORG, TOKEN, Server


def _unescape(text: str) -> str:
    out, escaped = [], False
    for char in text:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


class Harness:
    network = "linkedin"
    has_urls = True

    def __init__(self, tmp_path, monkeypatch):
        self.server = Server().start()
        monkeypatch.setenv("CIVICPOST_COUNCIL_LINKEDIN_ACCESS_TOKEN", TOKEN)
        self.secrets = [TOKEN]
        self.channel = LinkedInChannel(ChannelConfig(name="council_linkedin", network="linkedin",
                                                     api_base=self.server.url, settings={"organization": ORG, "video_poll_seconds": 0.01}))

    def close(self) -> None:
        self.server.stop()

    def post(self, receipt) -> dict:
        return self.server.posts[receipt.remote_id]

    def posted_text(self, receipt) -> str:
        return _unescape(self.post(receipt)["commentary"])

    def _media(self, receipt) -> list[dict]:
        content = self.post(receipt).get("content") or {}
        return [content["media"]] if "media" in content else content.get("multiImage", {}).get("images", [])

    def media_count(self, receipt) -> int:
        return len(self._media(receipt))

    def alt_texts(self, receipt) -> list[str]:
        return [m["altText"] for m in self._media(receipt)]

    def reply_parent(self, receipt) -> str | None:
        return None

    def count_posts_with(self, text: str) -> int:
        return sum(1 for p in self.server.posts.values() if p["commentary"] == _escape(text))

    def supports_fault(self, kind: str) -> bool:
        return True

    def fail_nth_post(self, n: int, kind: str) -> None:
        self.server.inject(kind, match=r"^POST /rest/posts$", after=n - 1)

    def inject_on_create(self, kind: str, delay: float = 0.0) -> None:
        self.server.inject(kind, match=r"^POST /rest/posts$", delay=delay)

    def slow_next_post(self, seconds: float) -> None:
        self.server.inject("slow", delay=seconds, match=r"^POST /rest/posts$")
