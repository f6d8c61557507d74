"""The last fencing check of a post runs as its request's first bytes leave (#12), on every
network, through each one's real client library against its test server (or the real PDS).

The publisher hands the channel its lease check (``base.before_create``; on a cluster,
``Cluster.check_send``: the monotonic clock against the last renewal).  Here the check is
a lease that is fresh when ``creating()`` asks and has run out by the time the client
library has prepared the create request: the request must never reach the network, and
the failure must be the check's own ``Fenced`` (not sent), not a Transient or Ambiguous
made of it by the library.  tests/ledger/test_cluster_wire_fence.py does the same with
real time passing, a real cluster node and PostgreSQL.
"""
from __future__ import annotations

import pkgutil

import pytest

import tests.channels as harness_pkg
from schedule.channels.base import before_create
from schedule.cluster import Fenced
from tests.channels.test_contract import unique
from tests.helpers import image, make_variant, tiny_png

# Every network that posts over HTTP (the log channel writes a local log).
NETWORKS = sorted(m.name.removeprefix("harness_") for m in pkgutil.iter_modules(harness_pkg.__path__)
                  if m.name.startswith("harness_") and m.name != "harness_log")


class Lease:
    """A lease check that counts its calls and runs out after ``fresh_for`` of them."""

    def __init__(self, fresh_for: int):
        self.fresh_for, self.calls = fresh_for, 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls > self.fresh_for:
            raise Fenced("node n1 has not renewed its lease on delivery 7 for too long: it sends nothing for it")


@pytest.fixture(params=NETWORKS)
def harness(request, open_harness):
    return open_harness(request.param)


def test_a_lease_that_runs_out_after_creatings_check_stops_the_post_at_the_wire(harness):
    text = unique("The leisure centre pool is closed on Monday for repairs.")
    lease = Lease(fresh_for=1)                  # fresh for creating()'s own check only
    with before_create(lease), pytest.raises(Fenced, match="sends nothing"):
        harness.channel.publish(make_variant(harness.channel, [text]), key="k-fenced")
    assert lease.calls == 2                     # creating(), then the wire, which refused
    assert harness.count_posts_with(text) == 0  # nothing reached the network


def test_with_a_fresh_lease_the_post_is_made_and_uploads_are_not_checked(harness, tmp_path):
    """Only the create call is checked: an image uploaded before it (X, Mastodon, Bluesky,
    LinkedIn upload first) adds no check; the create request adds one (YouTube's create is
    its resumable upload: one check for each of its requests)."""
    picture = image(tiny_png(tmp_path / "pool.png"), alt="The pool with six lanes")
    media = (picture,) if harness.channel.max_images else ()
    text = unique("The new pool opens on Saturday.")
    lease = Lease(fresh_for=100)
    with before_create(lease):
        receipt = harness.channel.publish(make_variant(harness.channel, [text], media=media), key="k-fresh")
    assert harness.posted_text(receipt) == text
    if harness.network == "youtube":
        assert lease.calls >= 2
    else:
        assert lease.calls == 2                 # creating(), and the create request as it left
