"""A daemon's worker threads on PostgreSQL: statements outside any transaction (the
one-statement moves, plain reads) run on a pool of sessions (psycopg_pool) when the ledger's
own connection is busy, so their round trips overlap (#12, the burst figures: "connection
reuse"); transactions keep the ledger's own connection and its lock.

Rules relied on: psycopg_pool's ``ConnectionPool`` (https://www.psycopg.org/psycopg3/docs/
api/pool.html) passes ``kwargs`` to ``connect`` and calls ``configure`` on each new
connection; ``application_name`` is shown in ``pg_stat_activity`` for every session
(https://www.postgresql.org/docs/15/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW);
a NOTIFY carries the sending session's backend pid
(https://www.postgresql.org/docs/15/sql-notify.html); ``pg_terminate_backend`` ends a
session of the same role (https://www.postgresql.org/docs/15/functions-admin.html).
"""
from __future__ import annotations

import contextlib
import threading
import time
from datetime import datetime, timezone

import psycopg

from schedule.errors import LedgerError
from schedule.ledger_pool import POOL_SIZE
from tests.postgres_server import PASSWORD

WHEN = datetime(2027, 1, 14, 10, 0, tzinfo=timezone.utc)


@contextlib.contextmanager
def busy(ledger):
    """Another worker thread holds the ledger's own connection meanwhile."""
    held, release = threading.Event(), threading.Event()

    def hold():
        with ledger.lock:
            held.set()
            release.wait(20)
    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5)
    try:
        yield
    finally:
        release.set()
        holder.join()


def in_thread(action, timeout: float = 10):
    """``action()`` run by another thread, as a daemon's worker runs it: (result, seconds)."""
    done: dict = {}

    def run():
        started = time.monotonic()
        try:
            done["result"] = action()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            done["error"] = exc
        done["seconds"] = time.monotonic() - started
    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "the statement waited for the other thread's connection"
    if "error" in done:
        raise done["error"]
    return done["result"], done["seconds"]


def sessions(pg_url, pids) -> dict[int, str]:
    with psycopg.connect(pg_url, autocommit=True, password=PASSWORD) as admin:
        return dict(admin.execute("SELECT pid, application_name FROM pg_stat_activity WHERE pid = ANY(%s)",
                                  [list(pids)]).fetchall())


def test_reads_and_moves_do_not_queue_behind_another_threads_transaction(pg_url, open_ledger_at):
    ledger = open_ledger_at(pg_url)
    delivery = ledger.add("bins", "log", "log", WHEN)
    inside, release, committed = threading.Event(), threading.Event(), {}

    def replan():
        with ledger.transaction():
            ledger.set_meta(paused="1")
            inside.set()
            release.wait(10)
            committed["at"] = time.monotonic()       # the transaction's COMMIT follows
    planner = threading.Thread(target=replan)
    planner.start()
    assert inside.wait(5)
    try:
        # A read runs at once, on another session: it sees what is committed (not yet the
        # transaction's write).
        (row, meta), seconds = in_thread(lambda: (ledger.get(delivery), ledger.get_meta("paused")), timeout=5)
        assert row["state"] == "scheduled" and meta is None and seconds < 2
        # A move still waits for the transaction (the write lock, inside its statement).
        moved: dict = {}
        mover = threading.Thread(target=lambda: moved.update(
            done=ledger.transition(delivery, "publishing", expect=["scheduled"]), at=time.monotonic()))
        mover.start()
        time.sleep(0.5)
        assert "at" not in moved
    finally:
        release.set()
        planner.join()
    mover.join(10)
    assert moved["done"] is True and moved["at"] >= committed["at"]
    assert ledger.get(delivery)["state"] == "publishing" and ledger.get_meta("paused") == "1"


