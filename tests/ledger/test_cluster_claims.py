"""Row claims, leases, fencing and leadership between nodes of one PostgreSQL ledger (#12),
in-process on a real PostgreSQL 15: each node has its own sessions, as two hosts would.

PostgreSQL's rules relied on: a session advisory lock is held until released or the
session ends (https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS);
``FOR UPDATE SKIP LOCKED`` passes over rows another transaction has locked
(https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE);
``pg_terminate_backend`` ends another session of the same role
(https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL).
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from schedule.cluster import Fenced
from schedule.errors import ConfigError, LedgerError
from tests.ledger.cluster_helpers import SHORT, FakeConfig
from tests.ledger.conftest import TZ

WHEN = datetime(2027, 1, 14, 10, 0, tzinfo=timezone.utc)


def test_the_live_nodes_share_the_deliveries_out_and_a_stopped_nodes_share_moves_alone(nodes):
    first, second, third = nodes(), nodes(), nodes()
    for node in (first, second, third):
        node.beat()                                   # each sees the others' heartbeats
    assert first.peers == second.peers == third.peers and len(first.peers) == 3
    ids = range(1, 301)
    owners = {i: first.owner(i) for i in ids}
    assert all(second.owner(i) == third.owner(i) == owners[i] for i in ids)    # the same answer everywhere
    share = {node.node_id: sum(o == node.node_id for o in owners.values()) for node in (first, second, third)}
    assert all(60 <= n <= 140 for n in share.values()), share                # about a third each
    # The owner tries at the due time; the others back it up later.
    for i in ids:
        for node in (first, second, third):
            assert node.start_delay(i).total_seconds() == (0 if owners[i] == node.node_id else 5.0)

    third.stop()                                      # a clean stop: it leaves the list at once
    first.beat()
    second.beat()
    assert first.peers == second.peers == tuple(sorted((first.node_id, second.node_id)))
    moved = {i for i in ids if first.owner(i) != owners[i]}
    assert moved == {i for i in ids if owners[i] == third.node_id}          # only its share moved


def test_alone_a_node_owns_everything(nodes):
    only = nodes()
    assert only.peers == (only.node_id,)
    assert all(only.start_delay(i).total_seconds() == 0 for i in range(1, 50))


def test_each_due_row_is_claimed_by_exactly_one_node(nodes):
    first, second = nodes(), nodes()
    ids = [first.ledger.add(f"item{i}", "log", "log", WHEN) for i in range(40)]
    wins = {first.node_id: [], second.node_id: []}
    start = threading.Barrier(2)

    def claim(node):
        start.wait()
        for delivery in ids:
            row = node.claim(delivery)
            if row is not None:
                assert row["claimed_by"] == node.node_id and row["id"] == delivery
                wins[node.node_id].append(delivery)

    threads = [threading.Thread(target=claim, args=(n,)) for n in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins[first.node_id] + wins[second.node_id]) == ids
    claimed = {r["id"]: r["claimed_by"] for r in first.ledger.deliveries()}
    assert claimed == {d: n for n, won in wins.items() for d in won}
    assert first.claim(ids[0]) is None or claimed[ids[0]] == first.node_id     # a held claim stays held


def test_a_state_change_is_fenced_by_the_claim_and_its_lease(nodes):
    """The fencing check runs in the same transaction as the change: another node's claim,
    or an expired lease (the database's clock), refuses it."""
    first, second = nodes(), nodes()
    ledger = first.ledger
    delivery = ledger.add("bins", "log", "log", WHEN)
    assert first.claim(delivery) is not None
    assert not ledger.transition(delivery, "publishing", expect=["scheduled"], holder=second.node_id)
    assert ledger.transition(delivery, "publishing", expect=["scheduled"], holder=first.node_id)
    # The lease runs out (no heartbeat): the node's own change is refused from then on.
    ledger.db.execute("UPDATE deliveries SET lease_until = extract(epoch FROM clock_timestamp()) - 1 WHERE id = ?",
                      [delivery])
    assert not ledger.transition(delivery, "posted", expect=["publishing"], holder=first.node_id)
    assert ledger.get(delivery)["state"] == "publishing"
    # ... and another node takes the row over for recovery, and only it may settle it.
    assert second.take_over() == [delivery]
    assert not ledger.transition(delivery, "posted", expect=["publishing"], holder=first.node_id)
    assert ledger.transition(delivery, "posted", expect=["publishing"], holder=second.node_id)
    assert ledger.get(delivery)["lease_until"] is None                  # settled: the lease ends


def test_an_expired_lease_is_never_renewed_and_the_node_stops_sending_for_it(nodes):
    first = nodes()
    delivery = first.ledger.add("bins", "log", "log", WHEN)
    first.claim(delivery)
    first.check_send(delivery)                                         # fresh: may send
    first.ledger.db.execute("UPDATE deliveries SET lease_until = extract(epoch FROM clock_timestamp()) - 1 "
                            "WHERE id = ?", [delivery])
    with first.holding(delivery):
        first.beat()                                                   # the heartbeat works again...
        time.sleep(SHORT["lease_seconds"] - SHORT["send_margin_seconds"] + 0.1)
        first.beat()
        assert first.may_send()                                        # ...the node is alive...
        with pytest.raises(Fenced):
            first.check_send(delivery)                                 # ...but this row is not its own any more


def test_one_leader_and_the_next_takes_over_when_its_session_ends(nodes):
    first, second = nodes(), nodes()
    assert [first.leader, second.leader] == [True, False]
    with first.ledger.transaction():
        first.check_leader()                                           # the leader's plan may be written
    with pytest.raises(Fenced):
        with second.ledger.transaction():
            second.check_leader()
    # A stopped leader keeps its session: the others end it once its heartbeat is older than the lease.
    first.ledger.db.execute("UPDATE nodes SET heartbeat_at = heartbeat_at - 60 WHERE node_id = ?", [first.node_id])
    second.beat()                                                      # ends first's sessions
    deadline = time.monotonic() + 5
    while not second.leader and time.monotonic() < deadline:           # (a session ends a moment later)
        time.sleep(0.1)
        second.beat()                                                  # and takes the free lock
    assert second.leader
    reasons = {r["node_id"]: r["stop_reason"] for r in second.ledger._query("SELECT * FROM nodes")}
    assert "presumed dead" in reasons[first.node_id]
    with pytest.raises(LedgerError):                                   # its session was ended...
        with first.ledger.transaction():
            first.check_leader()
    with pytest.raises(Fenced):                                        # ...and in a new one, its plan is refused
        with first.ledger.transaction():
            first.check_leader()


def test_a_named_lease_has_one_holder_until_it_is_given_up_or_runs_out(nodes):
    first, second = nodes(), nodes()
    assert first.lease("inbox:x") and first.lease("inbox:x")
    assert not second.lease("inbox:x") and second.lease("inbox:mastodon")
    first.stop()
    assert second.lease("inbox:x")


@pytest.mark.parametrize("settings, words", [
    ({"lease_seconds": 10, "send_margin_seconds": 9}, "must be more than send_margin_seconds"),
    ({"lease_seconds": "soon"}, "lease_seconds = 'soon' must be a positive number"),
    ({"backup_seconds": 0}, r"\[cluster\] backup_seconds = 0 must be a positive number"),
])
def test_cluster_settings_are_one_line_errors(settings, words):
    from schedule.cluster import settings as read
    with pytest.raises(ConfigError, match=words):
        read(FakeConfig(**settings))


def test_status_lists_every_node(nodes):
    from schedule.cluster import nodes as listed
    first, second = nodes(), nodes()
    delivery = first.ledger.add("bins", "log", "log", WHEN)
    with first.holding(delivery, "bins on log"):
        first.beat()
        shown = {n["id"]: n for n in listed(first.ledger, TZ, 3)}
    assert set(shown) == {first.node_id, second.node_id}
    assert shown[first.node_id]["leader"] and not shown[second.node_id]["leader"]
    assert shown[first.node_id]["publishing"] == [{"id": delivery, "what": "bins on log"}]
    assert {n["state"] for n in shown.values()} == {"running"} and shown[first.node_id]["host"] == first.host
