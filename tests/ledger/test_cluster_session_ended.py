"""A node whose sessions another node ended (#12): frozen (SIGSTOP) past its lease, it is
presumed dead and every session carrying its token is ended with ``pg_terminate_backend``
(schedule/cluster.py ``_end_dead_nodes``).  On waking, the next statement on each of its
connections fails: PostgreSQL ends a terminated backend with SQLSTATE 57P01
``admin_shutdown`` (https://www.postgresql.org/docs/15/errcodes-appendix.html), which psycopg
raises as ``psycopg.errors.AdminShutdown``
(https://www.psycopg.org/psycopg3/docs/api/errors.html).  The ledger turns that into a
LedgerError on every statement path and reconnects on the next statement; the woken
ex-leader's failed re-plan is a log line, not an alert.  In-process on a real PostgreSQL 15:
the real daemon's re-plan and two nodes' own sessions."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.ledger.cluster_helpers import FakeConfig, fete_daemon, register
from schedule.cluster import Cluster
from schedule.errors import LedgerError
from tests.ledger.test_cluster_leader_only import alerts

LONG = {"lease_seconds": 60, "heartbeat_seconds": 10, "send_margin_seconds": 35}


def presume_dead(admin, node, other) -> None:
    """``node`` as the others see it after two minutes frozen: its heartbeat that old.  The
    other node's next beat ends its sessions (all of them: the ledger's too) and leads."""
    admin.db.execute("UPDATE nodes SET heartbeat_at = heartbeat_at - 120 WHERE node_id = ?", [node.node_id])
    other.beat()
    deadline = time.monotonic() + 5
    while not other.leader and time.monotonic() < deadline:   # the lock is free once the session is gone
        time.sleep(0.1)
        other.beat()
    assert other.leader


def test_every_statement_path_raises_a_ledger_error_after_the_session_was_ended_then_reconnects(
        pg_url, open_ledger_at):
    admin = open_ledger_at(pg_url)
    node = Cluster(open_ledger_at(pg_url), FakeConfig(**LONG))
    other = Cluster(open_ledger_at(pg_url), FakeConfig(**LONG))
    try:
        node.beat()
        other.beat()
        ledger = node.ledger
        due = ledger.add("fete", "log", "log", datetime.now(timezone.utc) + timedelta(days=1), state="scheduled")
        for statement in (lambda: ledger.transition(due, "cancelled", expect=["scheduled"]),   # a one-statement move
                          lambda: ledger._query("SELECT 1 AS one"),          # reads (get, deliveries, ...)
                          lambda: ledger.db.execute("SELECT 1").fetchone(),  # writes and one-value reads
                          lambda: ledger.get(1),
                          lambda: ledger.set_meta(probe="1")):            # a transaction's first statement
            admin.db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?",
                             [node.app_name])
            with pytest.raises(LedgerError) as raised:
                statement()
            assert raised.value.session_ended, raised.value
            assert ledger._query("SELECT 1 AS one") == [{"one": 1}]         # the next one reconnects
        presume_dead(admin, node, other)
        assert node.deposed()
        assert not other.deposed()
    finally:
        other.stop()
        node.stop()


def test_a_woken_ex_leader_logs_its_failed_replan_and_sends_no_alert(project, pg_url, open_ledger_at, caplog):
    daemon = fete_daemon(project, pg_url)
    node = daemon.cluster
    other = Cluster(open_ledger_at(pg_url), FakeConfig(**LONG))
    admin = open_ledger_at(pg_url)
    for cluster in (node, other):                       # beating by hand: the test decides when
        register(cluster)
    try:
        node.beat()
        other.beat()
        assert node.leader
        daemon._replan_safely(sync=False)
        presume_dead(admin, node, other)
        project.post("fete.md", f"publish_at: {(datetime.now(timezone.utc) + timedelta(days=4)).isoformat()}",
                     "The summer fete moves to Sunday.")
        with caplog.at_level(logging.WARNING):
            daemon._replan_safely(sync=False)           # it wakes and re-plans: its session is gone
        assert alerts(admin) == [], caplog.text
        assert "another node ended this node's sessions" in caplog.text
        assert not daemon.replan_failed and not daemon.ledger_failing
    finally:
        other.stop()
        node.stop()
