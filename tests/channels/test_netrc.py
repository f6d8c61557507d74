"""A login in the admin's ``~/.netrc`` never reaches a network (#12 review).

requests' documented rule: "If no authentication method is given with the auth argument,
Requests will attempt to get the authentication credentials for the URL's hostname from the
user's netrc file. The netrc file overrides raw HTTP authentication headers set with
headers=." (https://requests.readthedocs.io/en/latest/user/authentication/#netrc-authentication;
a ``default`` entry matches every host, and requests reads the file named by ``NETRC``.)
So a channel that sends its token in its own Authorization header (LinkedIn) would have it
replaced by that login, and one whose token goes in the form (Graph) would send the login
along: someone else's password sent to the network.
"""
from __future__ import annotations

import base64

import pytest

from tests.helpers import make_variant

NETWORKS = ["x", "mastodon", "linkedin", "facebook"]
PASSWORD = "netrc-password-of-the-admin"


@pytest.mark.parametrize("network", NETWORKS)
def test_a_netrc_default_login_is_never_sent(network, open_harness, monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text(f"default login admin password {PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    harness = open_harness(network)
    receipt = harness.channel.publish(make_variant(harness.channel, ["The museum is free this weekend."]),
                                      key="netrc-1")
    assert receipt.remote_id                    # the post went out with the channel's own credentials
    basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    for request in harness.server.calls():
        sent = " ".join(f"{k}: {v}" for k, v in request.headers.items()) + request.body.decode("latin-1")
        assert PASSWORD not in sent and basic not in sent, (request.method, request.path)