def test_concurrent_round_trips_overlap(pg_url, open_ledger_at):
    ledger = open_ledger_at(pg_url)
    ledger.get(1)
    with busy(ledger):
        in_thread(lambda: ledger._query("SELECT 1"))           # opens the pool
        ledger.pool.wait(10)
    threads = [threading.Thread(target=lambda: ledger._query("SELECT pg_sleep(0.5)")) for _ in range(POOL_SIZE)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One connection under one lock: POOL_SIZE x 0.5 s one after another.
    assert time.monotonic() - started < 0.5 * POOL_SIZE - 0.4


def test_a_single_threaded_ledger_opens_no_pool(pg_url, open_ledger_at):
    ledger = open_ledger_at(pg_url)
    delivery = ledger.add("bins", "log", "log", WHEN)
    ledger.transition(delivery, "publishing", expect=["scheduled"])
    ledger.get(delivery)
    assert ledger.pool is None
    # A read-only ledger (status, the web page) waits for its own connection even when
    # another thread holds it: it never opens a pool.
    reader = open_ledger_at(pg_url, readonly=True)
    read: list = []
    with busy(reader):
        waiting = threading.Thread(target=lambda: read.append(reader.get(delivery)))
        waiting.start()
        time.sleep(0.2)
    waiting.join(10)
    assert read and read[0]["id"] == delivery
    assert reader.pool is None


def test_the_pools_own_writes_are_not_news_but_another_sessions_are(pg_url, open_ledger_at):
    ledger, operator = open_ledger_at(pg_url), open_ledger_at(pg_url)
    deliveries = [ledger.add(f"bins{n}", "log", "log", WHEN) for n in range(8)]
    seen = ledger.data_version()
    with busy(ledger):
        for delivery in deliveries:
            assert in_thread(lambda: ledger.transition(delivery, "publishing", expect=["scheduled"]))[0]
        ledger.pool.wait(10)
    assert len(ledger.pool_pids) == POOL_SIZE
    time.sleep(0.2)
    assert ledger.data_version() == seen
    operator.set_meta(paused="1")
    assert ledger.data_version() != seen


def test_a_nodes_pooled_sessions_carry_its_token_and_end_with_it(nodes):
    frozen, live = nodes(), nodes()
    ledger = frozen.ledger
    delivery = ledger.add("bins", "log", "log", WHEN)
    with busy(ledger):
        in_thread(lambda: ledger.get(delivery))
        ledger.pool.wait(10)
    own = {ledger.own_pid, *ledger.pool_pids}
    assert len(own) == 1 + POOL_SIZE
    assert set(sessions(ledger.url, own).values()) == {f"civicpost node {frozen.token}"}
    # The frozen node's heartbeat is past its lease: the live node ends its sessions, by name.
    live._sql("UPDATE nodes SET heartbeat_at = heartbeat_at - 60 WHERE node_id = %s", [frozen.node_id])
    live._end_dead_nodes()
    # pg_terminate_backend signals the session and returns at once ("If timeout is not
    # specified or zero, this function returns true whether the process actually terminates
    # or not", https://www.postgresql.org/docs/15/functions-admin.html): each ends moments later.
    deadline = time.monotonic() + 10
    while sessions(ledger.url, own) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sessions(ledger.url, own) == {}
    reason = live._sql("SELECT stop_reason FROM nodes WHERE node_id = %s", [frozen.node_id]).fetchone()[0]
    assert f"{len(own) + 1} session(s) ended" in reason          # + the node's own heartbeat session


def test_pooled_statements_recover_after_the_server_drops_them(pg_url, open_ledger_at, postgres):
    ledger = open_ledger_at(pg_url)
    delivery = ledger.add("bins", "log", "log", WHEN)
    with busy(ledger):
        in_thread(lambda: ledger.get(delivery))
        ledger.pool.wait(10)
        with postgres.admin() as admin:        # a failover: every session of the database ends
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", [pg_url.rsplit("/", 1)[1]])
        failures = 0
        for _ in range(POOL_SIZE + 2):
            try:
                assert in_thread(lambda: ledger.get(delivery))[0]["state"] == "scheduled"
            except LedgerError as exc:                 # never a raw psycopg error, never the password
                failures += 1
                assert PASSWORD not in str(exc)
                time.sleep(0.3)
        assert failures <= POOL_SIZE
        assert in_thread(lambda: ledger.transition(delivery, "publishing", expect=["scheduled"]))[0] is True
    ledger.data_version()                          # the own connection meets the drop (and is opened again)
    assert ledger.get(delivery)["state"] == "publishing"
    ledger.close()
    assert ledger.pool is None
