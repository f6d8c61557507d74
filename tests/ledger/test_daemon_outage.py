"""A daemon on PostgreSQL holds through a database outage and goes on after it (#12: "what
civicpost does during a database failover: it holds, and never doubles").

The outage is the wire going dead (tests/ledger/tcp_cut.py: every connection dropped, new
ones refused), as in a network partition or while a failover moves the database.  The
daemon's main loop meets it first: its change-notice poll says "something may have changed"
when the database is away, and the re-timing of jobs that follows reads the ledger.  A
statement that fails there must be reported, as any failed write is, and never end the
daemon: systemd would only restart it into the same outage, with nothing posted meanwhile.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.ledger.cluster_helpers import Nodes
from tests.ledger.tcp_cut import CutRelay
from tests.servers import mastodon

pytestmark = pytest.mark.slow


def test_a_daemon_holds_through_a_database_outage_and_posts_after_it(tmp_path, pg_url):
    server = mastodon.Server(latency=0.05).start()
    relay = CutRelay(pg_url)
    nodes = Nodes(tmp_path, relay.url, {"mastodon": server}, 1)
    try:
        daemon = nodes.start(0)
        daemon.wait_for("READY=1", timeout=60)
        nodes.wait(lambda: "civicpost running" in daemon.output(), 30, "the start-up to end")
        relay.cut()
        due = (datetime.now(timezone.utc) + timedelta(seconds=10)).isoformat()
        nodes.post("ferry.md", f"publish_at: {due}", "The ferry runs again from Monday.")
        time.sleep(5)                        # five turns of the main loop with the database away
        assert daemon.proc.poll() is None, "the daemon ended in the outage\n" + nodes.logs()
        relay.restore()
        nodes.wait(lambda: server.calls("POST", r"/api/v1/statuses$"), 60, "the post after the outage")
        time.sleep(2)                        # several more turns: still one post
        assert daemon.proc.poll() is None, nodes.logs()
        # A status's `content` is its HTML (https://docs.joinmastodon.org/entities/Status/#content).
        assert [s["content"] for s in server.statuses.values()] == ["<p>The ferry runs again from Monday.</p>"]
        assert len(server.calls("POST", r"/api/v1/statuses$")) == 1
    finally:
        nodes.stop_all()
        relay.close()
        server.stop()
