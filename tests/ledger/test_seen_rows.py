"""``transition(version=, unpaused=True)``: a move made from a row read earlier (the
publisher's snapshot, #12) lands only if nothing wrote the row since that read and posting is
not paused, on both engines.

PostgreSQL's version is the row's ``xmin``: every UPDATE writes a new row version stamped with
the writing transaction's id, https://www.postgresql.org/docs/15/ddl-system-columns.html and
https://www.postgresql.org/docs/15/mvcc-intro.html ("each SQL statement sees a snapshot of data
... a row version").  Under READ COMMITTED a ``FOR UPDATE`` that waited for another writer goes
on with the row's newest version (https://www.postgresql.org/docs/15/transaction-iso.html
#XACT-READ-COMMITTED), so a write that commits while the move waits is seen too.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

WHEN = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
PUBLISHING = {"attempts": 1, "text": "Bins go out on Friday.", "idem_key": "civicpost-1"}


def seen(ledger, delivery: int) -> dict:
    (row,) = ledger.seen_rows([delivery])
    return row


# Every way a row is written: the ledger's update, a move, an operator's command (a move with
# its actor), a cluster claim (cluster.py's own SQL), a re-plan's edit.
WRITES = {
    "update (a re-plan's edit)": lambda ledger, d: ledger.update(d, kind="edited", actor="planner",
                                                                  item_digest="new-digest"),
    "update of one column the decision reads": lambda ledger, d: ledger.update(d, released=1),
    "retry time": lambda ledger, d: ledger.update(d, next_attempt_at="2026-03-02T09:05:00+00:00"),
    "stored variant": lambda ledger, d: ledger.update(d, variant='{"parts": ["Bins"]}'),
    "move and back (same state)": lambda ledger, d: (ledger.transition(d, "held", expect=["scheduled"]),
                                                     ledger.transition(d, "scheduled", expect=["held"])),
    "another node's claim (own SQL)": lambda ledger, d: ledger.db.execute(
        "UPDATE deliveries SET claimed_by = ?, lease_until = ? WHERE id = ?", ["node-b", 1.0, d]),
    "a write of the same value": lambda ledger, d: ledger.db.execute(
        "UPDATE deliveries SET attempts = attempts WHERE id = ?", [d]),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_any_write_since_the_read_refuses_the_move(spec, open_ledger_at, write):
    ledger, other = open_ledger_at(spec), open_ledger_at(spec)     # the write from another connection
    delivery = ledger.add("bins", "x", "x", WHEN)
    snapshot = seen(ledger, delivery)
    WRITES[write](other, delivery)
    moved = ledger.transition_row(delivery, "publishing", expect=["scheduled", "retrying"],
                                  version=snapshot["row_version"], unpaused=True, **PUBLISHING)
    if write == "a write of the same value" and not hasattr(ledger, "url"):
        # SQLite's version is the row's values: a write that changed none of them changed
        # nothing the decision read, and the move may land.
        assert moved is not None
        return
    assert moved is None
    row = ledger.get(delivery)
    assert row["state"] != "publishing" and row["attempts"] == 0 and row["text"] is None


def test_an_unwritten_row_moves_and_the_version_is_of_that_row(spec, open_ledger_at):
    ledger = open_ledger_at(spec)
    first, second = ledger.add("bins", "x", "x", WHEN), ledger.add("pool", "x", "x", WHEN)
    snapshot = seen(ledger, first)
    ledger.update(second, released=1)              # another row's write changes nothing here
    moved = ledger.transition_row(first, "publishing", expect=["scheduled"], version=snapshot["row_version"],
                                  unpaused=True, **PUBLISHING)
    assert moved is not None and moved["state"] == "publishing" and moved["attempts"] == 1
    # ... and that move is a write: the same snapshot cannot move it again.
    assert ledger.transition(first, "posted", expect=["publishing"], version=snapshot["row_version"]) is False


def test_a_pause_from_another_connection_refuses_the_move(spec, open_ledger_at):
    ledger, other = open_ledger_at(spec), open_ledger_at(spec)
    delivery = ledger.add("bins", "x", "x", WHEN)
    snapshot = seen(ledger, delivery)
    other.set_meta(paused="1")                     # as `bot.py pause` does (operator._pause_ledger)
    assert ledger.transition(delivery, "publishing", expect=["scheduled"], version=snapshot["row_version"],
                             unpaused=True, **PUBLISHING) is False
    assert ledger.get(delivery)["state"] == "scheduled"
    other.set_meta(paused="0")                     # resumed: the unchanged row moves
    assert ledger.transition(delivery, "publishing", expect=["scheduled"], version=snapshot["row_version"],
                             unpaused=True, **PUBLISHING) is True


def test_a_write_committed_while_the_move_waits_refuses_it(pg_url, open_ledger_at):
    """The other writer holds the row (its transaction open) when the move starts: the move
    waits for the row lock, then must see that writer's version, not the one it read."""
    ledger, other = open_ledger_at(pg_url), open_ledger_at(pg_url)
    delivery = ledger.add("bins", "x", "x", WHEN)
    snapshot = seen(ledger, delivery)
    conn = other.db.live()
    conn.execute("BEGIN")
    conn.execute("UPDATE deliveries SET released = 1 WHERE id = %s", [delivery])
    result = {}
    mover = threading.Thread(target=lambda: result.setdefault("moved", ledger.transition(
        delivery, "publishing", expect=["scheduled"], version=snapshot["row_version"], unpaused=True, **PUBLISHING)))
    mover.start()
    time.sleep(0.5)
    assert mover.is_alive(), "the move did not wait for the row"
    conn.execute("COMMIT")
    mover.join(10)
    assert result == {"moved": False}
    assert ledger.get(delivery)["state"] == "scheduled"


def test_the_pause_is_read_by_the_move_itself_on_postgresql(pg_url, open_ledger_at):
    """One statement, no read before it (the point of the snapshot): libpq's trace of the move."""
    from tests.ledger.test_hot_path import round_trips

    ledger = open_ledger_at(pg_url)
    delivery = ledger.add("bins", "x", "x", WHEN)
    snapshot = seen(ledger, delivery)
    ledger.set_meta(paused="1")
    assert round_trips(ledger, lambda: ledger.transition(
        delivery, "publishing", expect=["scheduled"], version=snapshot["row_version"], unpaused=True,
        holder="node-a", claim=60, **PUBLISHING)) == 1
    assert ledger.get(delivery)["state"] == "scheduled"
