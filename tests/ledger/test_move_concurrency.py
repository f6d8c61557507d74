"""Moves on several nodes at once, and what they tell the other nodes (#12, the burst
figures), on SQLite and a real PostgreSQL 15.

- Two moves of *different* rows never wait for each other on PostgreSQL (the write lock is
  taken shared by a one-statement move), while a write transaction still waits for a move
  in flight and a move of the *same* row waits and then fails its compare-and-set.
- Two nodes racing with many threads each over the same rows (claim-move to `publishing`,
  then `posted` with a part), with a planner's transactions between them: every row is
  won once, moved to `posted` once, with one event per move, and no statement fails (no
  deadlock).
- A node's own moves of a row it holds to `publishing` or `posted` send no change notice;
  operator commands and every other move still do, and the quiet move leaves the session
  as loud as before.

Rules relied on (PostgreSQL 15 documentation): a shared advisory lock conflicts only with
an exclusive one on the same key, and ``pg_advisory_xact_lock_shared`` is held to the end
of the transaction (https://www.postgresql.org/docs/15/functions-admin.html
#FUNCTIONS-ADVISORY-LOCKS); under READ COMMITTED ``SELECT ... FOR UPDATE`` waits for a
concurrent writer of the row and then reads its newest version
(https://www.postgresql.org/docs/15/transaction-iso.html#XACT-READ-COMMITTED);
``set_config(name, value, true)`` lasts to the end of the current transaction
(https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADMIN-SET); a NOTIFY is
delivered at commit to every listening session (https://www.postgresql.org/docs/15/
sql-notify.html).
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import psycopg

from schedule.errors import BotError
from tests.postgres_server import PASSWORD

WHEN = datetime(2027, 1, 14, 10, 0, tzinfo=timezone.utc)
LEASE = 60.0


def run_in_thread(action) -> tuple[threading.Thread, dict]:
    done: dict = {}

    def run():
        try:
            done["result"] = action()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            done["error"] = exc
        done["at"] = time.monotonic()
    worker = threading.Thread(target=run)
    worker.start()
    return worker, done


def test_moves_of_other_rows_do_not_wait_for_a_move_in_flight_but_transactions_do(pg_url, open_ledger_at):
    """A move in flight (its statement run, its commit not yet made: a commit waiting for
    the disk) holds up a move of the same row and any write transaction, and nothing else."""
    from schedule.ledger_postgres import _move_sql
    node_a, node_b, planner = open_ledger_at(pg_url), open_ledger_at(pg_url), open_ledger_at(pg_url)
    first, other = node_a.add("bins", "log", "log", WHEN), node_a.add("road", "log", "log", WHEN)
    sql, args = _move_sql(first, "publishing", ["scheduled"], "node-a", None, None, None, "node-a", LEASE, None,
                          {"attempts": 1}, (), True)
    with psycopg.connect(pg_url, autocommit=True, password=PASSWORD) as in_flight:
        in_flight.execute("BEGIN")
        assert in_flight.execute(sql, args).fetchall()           # moved, not yet committed
        other_move, other_done = run_in_thread(lambda: node_b.transition(
            other, "publishing", expect=["scheduled"], holder="node-b", claim=LEASE))
        other_move.join(5)
        assert "at" in other_done, "a move of another row waited for the move in flight"
        assert other_done.get("result") is True
        same_move, same_done = run_in_thread(lambda: node_b.transition(
            first, "publishing", expect=["scheduled"], holder="node-b", claim=LEASE))
        plan, plan_done = run_in_thread(lambda: planner.set_meta(last_rescan="now"))
        time.sleep(1.0)
        assert "at" not in same_done, "a move of the same row did not wait for the move in flight"
        assert "at" not in plan_done, "a write transaction did not wait for the move in flight"
        committed = time.monotonic()
        in_flight.execute("COMMIT")
    same_move.join(10)
    plan.join(10)
    assert same_done["at"] >= committed and same_done.get("result") is False     # it had moved meanwhile
    assert plan_done["at"] >= committed and "error" not in plan_done
    assert node_a.get(first)["claimed_by"] == "node-a" and node_a.get(other)["claimed_by"] == "node-b"
    assert [e["actor"] for e in node_a.events(first) if e["to_state"] == "publishing"] == ["node-a"]


def test_two_nodes_racing_with_many_threads_and_a_planner_each_row_moves_once(spec, open_ledger_at):
    nodes = {"node-a": open_ledger_at(spec), "node-b": open_ledger_at(spec)}
    planner = open_ledger_at(spec)
    ids = [planner.add(f"item{i}", "log", "log", WHEN) for i in range(60)]
    wins: dict[str, list[int]] = {name: [] for name in nodes}
    errors: list[BaseException] = []
    start = threading.Barrier(2 * 4 + 1)
    racing = threading.Event()

    def race(name, ledger, offset):
        start.wait()
        try:
            for k in range(len(ids)):
                delivery = ids[(k + offset) % len(ids)]
                if ledger.transition(delivery, "publishing", expect=["scheduled", "retrying"], holder=name,
                                     claim=LEASE, actor=name, attempts=1):
                    wins[name].append(delivery)
                    assert ledger.transition_with_parts(delivery, "posted", [(0, f"r{delivery}", None, None, None)],
                                                        expect=["publishing"], holder=name, actor=name,
                                                        remote_id=f"r{delivery}")
        except BaseException as exc:  # noqa: BLE001 - a deadlock or a lost update shows here
            errors.append(exc)

    def plan():
        """A re-plan's transactions meanwhile: each reads the rows, then writes a setting."""
        start.wait()
        while racing.is_set():
            with planner.transaction():
                still_open = len(planner.deliveries(states=["scheduled"]))
                planner.set_meta(open_rows=still_open)
            time.sleep(0.02)                # not back to back: SQLite's busy wait would starve the nodes

    racing.set()
    threads = [threading.Thread(target=race, args=(name, ledger, offset * 7))
               for name, ledger in nodes.items() for offset in range(4)]
    threads.append(threading.Thread(target=plan))
    for t in threads:
        t.start()
    for t in threads[:-1]:
        t.join()
    racing.clear()
    threads[-1].join()
    assert not errors, errors[:3]
    assert sorted(wins["node-a"] + wins["node-b"]) == ids
    reader = nodes["node-a"]
    winner = {d: n for n, won in wins.items() for d in won}
    assert {r["id"]: (r["state"], r["claimed_by"], r["remote_id"]) for r in reader.deliveries()} == \
        {d: ("posted", n, f"r{d}") for d, n in winner.items()}
    for kind in ("publishing", "posted"):
        events = reader.events(kind=kind)
        assert sorted(e["delivery_id"] for e in events) == ids
        assert {e["delivery_id"]: e["actor"] for e in events} == winner
    assert all(len(reader.parts(d)) == 1 for d in ids)


