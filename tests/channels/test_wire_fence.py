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
import sys

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
    """A lease check that runs out after ``fresh_for`` calls, noting who called it each time:
    ``creating`` (base.py) or the wire (wire_fence.run_check)."""

    def __init__(self, fresh_for: int):
        self.fresh_for, self.callers = fresh_for, []

    def __call__(self) -> None:
        self.callers.append(sys._getframe(1).f_code.co_name)
        if len(self.callers) > self.fresh_for:
            raise Fenced("node n1 has not renewed its lease on delivery 7 for too long: it sends nothing for it")


@pytest.fixture(params=NETWORKS)
def harness(request, open_harness):
    return open_harness(request.param)


def test_a_lease_that_runs_out_after_creatings_check_stops_the_post_at_the_wire(harness):
    text = unique("The leisure centre pool is closed on Monday for repairs.")
    lease = Lease(fresh_for=1)                  # fresh for creating()'s own check only
    with before_create(lease), pytest.raises(Fenced, match="sends nothing"):
        harness.channel.publish(make_variant(harness.channel, [text]), key="k-fenced")
    assert lease.callers == ["creating", "run_check"]      # creating(), then the wire, which refused
    assert harness.count_posts_with(text) == 0  # nothing reached the network


def test_a_lease_that_runs_out_between_the_headers_and_the_body_stops_the_post(harness):
    """The headers left, the body did not: the connection is closed with the request
    incomplete (RFC 9112 section 6.3: when the connection closes before the Content-Length
    is received, "the recipient MUST consider the message to be incomplete and close the
    connection"; section 8, incomplete messages), so no network can act on it."""
    text = unique("The library opens late on Thursday for staff training.")
    lease = Lease(fresh_for=2)                  # creating(), the headers; then it runs out
    with before_create(lease), pytest.raises(Fenced, match="sends nothing"):
        harness.channel.publish(make_variant(harness.channel, [text]), key="k-half")
    assert lease.callers == ["creating", "run_check", "run_check"]
    assert harness.count_posts_with(text) == 0


def test_with_a_fresh_lease_the_post_is_made_and_uploads_are_not_checked(harness, tmp_path):
    """Only the create call is checked at the wire: an image uploaded before it (X, Mastodon,
    Bluesky, LinkedIn, Instagram and Threads upload or stage it first) is not; the create
    request is, before each of its writes (headers, body)."""
    picture = image(tiny_png(tmp_path / "pool.png"), alt="The pool with six lanes")
    media = (picture,) if harness.channel.max_images else ()
    text = unique("The new pool opens on Saturday.")
    lease = Lease(fresh_for=1000)
    with before_create(lease):
        receipt = harness.channel.publish(make_variant(harness.channel, [text], media=media), key="k-fresh")
    assert harness.posted_text(receipt) == text
    assert lease.callers[0] == "creating" and set(lease.callers[1:]) == {"run_check"}, lease.callers
