"""Group commit of a node's quiet moves on a real PostgreSQL 15 (#12, the burst figures;
schedule/ledger_batch.py).

- Concurrent moves of one node share transactions: the moved rows carry fewer distinct
  ``xmin`` (the id of the transaction that wrote the row's version) than there are moves.
  Alone, each autocommit statement is its own transaction with its own id.
- Exactly once: many threads on each of two nodes move the same rows at once: every row is
  claimed once and posted once, with one event per move, and no batch ever failed (no
  deadlock between the two nodes' batches).
- A batch in which one move's compare-and-set does not match and another's statement
  errors gives every caller the answer it would have got alone.

Rules relied on (PostgreSQL 15 documentation): ``xmin`` is "the identity (transaction ID)
of the inserting transaction for this row version", and an UPDATE writes a new row
version (https://www.postgresql.org/docs/15/ddl-system-columns.html); a statement outside a
transaction block is its own transaction (https://www.postgresql.org/docs/15/
sql-begin.html); every transaction that writes is assigned its own transaction ID
(https://www.postgresql.org/docs/15/transaction-id.html); an error inside a transaction
block aborts it and nothing of it is committed (https://www.postgresql.org/docs/15/
tutorial-transactions.html); under READ COMMITTED ``FOR UPDATE`` waits for a concurrent
writer of the row (https://www.postgresql.org/docs/15/transaction-iso.html
#XACT-READ-COMMITTED).
"""
from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timezone

import psycopg

from schedule.errors import LedgerError
from tests.postgres_server import PASSWORD

WHEN = datetime(2027, 1, 14, 10, 0, tzinfo=timezone.utc)
LEASE = 60.0


def claim(ledger, delivery: int, node: str):
    return ledger.transition_row(delivery, "publishing", expect=["scheduled", "retrying"], holder=node, claim=LEASE,
                                 attempts=1, unchanged={"item_digest": None, "variant": None})


def moves_after_a_leader(ledger, node: str, first: int, rest, deadline: float):
    """Claims of ``first`` (which leads a batch: it is alone when it starts) and then of
    ``rest`` (queued behind it), each in its own thread: (answers by delivery, the threads)."""
    answers: dict[int, object] = {}

    def move(delivery):
        try:
            answers[delivery] = claim(ledger, delivery, node)
        except LedgerError as exc:
            answers[delivery] = exc
    threads = [threading.Thread(target=move, args=(first,))]
    threads[0].start()
    while not ledger.move_batches.leading and time.monotonic() < deadline:
        time.sleep(0.01)
    for delivery in rest:
        threads.append(threading.Thread(target=move, args=(delivery,)))
        threads[-1].start()
    return answers, threads


def post(ledger, delivery: int, node: str) -> bool:
    return ledger.transition_with_parts(delivery, "posted", [(0, f"r{delivery}", None, None, None)],
                                        expect=["publishing"], holder=node, remote_id=f"r{delivery}",
                                        reason="done")


def in_threads(count: int, work) -> list:
    start, errors, threads = threading.Barrier(count), [], []

    def run(k):
        start.wait()
        try:
            work(k)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
    for k in range(count):
        threads.append(threading.Thread(target=run, args=(k,)))
        threads[-1].start()
    for thread in threads:
        thread.join(120)
    return errors


def test_concurrent_moves_of_one_node_share_transactions(pg_url, open_ledger_at):
    ledger = open_ledger_at(pg_url)
    ids = [ledger.add(f"item{k}", "log", "log", WHEN) for k in range(60)]
    moved = {}
    assert not in_threads(60, lambda k: moved.setdefault(ids[k], claim(ledger, ids[k], "n1")))
    assert all(row and row["state"] == "publishing" for row in moved.values())
    xmins = {r[0] for r in ledger.db.execute("SELECT xmin::text FROM deliveries").fetchall()}
    # Alone, 60 moves are 60 transactions (60 ids); here they share.
    assert len(xmins) <= 45, len(xmins)
    assert not in_threads(60, lambda k: post(ledger, ids[k], "n1") or (_ for _ in ()).throw(AssertionError(k)))
    assert len({r[0] for r in ledger.db.execute("SELECT xmin::text FROM deliveries").fetchall()}) <= 45
    events = ledger.db.execute("SELECT to_state, count(*) FROM events WHERE from_state IS NOT NULL "
                               "GROUP BY to_state ORDER BY to_state").fetchall()
    assert events == [("posted", 60), ("publishing", 60)]


