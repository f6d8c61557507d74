"""A node of several (#12) never sends a version of a post that the leader replaced while the
node held the row's claim: in-process on a real PostgreSQL 15, the real publisher and the
project's Mastodon test server.

The race: a node claims a due row (its snapshot: ``item_digest`` and the stored variant),
then renders and gates it; meanwhile the leader records an edit of the content file (a new
``item_digest``, a new stored variant) in its re-plan.  PostgreSQL's READ COMMITTED lets the
node's later `publishing` transition see the row as still ``scheduled``
(https://www.postgresql.org/docs/15/transaction-iso.html#XACT-READ-COMMITTED), so only a
compare-and-set on what the node rendered from keeps the old text from going out.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from schedule.alerts import Alerter
from schedule.cluster import Cluster
from schedule.publisher import Publisher
from tests.ledger.cluster_helpers import SHORT, FakeConfig
from tests.test_delivery import World, servers  # noqa: F401 - the test servers fixture

NOW = datetime.now(timezone.utc) + timedelta(minutes=5)        # due for the publisher (grace 15 min)


def test_a_node_does_not_send_the_old_text_after_the_leader_records_an_edit(project, monkeypatch, servers,  # noqa: F811
                                                                             pg_url, open_ledger_at):
    world = World(project, monkeypatch, servers)
    ledger, leader = open_ledger_at(pg_url), open_ledger_at(pg_url)      # the node's and the leader's sessions
    project.post("a.md", f"publish_at: {NOW.isoformat()}\nchannels: [mastodon]", "Old text: the pool opens at 9.")
    old = world.item("a")
    delivery = ledger.add(old.id, "mastodon", "mastodon", NOW, item_digest=old.digest, source=old.rel)
    project.post("a.md", f"publish_at: {NOW.isoformat()}\nchannels: [mastodon]", "New text: the pool opens at 10.")
    new = world.item("a")
    assert new.digest != old.digest

    seen = {"calls": 0}

    def items(item_id):
        """This node's checkout: it still has the old version when the job starts; the leader's
        re-plan records the edit at that very moment (between the claim and `publishing`)."""
        seen["calls"] += 1
        if seen["calls"] == 1:
            leader.update(delivery, kind="edited", actor="planner", reason="content file changed",
                          item_digest=new.digest)
            return old
        return new

    cluster = Cluster(ledger, FakeConfig(**SHORT))
    cluster.start()
    try:
        alerter = Alerter((), ledger, sender=lambda title, body: True)
        publisher = Publisher(world.config, ledger, world.renderer, alerter, items, cluster=cluster)
        first = publisher.run(delivery)
        texts = [s["content"] for s in servers["mastodon"].statuses.values()]
        assert not any("Old text" in t for t in texts), f"the replaced version was sent: {texts}"
        assert first == "scheduled"
        assert publisher.run(delivery) == "posted"
        texts = [s["content"] for s in servers["mastodon"].statuses.values()]
        assert len(texts) == 1 and "New text" in texts[0]
    finally:
        cluster.stop()


def test_a_node_whose_checkout_lags_the_recorded_version_does_not_send_its_own_old_text(
        project, monkeypatch, servers, pg_url, open_ledger_at):  # noqa: F811
    """The leader recorded an edit (the row's ``item_digest`` is the new version's) but no
    rendered variant of it is stored (the row was beyond the job horizon when the file was
    edited, and no re-plan of the leader's has stored one since).  A node whose own checkout
    still has the old version must not render and send that: it leaves the row for later."""
    world = World(project, monkeypatch, servers)
    ledger = open_ledger_at(pg_url)
    project.post("a.md", f"publish_at: {NOW.isoformat()}\nchannels: [mastodon]", "Old text: the pool opens at 9.")
    old = world.item("a")
    project.post("a.md", f"publish_at: {NOW.isoformat()}\nchannels: [mastodon]", "New text: the pool opens at 10.")
    new = world.item("a")
    delivery = ledger.add(old.id, "mastodon", "mastodon", NOW, item_digest=new.digest, source=old.rel)
    cluster = Cluster(ledger, FakeConfig(**SHORT))
    cluster.start()
    try:
        alerter = Alerter((), ledger, sender=lambda title, body: True)
        lagging = Publisher(world.config, ledger, world.renderer, alerter, lambda item_id: old, cluster=cluster)
        assert lagging.run(delivery) == "scheduled"
        assert servers["mastodon"].statuses == {}, "the lagging checkout's old text was sent"
        row = ledger.get(delivery)
        assert row["lease_until"] is None and row["next_attempt_at"] is None    # free (and due) for a node that has it
        current = Publisher(world.config, ledger, world.renderer, alerter, lambda item_id: new, cluster=cluster)
        assert current.run(delivery) == "posted"
        texts = [s["content"] for s in servers["mastodon"].statuses.values()]
        assert len(texts) == 1 and "New text" in texts[0]
    finally:
        cluster.stop()
