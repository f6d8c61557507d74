"""A login in the admin's netrc file never reaches a network (#12 review), with the control
that shows the file is read in this very environment.

requests' documented rule: "If no authentication method is given with the auth argument,
Requests will attempt to get the authentication credentials for the URL's hostname from the
user's netrc file. The netrc file overrides raw HTTP authentication headers set with
headers=." (https://requests.readthedocs.io/en/latest/user/authentication/#netrc-authentication;
a ``default`` entry matches every host, and requests reads the file named by ``NETRC``.)

The cases are the channels whose library leaves that choice to the session, so only
civicpost's own session set-up (schedule/channels/sessions.py, ``without_netrc``) keeps
the login out: LinkedIn (requests, its token in its own Authorization header, which the
login would replace) and the Facebook Page (pyfacebook on requests, its token in the form:
the login would go along).  X and Mastodon are not cases, because no civicpost code could
make them send it: tweepy passes its OAuth 1.0a signer as ``auth=`` on every request
(tweepy/client.py, ``BaseClient.request``) and Mastodon.py passes ``auth=lambda x: x``
(mastodon/internals.py, ``__api_request``, commented as guarding against a netrc file), so
requests never looks the file up for them; with civicpost's guard removed their cases
still passed, so they proved nothing.
"""
from __future__ import annotations

import base64
import importlib

import pytest
import requests

from tests.helpers import make_variant

PASSWORD = "netrc-password-of-the-admin"
BASIC = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()    # RFC 7617


@pytest.fixture
def netrc(tmp_path, monkeypatch):
    path = tmp_path / "netrc"
    path.write_text(f"default login admin password {PASSWORD}\n")
    path.chmod(0o600)                        # as netrc(5) wants a file holding passwords
    monkeypatch.setenv("NETRC", str(path))
    return path


def sent_text(request) -> str:
    return " ".join(f"{k}: {v}" for k, v in request.headers.items()) + " " + request.body.decode("latin-1")


@pytest.mark.parametrize("network", ["linkedin", "facebook"])
def test_the_admins_netrc_login_reaches_a_plain_session_but_never_the_channel(network, netrc, tmp_path, monkeypatch):
    harness = importlib.import_module(f"tests.channels.harness_{network}").Harness(tmp_path, monkeypatch)
    try:
        # The control: in this environment a plain requests session does send the login, to
        # this same server (so the case below could fail).
        requests.Session().get(f"{harness.server.url}/netrc-control", timeout=10)
        (control,) = harness.server.calls("GET", r"/netrc-control$")
        assert control.header("Authorization") == BASIC
        harness.server.clear()

        receipt = harness.channel.publish(make_variant(harness.channel, ["The museum is free this weekend."]),
                                          key="netrc-1")
        assert receipt.remote_id                 # posted with the channel's own credentials
        calls = harness.server.calls()
        assert calls
        leaked = [(r.method, r.path) for r in calls if PASSWORD in sent_text(r) or BASIC in sent_text(r)]
        assert not leaked, f"the netrc login was sent with {leaked}"
    finally:
        harness.close()


@pytest.fixture
def redirecting():
    """A test server whose GET /moved answers 307 to /here on the same host (RFC 9110 section
    15.4.8: the request is repeated, unchanged, at the new address)."""
    from tests.servers import mastodon
    from tests.servers.base import Response

    with mastodon.Server() as server:
        server.route("GET", "/moved", lambda request: Response(307, None, {"Location": "/here"}))
        server.route("GET", "/here", lambda request: Response(200, {}))
        yield server


def seen(server) -> list:
    """Each redirect-test request's path and Authorization header, in order."""
    return [(r.path, r.header("Authorization")) for r in server.calls("GET", r"^/(moved|here)$")]


def test_a_redirect_never_carries_the_netrc_login(netrc, redirecting):
    """requests reads the netrc file again on every redirect (``Session.rebuild_auth``) and
    puts its login in place of the request's own header, even when the session has an auth of
    its own; a channel's session (``prepare_session``) keeps its own header on a same-host
    redirect, as requests' rule does, and never sends the login."""
    from schedule.channels.sessions import prepare_session

    token = {"Authorization": "Bearer channel-token"}
    control = requests.Session()
    control.auth = lambda request: request          # a session with an auth of its own
    control.get(f"{redirecting.url}/moved", headers=token, timeout=10)
    assert seen(redirecting) == [("/moved", "Bearer channel-token"), ("/here", BASIC)]   # the control: it leaks

    redirecting.clear()
    ours = prepare_session(requests.Session(), key=("netrc-redirect-test",))
    ours.get(f"{redirecting.url}/moved", headers=token, timeout=10)
    assert seen(redirecting) == [("/moved", "Bearer channel-token"), ("/here", "Bearer channel-token")]