def test_two_nodes_many_threads_each_row_moves_once(pg_url, open_ledger_at):
    nodes = {"node-a": open_ledger_at(pg_url), "node-b": open_ledger_at(pg_url)}
    ids = [nodes["node-a"].add(f"item{k}", "log", "log", WHEN) for k in range(80)]
    won: dict[int, list[str]] = {i: [] for i in ids}
    posted: dict[int, list[str]] = {i: [] for i in ids}
    names = list(nodes)

    def work(k):
        node = names[k % 2]
        ledger, order = nodes[node], ids[:]
        random.Random(k).shuffle(order)
        for delivery in order:
            if claim(ledger, delivery, node):
                won[delivery].append(node)
                if post(ledger, delivery, node):
                    posted[delivery].append(node)
            # a post by a node that does not hold the row is fenced out (another thread of
            # this node may have won it: only that thread posts, as in the publisher)
            elif post(ledger, delivery, node + "-not-holding"):
                posted[delivery].append(node + "-not-holding")

    assert not in_threads(24, work)
    assert all(len(w) == 1 for w in won.values()), {i: w for i, w in won.items() if len(w) != 1}
    assert all(posted[i] == won[i] for i in ids), {i: (won[i], posted[i]) for i in ids if posted[i] != won[i]}
    ledger = nodes["node-a"]
    assert ledger.db.execute("SELECT count(*) FROM deliveries WHERE state = 'posted'").fetchone()[0] == 80
    assert ledger.db.execute("SELECT to_state, count(*) FROM events WHERE from_state IS NOT NULL "
                             "GROUP BY to_state ORDER BY to_state").fetchall() == [("posted", 80), ("publishing", 80)]
    # No batch failed (a deadlock or any error would have run its moves again alone), and
    # the moves did share transactions.
    for node in nodes.values():
        assert node.move_batches.failed == 0
        assert node.move_batches.batches < node.move_batches.moves


def test_a_failing_move_in_a_batch_gives_every_caller_its_own_answer(pg_url, open_ledger_at, postgres):
    ledger = open_ledger_at(pg_url)
    first, good, other, mismatch, broken = (ledger.add(f"item{k}", "log", "log", WHEN) for k in range(5))
    ledger.transition(mismatch, "cancelled")              # its compare-and-set will not match
    # Hold the first move (the batch leader) on a row lock, so the others queue behind it
    # and then run as one batch.
    blocker = psycopg.connect(pg_url, password=PASSWORD, autocommit=False)
    blocker.execute("SELECT id FROM deliveries WHERE id = %s FOR UPDATE", [first])
    answers: dict[str, object] = {}

    def move(name, action):
        try:
            answers[name] = action()
        except LedgerError as exc:
            answers[name] = exc
    threads = [threading.Thread(target=move, args=("first", lambda: claim(ledger, first, "n1")))]
    threads[0].start()
    deadline = time.monotonic() + 10
    while not ledger.move_batches.leading and time.monotonic() < deadline:
        time.sleep(0.01)
    for name, action in [("good", lambda: claim(ledger, good, "n1")),
                         ("other", lambda: post(ledger, other, "n1")),          # not publishing: no match
                         ("mismatch", lambda: claim(ledger, mismatch, "n1")),
                         ("broken", lambda: ledger.transition_row(broken, "publishing", expect=["scheduled"],
                                                                  holder="n1", claim=LEASE, attempts="x"))]:
        threads.append(threading.Thread(target=move, args=(name, action)))
        threads[-1].start()
    while len(ledger.move_batches.queue) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(ledger.move_batches.queue) == 4
    blocker.commit()
    blocker.close()
    for thread in threads:
        thread.join(30)
    assert answers["first"]["state"] == "publishing"
    assert answers["good"]["state"] == "publishing" and answers["good"]["claimed_by"] == "n1"
    assert answers["other"] is False and answers["mismatch"] is None
    assert isinstance(answers["broken"], LedgerError) and "integer" in str(answers["broken"])
    assert ledger.move_batches.failed == 1                 # the batch of four failed, and was run again alone
    states = dict(ledger.db.execute("SELECT id, state FROM deliveries").fetchall())
    assert states == {first: "publishing", good: "publishing", other: "scheduled", mismatch: "cancelled",
                      broken: "scheduled"}
    assert ledger.db.execute("SELECT count(*) FROM events WHERE to_state = 'publishing'").fetchone()[0] == 2


def test_a_batch_whose_connection_is_lost_reports_no_move(pg_url, open_ledger_at, postgres):
    """The session ended mid-batch (a node presumed dead, a failover): every caller of the
    batch gets the LedgerError a move alone gets, and none is told it moved."""
    ledger = open_ledger_at(pg_url)
    first, *rest = (ledger.add(f"item{k}", "log", "log", WHEN) for k in range(4))
    ledger.move_batches._connection()
    batch_pid = ledger.move_batches.pid
    hold_first = psycopg.connect(pg_url, password=PASSWORD, autocommit=False)
    hold_first.execute("SELECT id FROM deliveries WHERE id = %s FOR UPDATE", [first])
    hold_rest = psycopg.connect(pg_url, password=PASSWORD, autocommit=False)
    hold_rest.execute("SELECT id FROM deliveries WHERE id = ANY(%s) FOR UPDATE", [rest])
    deadline = time.monotonic() + 10
    answers, threads = moves_after_a_leader(ledger, "n1", first, rest, deadline)
    while len(ledger.move_batches.queue) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    hold_first.commit()                   # the first move (alone) goes; the batch of 3 waits on its rows
    threads[0].join(10)
    with postgres.admin() as admin:
        while time.monotonic() < deadline and not admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                [batch_pid]).fetchone()[0]:
            time.sleep(0.01)
        admin.execute("SELECT pg_terminate_backend(%s)", [batch_pid])
    for thread in threads:
        thread.join(30)
    hold_rest.rollback()
    hold_rest.close()
    hold_first.close()
    assert answers[first]["state"] == "publishing"
    assert all(isinstance(answers[d], LedgerError) for d in rest), answers
    assert {ledger.get(d)["state"] for d in rest} == {"scheduled"}
    assert ledger.move_batches.batches == 2 and ledger.move_batches.failed == 1


