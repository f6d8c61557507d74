"""The inbox on several nodes (#11 on #12): two real `bot.py run` daemons on one real
PostgreSQL 15 ledger, the inbox on, the Mastodon test server.  Each channel is polled by one
node only (the lease ``inbox:<channel>``), once per poll_minutes, and a committed inbox reply
goes out exactly once; when the polling node dies, the other takes the polling over once
its lease has run out.

Which node made a request is read from the kernel: the request's client port, matched to the
socket inodes each daemon process holds (/proc/net/tcp and /proc/PID/fd, proc(5)).
Mastodon's API: mentions are read with GET /api/v1/notifications
(https://docs.joinmastodon.org/methods/notifications/), a reply is POST /api/v1/statuses
with in_reply_to_id (https://docs.joinmastodon.org/methods/statuses/#create).
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.ledger.cluster_helpers import Nodes, pid_of_client
from tests.servers import mastodon
from tests.test_daemon import bot

pytestmark = pytest.mark.slow
POLL = 0.02                        # [inbox] poll_minutes: every 1.2 s, so the test is quick
CYCLE = POLL * 60
LEASE = 10                         # cluster_helpers.CLUSTER's lease_seconds


@pytest.fixture
def server():
    started = mastodon.Server().start()
    yield started
    started.stop()


def test_two_nodes_poll_each_channel_once_per_cycle_and_send_a_reply_once(tmp_path, pg_url, server):
    nodes = Nodes(tmp_path, pg_url, {"mastodon": server}, 2, extra=f"[inbox]\npoll_minutes = {POLL}\n")
    polls: list[tuple[float, int | None]] = []          # (when, which daemon's pid)

    def who_polls(request):
        if request.method == "GET" and request.path == "/api/v1/notifications" and "max_id" not in request.query:
            polls.append((time.monotonic(), pid_of_client(request.client[1], [d.proc.pid for d in nodes.daemons])))

    server.on_request.append(who_polls)
    try:
        for n in range(2):
            nodes.start(n).wait_for("READY=1", timeout=60)
        pids = [d.proc.pid for d in nodes.daemons]
        # Both nodes run: count the polls over a stretch of cycles.
        start = time.monotonic()
        time.sleep(10 * CYCLE)
        window = [p for p in polls if p[0] >= start]
        print(f"polls in {10 * CYCLE:.0f} s: {len(window)} (cycle {CYCLE:.1f} s), by pid: "
              f"{ {pid: sum(p[1] == pid for p in window) for pid in pids} }")
        assert len({p[1] for p in window}) == 1, (window, pids, nodes.logs())        # one node polls...
        holder_pid = window[0][1]
        holder = nodes.query("SELECT node FROM leases WHERE name = 'inbox:mastodon'")
        assert [int(h["node"].rsplit(":", 2)[1]) for h in holder] == [holder_pid]    # ...the lease's holder
        # At most once per cycle (10 cycles), never twice; a tick that comes a hair early waits for the next.
        assert 4 <= len(window) <= 11, window
        gaps = [b[0] - a[0] for a, b in zip(window, window[1:])]
        assert min(gaps) > 0.25 * CYCLE, gaps                     # never two polls at once (load may skew arrival)

        # A resident asks; the message is read once; the council's committed reply goes out once.
        question = server.resident_status("@council is the library open on Sunday?")
        [message] = nodes.wait(lambda: nodes.query("SELECT id FROM inbox_messages") or None, 20, "the message")
        written = bot(nodes.projects[0], "inbox", "reply", str(message["id"]), "--text",
                      "Yes, 10am to 4pm on Sundays.", "--json")
        assert written.returncode == 0, written.stdout + written.stderr
        path = Path(json.loads(written.stdout)["path"])
        rel = path.relative_to(nodes.projects[0].content)
        nodes.projects[1].write(str(rel), path.read_text(encoding="utf-8"))      # the commit, pulled by both
        nodes.wait(lambda: nodes.query("SELECT state FROM inbox_messages WHERE id = ?", [message["id"]])[0]["state"]
                   == "answered", 40, "the message to be answered")
        time.sleep(3 * CYCLE)
        replies = [s for s in server.statuses.values() if "10am to 4pm" in s["content"]]
        assert len(replies) == 1 and replies[0]["in_reply_to_id"] == question["id"], nodes.logs()
        assert len(server.calls("POST", r"/api/v1/statuses$")) == 1
        assert len(nodes.query("SELECT id FROM inbox_messages WHERE remote_id = ?", [question["id"]])) == 1

        # The polling node dies: the other polls once the lease has run out, and alone.
        os.kill(holder_pid, signal.SIGKILL)
        killed = time.monotonic()
        survivor = next(pid for pid in pids if pid != holder_pid)
        nodes.wait(lambda: [p for p in polls if p[0] > killed and p[1] == survivor], LEASE + 20,
                   "the other node to take the polling over")
        taken = min(p[0] for p in polls if p[0] > killed and p[1] == survivor) - killed
        print(f"inbox polling taken over {taken:.1f} s after the polling node was killed (lease {LEASE} s)")
        assert taken < LEASE + 5
    finally:
        nodes.stop_all()
