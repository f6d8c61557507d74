"""A node of several (#12) whose checkout lags the leader's commit posts the leader's stored
variant; when that variant names a media file the node's checkout does not have yet (the
commit that brought the image is not pulled here), the node waits for its checkout, as it
does for an item version it lacks: it never fails the post, and never sends it without the
image.  In-process on a real PostgreSQL 15, the real publisher and the Mastodon test server
(media attachments per https://docs.joinmastodon.org/methods/statuses/#create: media_ids)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from schedule.alerts import Alerter
from schedule.cluster import Cluster
from schedule.stored_variants import stored_record
from tests.ledger.cluster_helpers import SHORT, FakeConfig
from tests.test_delivery import World, servers  # noqa: F401 - the test servers fixture

NOW = datetime.now(timezone.utc) + timedelta(minutes=5)        # due for the publisher (grace 15 min)


def test_a_node_whose_checkout_lacks_the_stored_variants_image_waits_for_it(project, monkeypatch, servers,  # noqa: F811
                                                                           pg_url, open_ledger_at):
    from schedule.publisher import Publisher

    world = World(project, monkeypatch, servers)
    ledger = open_ledger_at(pg_url)
    image = project.image("pool.png")
    project.post("pool.md", f"publish_at: {NOW.isoformat()}\nchannels: [mastodon]\nmedia:\n  - path: media/pool.png\n"
                 "    alt: The new 25-metre pool, empty before opening", "The pool reopens on Monday.")
    item = world.item("pool")
    delivery = ledger.add(item.id, "mastodon", "mastodon", NOW, item_digest=item.digest, source=item.rel)
    # What the leader stores (its checkout has the commit: the file and its image).
    variant = world.publisher._fresh_variant(ledger.get(delivery), item)
    ledger.db.execute("UPDATE deliveries SET variant = ? WHERE id = ?",
                      [stored_record(variant, item, [], world.config), delivery])
    picture = image.read_bytes()
    image.unlink()                        # this node's git pull has not brought the image yet

    alerts: list = []
    alerter = Alerter((), ledger, sender=lambda title, body: alerts.append(title) or True)
    cluster = Cluster(ledger, FakeConfig(**SHORT))
    cluster.start()
    try:
        lagging = Publisher(world.config, ledger, world.renderer, alerter, lambda item_id: None, cluster=cluster)
        assert lagging.run(delivery) == "scheduled"
        assert servers["mastodon"].statuses == {}, "sent without its image"
        row = ledger.get(delivery)
        # The row stays due for the other nodes (one whose checkout has the image posts it);
        # only this node waits before it tries again.
        assert row["state"] == "scheduled" and row["lease_until"] is None and row["next_attempt_at"] is None, row
        assert lagging.waiting[delivery] > datetime.now(timezone.utc)
        assert "waiting" in [e["kind"] for e in ledger.events(delivery)]
        assert alerts == []

        image.write_bytes(picture)        # the next pull brings it
        assert lagging.run(delivery) == "posted"
        [status] = servers["mastodon"].statuses.values()
        assert "The pool reopens on Monday." in status["content"]
        assert [m["description"] for m in status["media_attachments"]] == ["The new 25-metre pool, empty before opening"]
    finally:
        cluster.stop()