def test_a_batch_and_the_heartbeats_renewal_never_deadlock(pg_url, open_ledger_at):
    """The renewal (one UPDATE of every row the node holds) and a batch of the node's moves
    both lock several rows: in ascending id, so neither waits for the other in a cycle.  Set
    up so that a renewal locking in the table's physical order would: the row versions lie
    in the heap as r2 before r1 (an UPDATE writes a new version; a sequential scan reads in
    heap order), the batch [r1, r2] waits for r1, the renewal locks r2 and waits for r1, and
    r1 is then freed to the batch, which wants r2 next.  PostgreSQL ends such a cycle after
    ``deadlock_timeout`` (1 s) by failing one statement (https://www.postgresql.org/docs/15/
    explicit-locking.html#LOCKING-DEADLOCKS)."""
    from schedule.cluster import Cluster
    from tests.ledger.cluster_helpers import SHORT, FakeConfig, register
    ledger = open_ledger_at(pg_url)
    cluster = Cluster(ledger, FakeConfig(**{**SHORT, "lease_seconds": 60}))
    register(cluster)
    node = cluster.node_id
    r0, r1, r2 = (ledger.add(f"item{k}", "log", "log", WHEN) for k in range(3))
    for delivery in (r2, r1):                         # r1's new version after r2's in the heap
        ledger.db.execute("UPDATE deliveries SET claimed_by = ?, lease_until = extract(epoch FROM "
                          "clock_timestamp()) + 60 WHERE id = ?", [node, delivery])
    hold_r0 = psycopg.connect(pg_url, password=PASSWORD, autocommit=False)
    hold_r0.execute("SELECT id FROM deliveries WHERE id = %s FOR UPDATE", [r0])
    hold_r1 = psycopg.connect(pg_url, password=PASSWORD, autocommit=False)
    hold_r1.execute("SELECT id FROM deliveries WHERE id = %s FOR UPDATE", [r1])
    errors = []
    deadline = time.monotonic() + 10
    answers, threads = moves_after_a_leader(ledger, node, r0, (r1, r2), deadline)
    while len(ledger.move_batches.queue) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    hold_r0.commit()                                  # the batch [r1, r2] starts and waits for r1
    threads[0].join(10)
    ledger.move_batches._connection()

    def waiting(pid) -> bool:
        return bool(hold_r0.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = "
                                    "'Lock'", [pid]).fetchone()[0])
    while not waiting(ledger.move_batches.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    hold_r0.commit()

    def renew():
        try:
            cluster.beat()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
    renewal = threading.Thread(target=renew)
    renewal.start()
    while not waiting(cluster.backend or cluster.conn.info.backend_pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    hold_r0.commit()
    hold_r1.commit()                                  # r1 free: the batch first (it waited first)
    for thread in [*threads, renewal]:
        thread.join(30)
    hold_r0.close()
    hold_r1.close()
    assert not errors
    assert all(answers[d]["state"] == "publishing" for d in (r0, r1, r2)), answers
    assert ledger.move_batches.failed == 0            # no deadlock failed the batch
    assert {r1, r2} <= set(cluster.row_renewed)              # the renewal, once free, renewed both
    cluster.stop()


def test_a_quiet_write_calls_no_trigger_function(pg_url, open_ledger_at):
    """A quiet statement's writes (a node's own moves) call no PL/pgSQL at all: counted by
    ``pg_stat_get_xact_function_calls``, the current transaction's calls of a function when
    ``track_functions`` is on (https://www.postgresql.org/docs/15/monitoring-stats.html
    #MONITORING-STATS-FUNCTIONS).  A loud write still calls it (and notifies)."""
    ledger = open_ledger_at(pg_url)
    delivery = ledger.add("item", "log", "log", WHEN)
    with psycopg.connect(pg_url, password=PASSWORD, autocommit=False) as conn:
        def calls(quiet: bool) -> int:
            conn.execute("SET LOCAL track_functions = 'all'")
            if quiet:
                conn.execute("SELECT set_config('civicpost.quiet', 'on', true)")
            conn.execute("UPDATE deliveries SET attempts = attempts + 1 WHERE id = %s", [delivery])
            made = conn.execute("SELECT coalesce(pg_stat_get_xact_function_calls('civicpost_notify'::regproc), 0)"
                                ).fetchone()[0]
            conn.rollback()
            return made
        assert calls(quiet=True) == 0
        assert calls(quiet=False) == 1