def test_a_nodes_own_publishing_and_posted_moves_send_no_notice_and_the_rest_do(pg_url, open_ledger_at):
    node, other = open_ledger_at(pg_url), open_ledger_at(pg_url)
    first, second, third = (node.add(f"item{i}", "log", "log", WHEN) for i in range(3))
    seen = other.data_version()

    def noticed() -> bool:
        nonlocal seen
        time.sleep(0.1)                     # a NOTIFY reaches the other session at commit; this is slack
        version = other.data_version()
        changed, seen = version != seen, version
        return changed

    assert node.transition(first, "publishing", expect=["scheduled"], holder="node-a", claim=LEASE)
    assert not noticed()
    node.record_part(first, 0, "r0", None)
    assert not noticed()
    assert node.transition_with_parts(first, "posted", [(1, "r1", None, None, None)], expect=["publishing"],
                                      holder="node-a", remote_id="r0")
    assert not noticed()
    # The quiet move lasted only its own statement: the next write of the session is news.
    node.set_meta(paused="1")
    assert noticed()
    # A node's move that sets a new time, or needs a person, is news to the other nodes.
    assert node.transition(second, "publishing", expect=["scheduled"], holder="node-a", claim=LEASE)
    noticed()
    assert node.transition(second, "retrying", expect=["publishing"], holder="node-a",
                           next_attempt_at="2027-01-14T10:05:00Z")
    assert noticed()
    # Operator commands (no holder) are news, whatever the state.
    assert node.transition(third, "cancelled", expect=["scheduled"], actor="operator")
    assert noticed()
    assert node.transition(second, "posted", expect=["retrying"], actor="operator")
    assert noticed()
    # Inside a transaction a move is never quiet (the setting would last to its commit).
    fourth = node.add("item4", "log", "log", WHEN)
    noticed()
    with node.transaction():
        assert node.transition(fourth, "publishing", expect=["scheduled"], holder="node-a", claim=LEASE)
    assert noticed()
