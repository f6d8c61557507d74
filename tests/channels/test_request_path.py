"""The per-request work our sessions and adapters save (#12's burst), with what goes on the
wire unchanged.

- ``steady_environment``: a burst's first requests read the environment once, not once per
  worker thread (each read walks all of ``os.environ``: requests.utils.get_environ_proxies).
- a session has no params of its own, so requests does not merge them into every request
  (``requests.sessions.merge_setting``; each merge makes runtime-checkable Protocol checks,
  ``requests._types.SupportsItems``, which Python 3.11 evaluates in Python); the prepared
  request (URL with its query, headers, body) is the same as a plain requests.Session's.
- the shared adapters keep their answer to "is the CA bundle a folder?" per bundle path:
  requests asks the file system on every request (``requests.adapters._urllib3_request_context``
  calls os.path.isdir when REQUESTS_CA_BUNDLE, or ``verify``, names a path), with the same
  pool key as requests' own.
- http.cookiejar reads a response for cookies only when it sets one: requests runs its
  extraction twice per response (the response's jar and the session's), and no network we
  post to sets a cookie; a cookie that is set is kept and sent back, as requests would.
"""
from __future__ import annotations

import os
import threading
import time
import typing

import pytest
import requests

from schedule.channels import sessions as channel_sessions
from schedule.channels.sessions import prepare_session, shared_connections, steady_environment
from tests.servers import mastodon


@pytest.fixture
def server():
    started = mastodon.Server().start()
    yield started
    started.stop()


