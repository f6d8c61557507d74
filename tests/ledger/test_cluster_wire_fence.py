"""Nothing posted twice (#12): a node whose lease runs out while its client library is still
preparing the create request sends nothing; the node that takes the delivery over posts it
once.  In-process on a real PostgreSQL 15, the real publisher and cluster node, real client
libraries (pyfacebook, and LinkedIn's own calls, over requests; atproto over httpx) against the
project's test servers and the real Bluesky PDS.

The frozen node (SIGSTOP inside the library, issue #12's chaos test) is stood in for by the
test's own session set-up: requests' auth hook (which requests runs in prepare_request) or
an httpx request event hook, each waiting, for the create request only, until the node's
lease on the delivery has run out by its own clock (``Cluster.may_send_for``).  No heartbeat
runs (a stopped process renews nothing).  ``creating()``'s check has passed by then; the
request must still not reach the server.

Networks' rules relied on: a Facebook Page post is POST /{page-id}/feed
(https://developers.facebook.com/docs/pages-api/posts), a LinkedIn post POST /rest/posts
(https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api), a Bluesky post
com.atproto.repo.createRecord (https://docs.bsky.app/docs/api/com-atproto-repo-create-record).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from schedule.alerts import Alerter
from schedule.cluster import Cluster
from schedule.publisher import Publisher
from schedule.render import Renderer
from schedule.scanner import ContentScanner
from tests.ledger.cluster_helpers import SHORT, FakeConfig, register
from tests.servers import channel_tables, credentials_env, graph, linkedin, pds

NOW = datetime.now(timezone.utc) + timedelta(minutes=5)        # due for the publisher (grace 15 min)
TEXT = "Storm warning: the seafront road is closed from 6pm tonight."
CREATE = {"linkedin": r"^/rest/posts$", "facebook": rf"/{graph.PAGE_ID}/feed$",
          "bluesky": r"/xrpc/com\.atproto\.repo\.createRecord$"}


class Network:
    """One network's test server, its config table, and how to read what it was sent."""

    def __init__(self, name: str, monkeypatch):
        self.name = name
        if name == "bluesky":
            from tests.servers.proxy import Server

            if pds.unavailable():
                pytest.skip(pds.unavailable())
            self.pds = pds.shared_pds()
            handle, password = f"fenced{os.getpid()}.test", "fenced-app-pass-1"     # one per process
            self.pds.account(handle, password)
            self.server = Server(self.pds.url).start()      # the PDS behind a proxy that records requests
            self.table = f'[channels.bluesky]\nnetwork = "bluesky"\nhandle = "{handle}"\napi_base = "{self.server.url}"\n'
            monkeypatch.setenv("CIVICPOST_BLUESKY_APP_PASSWORD", password)
        else:
            self.server = (linkedin.Server() if name == "linkedin" else graph.Server()).start()
            self.table = channel_tables({name: self.server.url})
            for key, value in credentials_env(name).items():
                monkeypatch.setenv(key, value)

    def creates(self) -> int:
        return sum(1 for r in self.server.calls("POST") if re.search(CREATE[self.name], r.path))

    def stall_create(self, channel, until) -> None:
        """The test's session set-up: the create request waits in the client library until
        ``until()``, after creating()'s check and before anything is written."""
        def wait() -> None:
            deadline = time.monotonic() + 30
            while not until() and time.monotonic() < deadline:
                time.sleep(0.02)

        if self.name == "bluesky":
            def hook(request):                  # httpx runs request hooks before its transport
                if request.method == "POST" and re.search(CREATE["bluesky"], request.url.path):
                    wait()
            channel.client().request._client.event_hooks["request"].append(hook)
            return
        # (Mastodon.py passes its own no-op auth with each request, so it is tested in
        # tests/channels/test_wire_fence.py only.)
        session = channel.session() if self.name == "linkedin" else channel.api().session
        inner = session.auth

        def auth(request):                      # requests runs it in prepare_request
            if request.method == "POST" and re.search(CREATE[self.name], request.path_url.split("?")[0]):
                wait()
            return inner(request) if inner else request
        session.auth = auth


@pytest.fixture(params=["facebook", "linkedin", "bluesky"])
def network(request, monkeypatch):
    found = Network(request.param, monkeypatch)
    yield found
    found.server.stop()


def test_a_lease_that_runs_out_while_the_library_prepares_the_post_sends_nothing(network, project, pg_url,
                                                                                  open_ledger_at, caplog):
    project.write_config(channels=network.table, default_channels=f'["{network.name}"]',
                         extra=f'[database]\nurl = "{pg_url}"\n')
    project.post("storm.md", f"publish_at: {NOW.isoformat()}\nchannels: [{network.name}]", TEXT)
    config = project.config()
    scanner = ContentScanner(config)

    def items(item_id):
        return {i.id: i for i in scanner.scan().items}.get(item_id)

    made: list[Cluster] = []

    def node():
        ledger = open_ledger_at(pg_url)
        cluster = Cluster(ledger, FakeConfig(**SHORT))          # a node sends for 2 s after a renewal
        register(cluster)
        cluster.beat()                                          # once: no heartbeat thread (stopped)
        made.append(cluster)
        alerter = Alerter((), ledger, sender=lambda title, body: True)
        return Publisher(config, ledger, Renderer(config), alerter, items, cluster=cluster)

    reader = open_ledger_at(pg_url)
    item = items("storm")
    delivery = reader.add(item.id, network.name, network.name, NOW, item_digest=item.digest, source=item.rel)
    try:
        frozen = node()
        channel = frozen.renderer.channel(network.name)
        network.stall_create(channel, until=lambda: not frozen.cluster.may_send_for(delivery))
        frozen.cluster.beat()     # renewed just now: under load the set-up above can outlast the 2 s window
        with caplog.at_level(logging.ERROR, logger="civicpost.publish"):
            state = frozen.run(delivery)

        # Nothing reached the network, and nothing says it may have: not sent.
        assert network.creates() == 0, "the post was sent after this node's lease ran out"
        assert state == "publishing"
        assert any("NOT SENT" in r.getMessage() for r in caplog.records)
        row = reader.get(delivery)
        assert row["state"] == "publishing" and row["remote_id"] is None and reader.parts(delivery) == []
        assert [e["to_state"] for e in reader.events(delivery)] == ["scheduled", "publishing"]

        # Once the lease has run out by the database's clock, another node takes it over,
        # asks the network (nothing there) and posts it: once.
        other = node()
        deadline = time.monotonic() + 20
        while delivery not in other.cluster.take_over():
            assert time.monotonic() < deadline, "the other node could not take the delivery over"
            time.sleep(0.2)
            other.cluster.beat()
        assert other.recover(reader.get(delivery)) == "retrying"
        assert other.run(delivery) == "posted"
        assert network.creates() == 1
        row = reader.get(delivery)
        assert row["state"] == "posted" and row["claimed_by"] == other.cluster.node_id
        assert "sent-after-change" not in [e["kind"] for e in reader.events(delivery)]
    finally:
        for cluster in made:
            with contextlib.suppress(Exception):               # the frozen node's sessions were ended
                cluster.stop()
