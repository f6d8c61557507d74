"""The inbox's poll of a channel under its named lease (#11 on #12), on a real PostgreSQL 15,
in-process with two nodes (two ``Cluster`` objects, each with its own sessions) and the
Mastodon test server.

A node stalled mid-poll past its lease (stopped with SIGSTOP, or its read answered late)
holds a read that is stale by the time it wakes: meanwhile the other node took the channel's
lease over and stored what the network shows now.  The stalled node must not write its stale
read over that.  Here the resident edits a mention while node A's read of it is in flight
(Mastodon's notifications carry the status as it is at the time of the request:
https://docs.joinmastodon.org/methods/notifications/ and /entities/Status/, ``edited_at``);
the stored text must be the network's current one, with no "edited" version going back.
"""
from __future__ import annotations

import copy
import threading
import time

import pytest

from schedule.cluster import Cluster
from schedule.database import open_configured
from schedule.inbox import store
from schedule.inbox.fetch import Poller
from tests.ledger.cluster_helpers import SHORT, FakeConfig
from tests.servers import channel_tables, credentials_env
from tests.servers.mastodon import Server as MastodonServer

pytestmark = pytest.mark.slow


@pytest.fixture
def mastodon(project, monkeypatch, pg_url):
    server = MastodonServer().start()
    for key, value in credentials_env("mastodon").items():
        monkeypatch.setenv(key, value)
    project.write_config(channels=channel_tables({"mastodon": server.url}), default_channels='["mastodon"]',
                         extra=f'[inbox]\npoll_minutes = 5\n\n[database]\nurl = "{pg_url}"\n')
    yield server
    server.stop()


def test_a_node_stalled_mid_poll_past_its_lease_writes_nothing_of_its_stale_read(project, mastodon):
    config = project.config()
    nodes, pollers = [], []
    # B's own lease is long, so it does not end A's sessions as presumed dead meanwhile (that
    # happens too, but the first statement after it fails and would hide the stale write).
    for settings in (SHORT, {**SHORT, "lease_seconds": 30}):
        ledger = open_configured(config)
        node = Cluster(ledger, FakeConfig(**settings))
        node.beat()
        nodes.append(node)
        poller = Poller(config, ledger)
        poller.fence = (lambda node: lambda name: node.check_lease(f"inbox:{name}"))(node)
        pollers.append(poller)
    a, b = nodes
    try:
        status = mastodon.resident_status("When is the tip open on Sunday?")
        # A's read of the mentions is answered 6 s late, with what the network had when it
        # arrived: A is stalled mid-poll past its 3 s lease.
        mastodon.inject("created_then_slow", match=r"GET /api/v1/notifications", delay=6.0)
        # The test server encodes its answer only when it sends it; a real one has it as it
        # was when the request was served.  So A's request is served from a copy of the
        # notifications as they are now (the edit below changes the live ones).
        live = mastodon.notifications

        def as_now(request):
            if request.path == "/api/v1/notifications" and mastodon.notifications is live:
                mastodon.notifications = copy.deepcopy(live)
        mastodon.on_request.append(as_now)
        assert a.lease("inbox:mastodon")
        polled: list = []
        stalled = threading.Thread(target=lambda: polled.extend(pollers[0].run(["mastodon"])))
        stalled.start()
        deadline = time.monotonic() + 5
        while not mastodon.calls("GET", r"/api/v1/notifications$") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)                               # A's answer is made; the resident edits after
        mastodon.on_request.remove(as_now)
        mastodon.notifications = live
        mastodon.edit_status(status["id"], "When is the tip open on Sunday and Monday?")
        deadline = time.monotonic() + 10              # B takes the channel over once A's lease ran out
        while time.monotonic() < deadline:
            if b.lease("inbox:mastodon"):
                break
            time.sleep(0.2)
        else:
            pytest.fail("node B never got the channel's lease")
        assert [r["new"] for r in pollers[1].run(["mastodon"])] == [1]
        stalled.join(timeout=30)

        ledger = nodes[1].ledger
        stored = store.by_remote(ledger, "mastodon", status["id"])
        assert stored["text"] == "When is the tip open on Sunday and Monday?", stored
        assert store.events(ledger, message_id=stored["id"], kind="edited") == []
        assert polled and polled[0]["edited"] == 0 and polled[0]["errors"], polled
    finally:
        for node in nodes:
            node.stop()
            node.ledger.close()
