"""The publishing hot path of the ledger (#12, the burst figures), on SQLite and a real
PostgreSQL 15: each state change on PostgreSQL is one statement (one round trip), with the
same rules as the transaction it replaces.

Rules relied on: under READ COMMITTED, ``SELECT ... FOR UPDATE`` waits for a concurrent
writer and then reads the row's newest version
(https://www.postgresql.org/docs/15/transaction-iso.html#XACT-READ-COMMITTED);
``pg_advisory_xact_lock`` is held to the end of the transaction, which for a statement in
autocommit is the statement (https://www.postgresql.org/docs/15/functions-admin.html
#FUNCTIONS-ADVISORY-LOCKS); each round trip of the extended query protocol ends in one
ReadyForQuery message (https://www.postgresql.org/docs/15/protocol-flow.html
#PROTOCOL-FLOW-EXT-QUERY), which libpq's trace (PQtrace) shows.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from datetime import datetime, timezone

import pytest

WHEN = datetime(2027, 1, 14, 10, 0, tzinfo=timezone.utc)


def db_now(ledger) -> float:
    if hasattr(ledger, "url"):
        return float(ledger.db.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])
    return time.time()


def test_the_last_part_and_posted_land_together(ledger):
    delivery = ledger.add("bins", "log", "log", WHEN)
    assert ledger.transition(delivery, "publishing", expect=["scheduled"])
    ledger.record_part(delivery, 0, "r0", "https://x/r0", {"n": 0}, "h0")
    assert ledger.transition_with_parts(delivery, "posted", [(1, "r1", None, {"n": 1}, "h1")], expect=["publishing"],
                                        remote_id="r0", url="https://x/r0", posted_at="2027-01-14T10:00:01Z",
                                        dry_run=False, reason="done")
    row = ledger.get(delivery)
    assert (row["state"], row["remote_id"], row["dry_run"]) == ("posted", "r0", 0)
    assert [(p["idx"], p["remote_id"], p["extra"], p["text_hash"]) for p in ledger.parts(delivery)] == \
        [(0, "r0", {"n": 0}, "h0"), (1, "r1", {"n": 1}, "h1")]
    assert [(e["kind"], e["from_state"], e["to_state"], e["reason"]) for e in ledger.events(delivery)][-1] == \
        ("posted", "publishing", "posted", "done")


def test_parts_are_kept_even_when_the_row_was_moved_meanwhile(ledger):
    """The parts are out on the network: recorded whether or not the move wins, so a
    read-back never takes them for another delivery (schedule/network_check.py)."""
    delivery = ledger.add("bins", "log", "log", WHEN)
    ledger.transition(delivery, "publishing", expect=["scheduled"])
    ledger.transition(delivery, "cancelled")                                   # an operator, meanwhile
    assert not ledger.transition_with_parts(delivery, "posted", [(0, "r0", None, None, None),
                                                                 (1, "r1", None, None, None)],
                                            expect=["publishing"], remote_id="r0")
    assert ledger.get(delivery)["state"] == "cancelled"
    assert [p["remote_id"] for p in ledger.parts(delivery)] == ["r0", "r1"]
    assert "r1" in ledger.remote_ids(exclude=delivery + 1)
    assert ledger.events(delivery)[-1]["to_state"] == "cancelled"             # no event for the refused move
    ledger.record_part(delivery, 1, "r1b", None)                              # recorded again: replaced
    assert [p["remote_id"] for p in ledger.parts(delivery)] == ["r0", "r1b"]


def test_a_move_waits_for_a_write_transaction_and_is_fenced_when_it_runs(spec, open_ledger_at):
    """Another connection's write transaction (a re-plan reading then writing) is never
    interleaved by a move: the move waits for its commit.  The lease is judged when the move
    runs, after the wait: a lease that ran out meanwhile refuses the holder's move and lets
    another node claim."""
    planner, node = open_ledger_at(spec), open_ledger_at(spec)
    fenced, claimed = planner.add("a", "log", "log", WHEN), planner.add("b", "log", "log", WHEN)
    for delivery in (fenced, claimed):
        planner.db.execute("UPDATE deliveries SET claimed_by = 'node-b', lease_until = ? WHERE id = ?",
                           [db_now(planner) + 0.8, delivery])
    inside, done = threading.Event(), {}

    def move():
        inside.wait()
        done["fenced"] = node.transition(fenced, "publishing", expect=["scheduled"], holder="node-b")
        done["claimed"] = node.transition_row(claimed, "publishing", expect=["scheduled"], holder="node-c",
                                              claim=60)
        done["at"] = time.monotonic()

    mover = threading.Thread(target=move)
    mover.start()
    with planner.transaction():
        planner.get_meta("paused")
        inside.set()
        time.sleep(1.5)                                   # the lease (0.8 s) runs out meanwhile
        assert "at" not in done                           # the move waits for this commit
        planner.set_meta(paused="0")
        committed = time.monotonic()
    mover.join()
    assert done["at"] >= committed
    assert done["fenced"] is False and planner.get(fenced)["state"] == "scheduled"
    assert done["claimed"]["claimed_by"] == "node-c" and done["claimed"]["state"] == "publishing"


def libpq_trace(conn, action) -> list[str]:
    """The lines of libpq's trace (PQtrace) of the messages on ``conn`` while ``action`` runs."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        try:
            action()
        finally:
            conn.pgconn.untrace()
        trace.flush()
        os.fsync(trace.fileno())
        trace.seek(0)
        return trace.readlines()


