"""A ledger and a real Publisher around one harness's channel, so the contract suite can
follow a whole delivery (publishing -> retrying -> posted / uncertain) against each
network's test server, not only single channel calls."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from schedule.alerts import Alerter
from schedule.ledger import Ledger
from schedule.model import Item, Media
from schedule.publisher import Publisher, _media_json
from schedule.render import Renderer
from tests.helpers import Project

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("posted", "failed", "uncertain", "missed", "cancelled")


class Deliveries:
    def __init__(self, harness, tmp_path: Path):
        channel = harness.channel
        self.channel = channel
        self.project = Project(tmp_path / "deliveries", ROOT / "templates")
        self.project.write_config(channels=f'[channels.{channel.name}]\nnetwork = "{channel.network}"\n',
                                  default_channels=f'["{channel.name}"]',
                                  extra="[schedule]\nretry_base_seconds = 0.1\nretry_max_seconds = 0.2\n")
        self.config = self.project.config()
        self.ledger = Ledger(self.config.database, self.config.timezone)
        self.alerts: list[tuple[str, str]] = []
        alerter = Alerter((), self.ledger, sender=lambda title, body: self.alerts.append((title, body)) or True)
        renderer = Renderer(self.config)
        renderer.channels[channel.name] = channel          # the harness's channel, pointed at its server
        self.items: dict[str, Item] = {}
        self.publisher = Publisher(self.config, self.ledger, renderer, alerter, self.items.get)

    def plan(self, texts: list[str], media: tuple[Media, ...] = (), title: str = "Test title",
             when: datetime | None = None, item_id: str | None = None) -> int:
        """A due delivery of exactly these parts (as the ledger holds them once rendered)."""
        when = when or datetime.now(timezone.utc) + timedelta(minutes=5)    # due; grace is 15 minutes
        item_id = item_id or f"notice-{len(self.items) + 1}"
        self.items[item_id] = Item(id=item_id, path=self.project.content / f"{item_id}.md", rel=f"{item_id}.md",
                                   title=title, body="\n\n".join(texts), times=(when,), channels=(self.channel.name,))
        return self.ledger.add(item_id, self.channel.name, self.channel.network, when, attempts=1,
                               parts_text=json.dumps(texts), media=json.dumps([_media_json(m) for m in media]),
                               title=title, text="\n\n".join(texts), source=f"{item_id}.md")

    def run_until_settled(self, delivery_id: int, runs: int = 6) -> str:
        """The daemon's job for this delivery, run again after each retry, as it would be."""
        state = "scheduled"
        for _ in range(runs):
            state = self.publisher.run(delivery_id)
            if state in FINAL:
                return state
            time.sleep(0.25)
        return state

    def row(self, delivery_id: int) -> dict:
        return self.ledger.get(delivery_id)

    def events(self, delivery_id: int) -> list[dict]:
        return self.ledger.events(delivery_id)
