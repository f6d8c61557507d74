"""A first attempt on a node of several (#12) is claimed in its move to `publishing`: one
compare-and-set instead of a claim and then a move.  In-process on a real PostgreSQL 15, the
real publisher and the project's X test server (X has no idempotency key, so a second post
would show as a second tweet: https://developer.x.com/en/docs/x-api/tweets/manage-tweets/
api-reference/post-tweets).

PostgreSQL's READ COMMITTED re-checks an UPDATE's WHERE on the newest version of a row that
another transaction changed meanwhile, and ``FOR UPDATE`` waits for it
(https://www.postgresql.org/docs/15/transaction-iso.html#XACT-READ-COMMITTED): so of two
nodes that both decided to send the same row, exactly one moves it.
"""
from __future__ import annotations

import contextlib
import threading
from datetime import datetime, timedelta, timezone

import pytest

from schedule.alerts import Alerter
from schedule.cluster import Cluster
from schedule.publisher import Publisher
from tests.ledger.cluster_helpers import SHORT, FakeConfig
from tests.test_delivery import World, servers  # noqa: F401 - the test servers fixture

NOW = datetime.now(timezone.utc) + timedelta(minutes=5)        # due for the publisher (grace 15 min)


@contextlib.contextmanager
def two_publishers(world, pg_url, open_ledger_at):
    """Two cluster nodes' Publishers (in process, short leases) on one PostgreSQL ledger."""
    made = []

    def node():
        ledger = open_ledger_at(pg_url)
        cluster = Cluster(ledger, FakeConfig(**SHORT))
        cluster.start()
        made.append(cluster)
        alerter = Alerter((), ledger, sender=lambda title, body: True)
        return Publisher(world.config, ledger, world.renderer, alerter, world.item, cluster=cluster)

    try:
        yield node(), node()
    finally:
        for cluster in made:
            cluster.stop()


@pytest.fixture
def two_nodes(project, monkeypatch, servers, pg_url, open_ledger_at):  # noqa: F811
    world = World(project, monkeypatch, servers)
    with two_publishers(world, pg_url, open_ledger_at) as (one, other):
        yield world, one, other


def add(world, publisher, rel: str, text: str) -> int:
    world.project.post(rel, f"publish_at: {NOW.isoformat()}\nchannels: [x]", text)
    item = world.item(rel.removesuffix(".md"))
    return publisher.ledger.add(item.id, "x", "x", NOW, item_digest=item.digest, source=item.rel)


def test_two_nodes_sending_the_same_first_attempt_at_once_post_it_once(two_nodes, servers):  # noqa: F811
    world, first, second = two_nodes
    rows = [add(world, first, f"notice{n}.md", f"Notice {n}: the recycling centre is shut today.") for n in range(8)]
    for delivery in rows:
        start = threading.Barrier(2)
        results = {}

        def run(publisher, name, delivery=delivery, start=start):
            start.wait()
            results[name] = publisher.run(delivery)

        threads = [threading.Thread(target=run, args=(p, n)) for p, n in ((first, "first"), (second, "second"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        # The loser sends nothing (the tweets are counted below): its move is refused and it
        # says the row's state then (`publishing`, or already `posted` by the winner), or it
        # saw the winner's claim first and did not try ("not claimed").
        assert "posted" in results.values() and set(results.values()) <= {"posted", "publishing", "not claimed"}, \
            results
    tweets = sorted(t["text"] for t in servers["x"].tweets.values())
    assert tweets == sorted(f"Notice {n}: the recycling centre is shut today." for n in range(8))   # each once
    done = [first.ledger.get(d) for d in rows]
    assert {r["state"] for r in done} == {"posted"}
    assert all(r["claimed_by"] in (first.node, second.node) and r["lease_until"] is None for r in done)


def test_the_move_to_publishing_is_the_claim(two_nodes, servers):  # noqa: F811
    """No claim before the move: the `publishing` row carries the node and a lease by the
    database's clock, and the node's local fencing counts from before the move."""
    world, first, _ = two_nodes
    delivery = add(world, first, "bins.md", "Bin collections move to Saturday next week.")
    seen = {}

    def at_the_server(request):
        if request.method == "POST" and request.path == "/2/tweets":
            seen["row"] = first.ledger.get(delivery)
            seen["renewed"] = first.cluster.row_renewed.get(delivery)
    servers["x"].on_request.append(at_the_server)
    assert first.run(delivery) == "posted"
    row = seen["row"]
    assert row["state"] == "publishing" and row["claimed_by"] == first.node
    db_now = float(first.ledger.db.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])
    assert db_now < float(row["lease_until"]) <= db_now + SHORT["lease_seconds"]
    assert seen["renewed"] is not None


def test_a_row_another_node_holds_is_not_taken(two_nodes, servers):  # noqa: F811
    world, first, second = two_nodes
    delivery = add(world, first, "pool.md", "The pool reopens on Monday.")
    assert second.cluster.claim(delivery) is not None          # the other node holds it, lease running
    assert first.run(delivery) == "not claimed"
    assert not servers["x"].tweets
    assert first.ledger.get(delivery)["claimed_by"] == second.node


def test_a_node_cut_off_from_its_heartbeat_claims_nothing(two_nodes, servers):  # noqa: F811
    world, first, _ = two_nodes
    delivery = add(world, first, "park.md", "The park gates close at dusk from today.")
    first.cluster.renewed_at -= SHORT["lease_seconds"]          # as if no renewal had landed for a lease
    assert first.run(delivery) == "not claimed"
    assert not servers["x"].tweets and first.ledger.get(delivery)["state"] == "scheduled"


def test_a_backup_that_finds_the_row_posted_asks_for_no_claim(two_nodes, servers):  # noqa: F811
    """The other node's job for a delivery fires `backup_seconds` after its owner's (schedule/
    cluster.py ``start_delay``) and finds it already posted: it reads the row and stops there.
    A claim could only be refused (``Cluster.claim`` takes only `scheduled`/`retrying` rows),
    so it is not asked for: a burst's thousand backup jobs cost one read each, no more."""
    from tests.ledger.test_hot_path import libpq_trace

    world, first, second = two_nodes
    delivery = add(world, first, "gritting.md", "Gritters are out tonight on all main routes.")
    assert first.run(delivery) == "posted"
    states: list[str] = []
    trace = libpq_trace(second.cluster.conn, lambda: states.append(second.run(delivery)))   # the node's own session
    assert states == ["not claimed"]
    claims = [line for line in trace if "state IN ('scheduled', 'retrying')" in line]
    assert claims == [], claims
    assert len(servers["x"].tweets) == 1
