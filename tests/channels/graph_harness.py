"""The harness shared by the three Graph networks (one test server serves them all)."""
from __future__ import annotations

from schedule.config import ChannelConfig
from tests.servers.graph import IG_USER, PAGE_ID, THREADS_USER, TOKEN, Server

SETTINGS = {
    "facebook": {"page_id": PAGE_ID},
    "instagram": {"ig_user_id": IG_USER, "media_base_url": "https://www.example.gov.uk/social",
                  "container_poll_seconds": 0.05},
    "threads": {"threads_user_id": THREADS_USER, "media_base_url": "https://www.example.gov.uk/social",
                "container_poll_seconds": 0.05},
}
POST_PATHS = {"facebook": r"^POST /v[\d.]+/\d+/(feed|photos|videos)$", "instagram": r"^POST /v[\d.]+/\d+/media_publish$",
              "threads": r"^POST /v[\d.]+/\d+/threads_publish$"}


class GraphHarness:
    network = ""
    channel_class = None
    has_urls = True

    def __init__(self, tmp_path, monkeypatch):
        self.server = Server().start()
        name = f"council_{self.network}"
        monkeypatch.setenv(f"CIVICPOST_{name.upper()}_ACCESS_TOKEN", TOKEN)
        self.secrets = [TOKEN]
        self.channel = self.channel_class(ChannelConfig(name=name, network=self.network, api_base=self.server.url,
                                                        settings=dict(SETTINGS[self.network])))

    def close(self) -> None:
        self.server.stop()

    def obj(self, receipt) -> dict:
        return self.server.objects[receipt.remote_id]

    def container(self, receipt) -> dict:
        return self.server.objects[self.obj(receipt)["container"]]

    def supports_fault(self, kind: str) -> bool:
        return True

    def fail_nth_post(self, n: int, kind: str) -> None:
        self.server.inject(kind, match=POST_PATHS[self.network], after=n - 1)

    def inject_on_create(self, kind: str, delay: float = 0.0) -> None:
        self.server.inject(kind, match=POST_PATHS[self.network], delay=delay)

    def slow_next_post(self, seconds: float) -> None:
        self.server.inject("slow", delay=seconds, match=POST_PATHS[self.network])
