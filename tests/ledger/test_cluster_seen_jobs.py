"""The daemon's side of the snapshot (#12): ``sync_jobs`` keeps the row of each of this node's
deliveries due soon, its job moves it with no read first, and a change notice (another
connection's write) drops or refreshes what went stale.  In process: the real Daemon on a
real PostgreSQL 15, posting to the project's X test server; its scheduler is not started,
so each job is run by hand."""
from __future__ import annotations

import pytest

from tests.ledger.cluster_helpers import CLUSTER
from tests.ledger.test_cluster_seen import statements
from tests.ledger.test_hot_path import libpq_trace
from tests.servers import channel_tables, credentials_env, x
from tests.test_daemon import soon

TEXT = "Gritters are out tonight on all main routes."


@pytest.fixture
def daemon(project, monkeypatch, pg_url):
    from apscheduler.schedulers.background import BackgroundScheduler

    from schedule.daemon import Daemon

    server = x.Server().start()
    project.write_config(channels=channel_tables({"x": server.url}), default_channels='["x"]',
                         extra=f'[database]\nurl = "{pg_url}"\n[schedule]\ngrace_minutes = 15\n{CLUSTER}')
    for key, value in credentials_env("x").items():
        monkeypatch.setenv(key, value)
    project.post("gritting.md", f"publish_at: {soon(30)}", TEXT)
    project.post("library.md", f"publish_at: {soon(3 * 3600)}", "The library reopens in the spring.")
    started = Daemon(project.config_path)
    started.cluster.start()                     # the only node: the leader, and every delivery its own
    started.replan(sync=False)
    started.scheduler = BackgroundScheduler(timezone=started.config.timezone)      # jobs kept, not run
    yield started, server
    started.cluster.stop()
    started.ledger.close()
    server.stop()


def test_the_job_of_a_delivery_due_soon_moves_it_with_no_read_first(daemon):
    node, server = daemon
    node.sync_jobs()
    (row,) = node.ledger.deliveries(item="gritting")
    (later,) = node.ledger.deliveries(item="library")
    assert set(node.job_times) == {row["id"], later["id"]}
    # Only what is due before the next re-plan (and a minute) is kept: an idle queue of
    # thousands planned for later costs no memory here.
    assert set(node.publisher.seen) == {row["id"]}
    trace = libpq_trace(node.ledger.db.live(), lambda: node._run_job(row["id"]))
    sent = statements(trace)
    assert sent and "UPDATE deliveries SET state" in sent[0] and "xmin" in sent[0], sent[:2]
    assert [t["text"] for t in server.tweets.values()] == [TEXT]
    assert node.ledger.get(row["id"])["state"] == "posted"
    assert row["id"] not in node.publisher.seen


def test_a_change_notice_refreshes_or_drops_a_stale_snapshot(daemon, pg_url, open_ledger_at):
    node, server = daemon
    other = open_ledger_at(pg_url)                # an operator's command, another node: another session
    node.sync_jobs()
    (row,) = node.ledger.deliveries(item="gritting")
    version = node.publisher.seen[row["id"]]["row_version"]
    seen_version = node.ledger.data_version()
    other.update(row["id"], kind="edited", actor="planner", reason="test", approved_by="comms")
    assert node.ledger.data_version() != seen_version           # the notice the main loop acts on
    node.sync_jobs()
    kept = node.publisher.seen[row["id"]]
    assert kept["row_version"] != version and kept["approved_by"] == "comms"     # read afresh
    other.transition(row["id"], "cancelled", expect=["scheduled"], actor="ops", reason="wrong date")
    node.sync_jobs()
    assert row["id"] not in node.publisher.seen and row["id"] not in node.job_times
    node._run_job(row["id"])                      # a job that was already under way: nothing sent
    assert server.tweets == {} and node.ledger.get(row["id"])["state"] == "cancelled"


def test_at_most_the_soonest_rows_are_kept(daemon, project, monkeypatch):
    """A bound on the memory however many are due at once: past it, the soonest are kept
    (the others' jobs read their row first, as before)."""
    from schedule import daemon_planning

    node, _ = daemon
    project.post("pool.md", f"publish_at: {soon(40)}", "The pool closes early on Friday.")
    node.replan(sync=False)
    monkeypatch.setattr(daemon_planning, "SEEN_MOST", 1)
    node.sync_jobs()
    (row,) = node.ledger.deliveries(item="gritting")
    (pool,) = node.ledger.deliveries(item="pool")
    assert set(node.publisher.seen) == {row["id"]} and pool["id"] in node.job_times