def round_trips(ledger, action) -> int:
    """ReadyForQuery messages (one per round trip) in libpq's trace of ``action``."""
    return sum("ReadyForQuery" in line for line in libpq_trace(ledger.db.live(), action))


def test_each_move_is_one_round_trip_on_postgresql(pg_url, open_ledger_at):
    ledger = open_ledger_at(pg_url)
    delivery = ledger.add("bins", "log", "log", WHEN)
    assert round_trips(ledger, lambda: ledger.transition_row(delivery, "publishing", expect=["scheduled"],
                                                             holder="n1", claim=60, attempts=1,
                                                             unchanged={"item_digest": None})) == 1
    assert round_trips(ledger, lambda: ledger.record_part(delivery, 0, "r0", None)) == 1
    assert round_trips(ledger, lambda: ledger.transition_with_parts(delivery, "posted", [(1, "r1", None, None, None)],
                                                                    expect=["publishing"], holder="n1",
                                                                    remote_id="r0")) == 1
    assert ledger.get(delivery)["state"] == "posted" and len(ledger.parts(delivery)) == 2
    # A transaction costs its BEGIN (with the write lock) and its COMMIT, one round trip each.
    assert round_trips(ledger, lambda: ledger.set_meta(paused="0")) == 3


def test_a_move_inside_a_transaction_is_part_of_it(ledger):
    delivery = ledger.add("bins", "log", "log", WHEN)
    with pytest.raises(RuntimeError):
        with ledger.transaction():
            assert ledger.transition_with_parts(delivery, "posted", [(0, "r0", None, None, None)],
                                                holder="n1", claim=60)
            assert ledger.get(delivery)["state"] == "posted"          # seen inside
            raise RuntimeError("the process fails before the commit")
    assert ledger.get(delivery)["state"] == "scheduled" and ledger.parts(delivery) == []
    assert [e["kind"] for e in ledger.events(delivery)] == ["planned"]


def test_expected_states_of_every_shape(ledger):
    """``expect`` as a list, tuple, set or generator; empty (nothing matches); a name that is
    not one of STATES (an older ledger's) is compared like any other."""
    delivery = ledger.add("bins", "log", "log", WHEN)
    assert not ledger.transition(delivery, "publishing", expect=[])
    assert not ledger.transition(delivery, "publishing", expect=("retrying", "held"))
    assert ledger.transition(delivery, "publishing", expect=(s for s in ["retrying", "scheduled"]))
    assert ledger.transition(delivery, "retrying", expect={"publishing"})
    ledger.db.execute("UPDATE deliveries SET state = 'queued' WHERE id = ?", [delivery])
    assert not ledger.transition(delivery, "scheduled", expect=["waiting", "held"])
    assert ledger.transition(delivery, "scheduled", expect=["queued", "held"])
    assert [e["from_state"] for e in ledger.events(delivery)][-1] == "queued"
