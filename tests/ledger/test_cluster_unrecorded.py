"""A node that sent a post but could not record it (its ledger connection gone: a partition or
a database failover) for longer than its lease (#12): another node takes the row over and
records the same post by reading the account back.  The first node's held outcome is then
old news, not a post "sent after it was changed": a warning line, no alert (and while the
other node still has the row, the first keeps its outcome, without an alert either).  If no
node took the row over meanwhile, the first node takes its lease back and records the post.

In-process on a real PostgreSQL 15, the real publisher, and the X test server (X has no
idempotency key, so the recovering node reads the account back: POST /2/tweets takes none,
https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/post-tweets).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import pytest

from schedule.alerts import Alerter
from schedule.cluster import Cluster
from schedule.errors import LedgerError
from schedule.publisher import Publisher
from tests.ledger.tcp_cut import CutRelay
from tests.ledger.cluster_helpers import SHORT, FakeConfig
from tests.helpers import poll
from tests.test_delivery import World, servers  # noqa: F401 - the test servers fixture

NOW = datetime.now(timezone.utc) + timedelta(minutes=5)        # due for the publisher (grace 15 min)
LEASE = SHORT["lease_seconds"]


class Outage:
    """Node A sends a post on X and loses the database (for longer than its lease) while X
    makes it; node B has the database throughout."""

    def __init__(self, world, servers, pg_url, open_ledger_at):
        servers["x"].reject_duplicates = False       # a resend would show as a second tweet
        self.servers, self.relay = servers, CutRelay(pg_url)
        self.ledger_a, self.ledger_b = open_ledger_at(self.relay.url), open_ledger_at(pg_url)
        self.text = "Road closure: Mill Lane is shut on Saturday for resurfacing."
        world.project.post("closure.md", f"publish_at: {NOW.isoformat()}\nchannels: [x]", self.text)
        item = world.item("closure")
        self.delivery = self.ledger_b.add(item.id, "x", "x", NOW, item_digest=item.digest, source=item.rel)
        self.alerts: list[str] = []
        self.node_a, self.node_b = Cluster(self.ledger_a, FakeConfig(**SHORT)), Cluster(self.ledger_b, FakeConfig(**SHORT))
        self.node_a.start()
        self.node_b.start()
        self.a, self.b = (Publisher(world.config, ledger, world.renderer,
                                    Alerter((), self.ledger_b, sender=lambda t, b: self.alerts.append(t) or True),
                                    lambda item_id: item, cluster=node)
                          for ledger, node in ((self.ledger_a, self.node_a), (self.ledger_b, self.node_b)))

    def send_and_lose_the_database(self) -> None:
        self.servers["x"].on_request.append(lambda request: request.method == "POST" and self.relay.cut())
        with pytest.raises(LedgerError, match="sent as"):
            self.a.run(self.delivery)
        assert len(self.a.unrecorded) == 1
        time.sleep(LEASE + 1)                        # longer than the lease

    def tweets(self) -> list[str]:
        return [t["text"] for t in self.servers["x"].tweets.values()]

    def close(self) -> None:
        self.node_a.stop()
        self.node_b.stop()
        self.relay.close()


@pytest.fixture
def outage(project, monkeypatch, servers, pg_url, open_ledger_at):  # noqa: F811
    made = Outage(World(project, monkeypatch, servers), servers, pg_url, open_ledger_at)
    yield made
    made.close()


def test_a_held_outcome_recorded_meanwhile_by_another_node_is_a_warning_not_an_alert(outage, caplog):
    outage.send_and_lose_the_database()
    assert outage.node_b.take_over() == [outage.delivery]          # B has the row now
    outage.relay.restore()
    with caplog.at_level(logging.WARNING, logger="civicpost.publish"):
        assert outage.a.record_unrecorded() == 1                     # kept: B is checking the network
    assert outage.alerts == [], outage.alerts
    assert f"node {outage.node_b.node_id} took it over" in caplog.text

    assert outage.b.recover(outage.ledger_b.get(outage.delivery)) == "posted"     # found by read-back
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="civicpost.publish"):
        assert outage.a.record_unrecorded() == 0
    assert outage.alerts == [], outage.alerts
    assert f"was recorded by node {outage.node_b.node_id} meanwhile" in caplog.text
    kinds = [e["kind"] for e in outage.ledger_b.events(outage.delivery)]
    assert "sent-after-change" not in kinds, kinds
    row = outage.ledger_b.get(outage.delivery)
    assert row["state"] == "posted" and row["claimed_by"] == outage.node_b.node_id
    assert outage.tweets() == [outage.text]                          # once: found, not resent


def test_a_held_outcome_no_other_node_took_over_is_recorded_by_its_own_node(outage):
    outage.send_and_lose_the_database()
    outage.relay.restore()
    assert poll(lambda: outage.node_a.may_send(), 10)               # its heartbeat works again
    assert outage.a.record_unrecorded() == 0
    assert outage.alerts == [], outage.alerts
    row = outage.ledger_b.get(outage.delivery)
    assert row["state"] == "posted" and row["claimed_by"] == outage.node_a.node_id and row["lease_until"] is None
    assert row["remote_id"] == next(iter(outage.servers["x"].tweets))
    assert outage.tweets() == [outage.text]
