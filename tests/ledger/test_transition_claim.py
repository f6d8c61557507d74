"""``Ledger.transition(..., holder=node, claim=seconds)`` and ``transition_row`` (#12), on
SQLite and on a real PostgreSQL 15: a due row is claimed and moved in one compare-and-set,
so a node needs no separate claim statement before its move to `publishing`.

The rule (the same as schedule/cluster.py's ``Cluster.claim``): a row may be claimed when
it is unclaimed, already the claimant's, or its lease has run out by the database's clock;
the move then records the claimant and a fresh lease.  Two connections are two nodes.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

WHEN = datetime(2027, 1, 14, 10, 0, tzinfo=timezone.utc)
LEASE = 60.0


def db_now(ledger) -> float:
    """The clock leases are counted in: the database's on PostgreSQL, the host's on SQLite."""
    if hasattr(ledger, "url"):
        return float(ledger.db.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])
    return time.time()


def set_claim(ledger, delivery, node, lease_until):
    ledger.db.execute("UPDATE deliveries SET claimed_by = ?, lease_until = ? WHERE id = ?",
                      [node, lease_until, delivery])


def test_an_unclaimed_row_is_claimed_and_moved_in_one_step(ledger):
    delivery = ledger.add("bins", "log", "log", WHEN)
    before = db_now(ledger)
    assert ledger.transition(delivery, "publishing", expect=["scheduled"], holder="node-a", claim=LEASE,
                             attempts=1)
    after = db_now(ledger)
    row = ledger.get(delivery)
    assert row["state"] == "publishing" and row["attempts"] == 1 and row["claimed_by"] == "node-a"
    assert before + LEASE <= row["lease_until"] <= after + LEASE         # now + claim, by that clock
    trail = [(e["kind"], e["from_state"], e["to_state"]) for e in ledger.events(delivery)]
    assert trail == [("planned", None, "scheduled"), ("publishing", "scheduled", "publishing")]
    # From then on the node's later moves are fenced by that lease, as after Cluster.claim.
    assert not ledger.transition(delivery, "posted", expect=["publishing"], holder="node-b")
    assert ledger.transition(delivery, "posted", expect=["publishing"], holder="node-a")
    assert ledger.get(delivery)["lease_until"] is None                  # settled: the lease ends


def test_a_live_lease_of_another_node_refuses_the_claim(ledger):
    delivery = ledger.add("bins", "log", "log", WHEN)
    set_claim(ledger, delivery, "node-b", db_now(ledger) + 30)
    assert not ledger.transition(delivery, "publishing", expect=["scheduled"], holder="node-a", claim=LEASE)
    assert ledger.transition_row(delivery, "publishing", expect=["scheduled"], holder="node-a", claim=LEASE) is None
    row = ledger.get(delivery)
    assert row["state"] == "scheduled" and row["claimed_by"] == "node-b"
    assert [e["kind"] for e in ledger.events(delivery)] == ["planned"]  # no event for a refused move


def test_an_expired_lease_or_the_claimants_own_allows_the_claim(ledger):
    expired, own, no_lease = (ledger.add(f"item{i}", "log", "log", WHEN) for i in range(3))
    set_claim(ledger, expired, "node-b", db_now(ledger) - 1)          # node-b stopped renewing
    set_claim(ledger, own, "node-a", db_now(ledger) + 30)
    set_claim(ledger, no_lease, "node-b", None)                       # given up (Cluster.stop)
    for delivery in (expired, own, no_lease):
        assert ledger.transition(delivery, "publishing", expect=["scheduled"], holder="node-a", claim=LEASE)
        row = ledger.get(delivery)
        assert row["claimed_by"] == "node-a" and row["lease_until"] > db_now(ledger) + LEASE - 10


def test_without_claim_the_holder_must_already_hold_a_live_lease(ledger):
    delivery = ledger.add("bins", "log", "log", WHEN)
    assert not ledger.transition(delivery, "publishing", expect=["scheduled"], holder="node-a")   # unclaimed
    set_claim(ledger, delivery, "node-a", db_now(ledger) - 1)
    assert not ledger.transition(delivery, "publishing", expect=["scheduled"], holder="node-a")   # run out
    assert ledger.get(delivery)["state"] == "scheduled"
    with pytest.raises(ValueError, match="holder"):
        ledger.transition(delivery, "publishing", expect=["scheduled"], claim=LEASE)


def test_a_claiming_move_elsewhere_than_publishing_ends_the_lease(ledger):
    """A held or missed row is not being sent: the claim is recorded, the lease is not kept."""
    delivery = ledger.add("bins", "log", "log", WHEN)
    assert ledger.transition(delivery, "held", expect=["scheduled"], holder="node-a", claim=LEASE, hold_reason="x")
    row = ledger.get(delivery)
    assert (row["state"], row["claimed_by"], row["lease_until"]) == ("held", "node-a", None)


def test_transition_row_gives_the_row_after_the_move(ledger):
    delivery = ledger.add("bins", "log", "log", WHEN)
    row = ledger.transition_row(delivery, "publishing", expect=["scheduled"], holder="node-a", claim=LEASE,
                                attempts=1, idem_key="k-1", unchanged={"item_digest": None})
    assert row == ledger.get(delivery)
    assert (row["state"], row["attempts"], row["idem_key"], row["claimed_by"]) == ("publishing", 1, "k-1", "node-a")
    assert ledger.transition_row(delivery, "publishing", expect=["scheduled"]) is None    # moved already
    assert ledger.transition_row(delivery, "posted", expect=["publishing"], unchanged={"item_digest": "other"}) \
        is None                                                                          # edited meanwhile
    assert ledger.transition_row(delivery + 1000, "posted") is None                    # no such row
    posted = ledger.transition_row(delivery, "posted", expect=["publishing"], holder="node-a", remote_id="r1",
                                   dry_run=True)
    assert posted == ledger.get(delivery) and posted["remote_id"] == "r1" and posted["dry_run"] == 1
    assert len(ledger.events(delivery)) == 3


def test_two_nodes_racing_to_claim_and_move_each_row_one_wins(spec, open_ledger_at):
    """Two connections (two nodes) claim-and-move the same rows from threads at once:
    exactly one wins each row, its claim is the one recorded, and one event says so."""
    nodes = {"node-a": open_ledger_at(spec), "node-b": open_ledger_at(spec)}
    ids = [nodes["node-a"].add(f"item{i}", "log", "log", WHEN) for i in range(25)]
    wins: dict[str, list[int]] = {name: [] for name in nodes}
    start = threading.Barrier(len(nodes))

    def race(name, ledger):
        start.wait()
        for delivery in ids:
            row = ledger.transition_row(delivery, "publishing", expect=["scheduled", "retrying"], holder=name,
                                        claim=LEASE, actor=name)
            if row is not None:
                assert row["claimed_by"] == name and row["state"] == "publishing"
                wins[name].append(delivery)

    threads = [threading.Thread(target=race, args=item) for item in nodes.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins["node-a"] + wins["node-b"]) == ids
    reader = nodes["node-a"]
    assert {r["id"]: r["claimed_by"] for r in reader.deliveries()} == {d: n for n, won in wins.items() for d in won}
    events = reader.events(kind="publishing")
    assert sorted(e["delivery_id"] for e in events) == ids
    assert {e["delivery_id"]: e["actor"] for e in events} == {d: n for n, won in wins.items() for d in won}
