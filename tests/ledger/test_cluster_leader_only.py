"""The re-plan's side jobs that alert or call the networks on their own (#12): the blocked
deliveries' reminders and misses (schedule/blocked.py) and YouTube's unschedule sweep
(schedule/unschedule.py) run on the leader only, and a leader deposed without knowing it yet
(its session ended while it was frozen; another node holds the lock now) is fenced before
them: so two nodes never both alert.  In-process on a real PostgreSQL 15: the real daemon's
re-plan, two nodes' own sessions, and ``pg_terminate_backend`` ending one node's sessions as
a surviving node does (https://www.postgresql.org/docs/15/functions-admin.html)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.ledger.cluster_helpers import FakeConfig, fete_daemon, register
from schedule.cluster import Cluster, Fenced
from schedule.errors import LedgerError


def alerts(ledger) -> list[str]:
    return [r["reason"] for r in ledger._query("SELECT reason FROM events WHERE kind = 'alert' ORDER BY id")]


def test_a_deposed_leader_sends_no_blocked_alert_and_only_the_leader_does(project, pg_url, open_ledger_at):
    daemon = fete_daemon(project, pg_url)
    node = daemon.cluster
    other = Cluster(open_ledger_at(pg_url), FakeConfig(lease_seconds=60, heartbeat_seconds=10,
                                                       send_margin_seconds=35))
    # Both registered and beating by hand (no heartbeat threads): the test decides when.
    for cluster in (node, other):
        register(cluster)
    try:
        node.beat()
        other.beat()
        assert node.leader and not other.leader
        daemon.replan(sync=False)                       # the first plan, as the leader
        assert alerts(daemon.ledger) == []
        # A delivery blocked by its file's errors, now past its grace: the next pass misses it and alerts.
        late = datetime.now(timezone.utc) - timedelta(hours=2)
        blocked = daemon.ledger.add("flyer", "log", "log", late, state="blocked", source="flyer.md",
                                    reason="content file has an error", hold_reason="content file has an error")

        # The leader's session ends (frozen past its lease, as other nodes see it: they end it) and
        # another node takes the lock.  (Only the session holding the lock: the ledger's own
        # session is reopened on its next statement either way.)
        admin = open_ledger_at(pg_url)
        admin.db.execute("SELECT pg_terminate_backend(?)", [node.backend])
        other.beat()
        assert other.leader and node.leader           # it has not noticed yet: its flag still says leader
        with pytest.raises(Fenced):
            daemon.replan(sync=False)
        assert alerts(daemon.ledger) == [] and daemon.ledger.get(blocked)["state"] == "blocked"

        with pytest.raises(LedgerError):               # its heartbeat meets the ended session (logged)...
            node.beat()
        node.beat()                                    # ...and the next one reconnects: a follower now
        assert not node.leader
        daemon.replan(sync=False)
        assert alerts(daemon.ledger) == [] and daemon.ledger.get(blocked)["state"] == "blocked"

        other.stop()                                   # the other node stops: this one leads again
        node.beat()
        assert node.leader
        daemon.replan(sync=False)
        assert daemon.ledger.get(blocked)["state"] == "missed"
        assert alerts(daemon.ledger) == [f"delivery:{blocked}:missed"]       # once, by the leader
    finally:
        other.stop()
        node.stop()
        daemon.ledger.close()