def test_a_burst_of_first_requests_reads_the_environment_once(server, monkeypatch):
    # requests reads the proxies from the environment in get_environ_proxies (requests/utils.py),
    # called by Session.merge_environment_settings.  The count wraps requests' own function
    # and lingers in it, as a walk of a big environment (hundreds of accounts' credentials) does.
    calls = []
    real = requests.sessions.get_environ_proxies

    def counted(*args, **kwargs):
        calls.append(threading.get_ident())
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counted)
    monkeypatch.setattr(channel_sessions, "_ENVIRONMENT_ANSWERS", {})
    sessions = [shared_connections(steady_environment(requests.Session())) for _ in range(12)]
    start = threading.Barrier(len(sessions))
    answers = []

    def first_request(session):
        start.wait()
        answers.append(session.get(f"{server.url}/api/v1/instance", timeout=10).status_code)

    threads = [threading.Thread(target=first_request, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * len(sessions)
    assert len(calls) == 1, f"the environment was read {len(calls)} times for one host"


def _protocol_checks(monkeypatch) -> list:
    checked = []
    real = typing._ProtocolMeta.__instancecheck__

    def counted(cls, instance):
        checked.append(cls.__name__)
        return real(cls, instance)

    monkeypatch.setattr(typing._ProtocolMeta, "__instancecheck__", counted)
    return checked


def test_a_session_does_not_merge_params_into_every_request(server, monkeypatch):
    # requests 2.34, a JSON post through a plain Session makes 8 Protocol checks: merging the
    # headers (2), the params (2) and the environment's proxies (2: merge_environment_settings),
    # and encoding the query (2).  Ours keep only the headers' merge and the query's encoding.
    plain = requests.Session()
    ours = steady_environment(requests.Session())
    url = f"{server.url}/api/v1/statuses"
    plain.post(url, json={"status": "warm"}, timeout=10)
    ours.post(url, json={"status": "warm"}, timeout=10)
    checked = _protocol_checks(monkeypatch)
    plain.post(url, json={"status": "Library hours change"}, timeout=10)
    assert len(checked) == 8, checked                   # requests' own count, as above
    checked.clear()
    ours.post(url, json={"status": "Library hours change"}, timeout=10)
    assert len(checked) == 4, checked
    assert [r.body for r in server.calls("POST")][-2:] == [b'{"status": "Library hours change"}'] * 2


@pytest.mark.parametrize("params", [None, {}, {"limit": "40", "max_id": None, "q": "pool closed"},
                                    [("tag", "a"), ("tag", "b")], "exclude_reblogs=true", {"ids[]": ["1", "2"]}])
def test_the_prepared_request_is_requests_own(params):
    """URL (with its query), headers and body as a plain requests.Session prepares them."""
    def prepared(session):
        return session.prepare_request(requests.Request("GET", "https://mastodon.example/api/v1/timelines/home",
                                                        params=params, headers={"Authorization": "Bearer t"}))

    plain, ours = prepared(requests.Session()), prepared(steady_environment(requests.Session()))
    assert (ours.method, ours.url, dict(ours.headers), ours.body) == \
        (plain.method, plain.url, dict(plain.headers), plain.body)


def test_session_params_set_by_a_library_still_apply():
    session = requests.Session()
    session.params = {"api_key": "k"}
    steady_environment(session)
    request = session.prepare_request(requests.Request("GET", "https://example.org/x", params={"a": "1"}))
    assert request.url == "https://example.org/x?api_key=k&a=1"


def test_the_ca_bundle_is_not_looked_up_on_every_request(server, monkeypatch, tmp_path):
    # REQUESTS_CA_BUNDLE (requests.sessions.merge_environment_settings) makes `verify` a path;
    # requests.adapters._urllib3_request_context then calls os.path.isdir(verify) per request.
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    looked = []
    real = os.path.isdir
    monkeypatch.setattr(os.path, "isdir", lambda path: looked.append(path) or real(path))
    session = shared_connections(steady_environment(requests.Session()), key=("test-ca-bundle",))
    for number in range(5):
        session.post(f"{server.url}/api/v1/statuses", json={"status": f"Notice {number}"}, timeout=10)
    assert looked.count(str(bundle)) == 1, looked          # looked up once, and the bundle is honoured
    looked.clear()
    plain = requests.Session()
    for number in range(5):
        plain.post(f"{server.url}/api/v1/statuses", json={"status": f"Plain {number}"}, timeout=10)
    assert looked.count(str(bundle)) == 5, looked          # control: requests' own path asks on each request


@pytest.mark.parametrize("url", ["https://graph.example:8443/v25.0/1/feed", "http://127.0.0.1:5000/rest/posts?x=1",
                                 "https://api.x.example", "HTTPS://Mastodon.Example/api/v1/statuses"])
@pytest.mark.parametrize("verify", [True, False, "ca-file", "ca-folder"])
@pytest.mark.parametrize("cert", [None, "client.pem", ("client.crt", "client.key")])
def test_the_pool_key_is_requests_own(url, verify, cert, tmp_path):
    from requests.adapters import HTTPAdapter

    from schedule.channels.sessions import steady_adapter_class

    (tmp_path / "ca-folder").mkdir()
    (tmp_path / "ca-file").write_text("")
    verify = str(tmp_path / verify) if isinstance(verify, str) else verify
    request = requests.Request("POST", url, json={"a": 1}).prepare()
    ours = steady_adapter_class()()
    for _ in range(2):                                   # the answer made, then the answer kept
        assert ours.build_connection_pool_key_attributes(request, verify, cert) == \
            HTTPAdapter().build_connection_pool_key_attributes(request, verify, cert)


# ----- cookies: http.cookiejar runs only for a response that sets one --------------------------
def _cookie_extractions(monkeypatch) -> list:
    """Each time http.cookiejar reads a response for cookies (requests runs it twice per
    response: into the response's jar in HTTPAdapter.build_response, into the session's in
    Session.send; requests/adapters.py and requests/sessions.py)."""
    import http.cookiejar

    read = []
    real = http.cookiejar.CookieJar.extract_cookies
    monkeypatch.setattr(http.cookiejar.CookieJar, "extract_cookies",
                        lambda self, response, request: read.append(response) or real(self, response, request))
    return read


@pytest.mark.parametrize("network", ["x", "mastodon", "linkedin", "facebook"])
def test_a_post_whose_answer_sets_no_cookie_is_not_read_for_cookies(network, open_harness, monkeypatch):
    from tests.helpers import make_variant

    harness = open_harness(network)
    channel = harness.channel
    channel.publish(make_variant(channel, ["Warm-up: the pool reopens on Monday."]), key="k-warm")
    read = _cookie_extractions(monkeypatch)
    receipt = channel.publish(make_variant(channel, ["The library opens late on Thursday."]), key="k-cookies")
    assert harness.posted_text(receipt) == "The library opens late on Thursday."
    assert read == []


def test_a_cookie_a_network_sets_is_kept_and_sent_back(open_harness, monkeypatch):
    """RFC 6265: a cookie set by a response is sent with the next request to that host."""
    from tests.servers.base import Response

    harness = open_harness("linkedin")
    harness.server.route("GET", "/cookie/set", lambda request: Response(200, {"ok": True}, {
        "Set-Cookie": "lb_affinity=node-7; Path=/"}))
    harness.server.route("GET", "/cookie/echo", lambda request: Response(200, {"cookie": request.header("Cookie")}))
    session = harness.channel.session()
    read = _cookie_extractions(monkeypatch)
    answer = session.get(f"{harness.server.url}/cookie/set", timeout=10)
    assert len(read) == 2                                  # requests' own extraction, both jars
    assert answer.cookies.get("lb_affinity") == "node-7"
    assert session.cookies.get("lb_affinity") == "node-7"
    assert session.get(f"{harness.server.url}/cookie/echo", timeout=10).json() == {"cookie": "lb_affinity=node-7"}


def test_a_response_is_built_as_requests_builds_it(server):
    """Status, headers, encoding, reason, URL, body, request and (no) cookies as a plain
    requests.Session's response, for a JSON answer and an error."""
    def seen(response):
        return (response.status_code, dict(response.headers), response.encoding, response.reason, response.url,
                response.content, response.request.url, dict(response.cookies), response.history,
                isinstance(response.connection, requests.adapters.HTTPAdapter))

    ours = prepare_session(requests.Session(), key=("test-build-response",))
    plain = requests.Session()
    for path in ("/api/v1/instance", "/api/v1/no-such-thing"):
        a, b = ours.get(f"{server.url}{path}", timeout=10), plain.get(f"{server.url}{path}", timeout=10)
        a.headers.pop("Date", None), b.headers.pop("Date", None)
        assert seen(a) == seen(b)
