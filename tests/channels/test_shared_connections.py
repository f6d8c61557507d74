"""Two accounts of one network reuse one connection to its host (#12, `sessions.shared_connections`).

Each account (channel) has its own client library object and session; before #12 each had
its own connection pool, so a burst opened a new connection for nearly every post.  The
pools now belong to one transport adapter per network, shared by the sessions: the second
account's post goes out on the connection the first opened, still with its own credentials
(each test server checks the request's own Authorization / OAuth signature, and answers
401 to a wrong one), and its cookies stay its own.
"""
from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from schedule.secrets import env_name
from tests.helpers import make_variant

NETWORKS = ["x", "mastodon", "linkedin", "facebook"]


def _pools(session):
    """urllib3's connection pools behind the session's adapters, by (scheme, host, port)."""
    pools = {}
    for adapter in {id(a): a for a in session.adapters.values()}.values():
        for key in adapter.poolmanager.pools.keys():
            pools[(key.key_scheme, key.key_host, key.key_port)] = adapter.poolmanager.pools[key]
    return pools


def _session(channel):
    return {"x": lambda: channel.client().session, "mastodon": lambda: channel.client().session,
            "linkedin": lambda: channel.session(), "facebook": lambda: channel.api().session}[channel.network]()


@pytest.mark.parametrize("network", NETWORKS)
def test_a_second_account_reuses_the_first_accounts_connection(network, open_harness, monkeypatch):
    harness = open_harness(network)
    first = harness.channel
    second = type(first)(replace(first.config, name=f"second_{network}"), first.timeout)
    for field in first.secret_fields:
        monkeypatch.setenv(env_name(second.name, field), first.secret(field))

    a = first.publish(make_variant(first, ["Bin day moves to Tuesday (first account)."]), key="shared-1")
    b = second.publish(make_variant(second, ["Bin day moves to Tuesday (second account)."]), key="shared-2")
    assert a.remote_id and b.remote_id and a.remote_id != b.remote_id

    one, two = _session(first), _session(second)
    assert one is not two and one.cookies is not two.cookies        # each account keeps its own session
    server = urlsplit(harness.server.url)
    where = (server.scheme, server.hostname, server.port)
    pool = _pools(two)[where]
    assert pool is _pools(one)[where]
    # Both posts (and the requests before them) on one connection: it was opened once.
    assert pool.num_connections == 1 and pool.num_requests >= 2
