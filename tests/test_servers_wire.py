"""The test servers' HTTP/1.1 as a client sees it (tests/servers/http11.py, #12).

The servers were moved off http.server to cut their CPU per request (bench/burst.py runs
them beside the daemons it measures); these tests hold them to what a client saw before:
HTTP/1.1 message syntax and persistence per RFC 9112 (sections 2.1, 3, 6.1, 7.1, 9.3,
9.3.2), Expect: 100-continue per RFC 9110 section 10.1.1, and http.server's own choices
(its Server header "BaseHTTP/0.6 Python/x.y.z", its HTML error pages, Connection: close
after an error).  Each was also run against the http.server version (it passes there: they
guard against change), except test_connections_do_not_each_take_a_thread, which is the
change itself.
"""
from __future__ import annotations

import http.client
import json
import re
import socket
import sys
import threading
import time

import pytest

from tests.servers import mastodon, x

OAUTH = 'OAuth oauth_consumer_key="x-consumer_key", oauth_signature="s"'


@pytest.fixture
def server():
    with mastodon.Server() as running:
        yield running


_unread: dict[int, bytes] = {}      # what a read took beyond one response, per socket


def read_answer(sock: socket.socket) -> tuple[str, list[tuple[str, str]], bytes]:
    """One response off a raw socket: status line, headers in order, body (Content-Length)."""
    data = _unread.pop(sock.fileno(), b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
    length = int(dict((k.lower(), v) for k, v in headers).get("content-length", "0"))
    while len(rest) < length:
        rest += sock.recv(65536)
    if rest[length:]:
        _unread[sock.fileno()] = rest[length:]
    return lines[0], headers, rest[:length]


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(2)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_answer_is_http_servers_status_line_and_headers(server):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /api/v1/instance HTTP/1.1\r\nHost: mastodon.test\r\n\r\n")
        status, headers, body = read_answer(sock)
    assert status == "HTTP/1.1 200 OK"
    names = [name for name, _ in headers]
    assert names == ["Server", "Date", "Content-Type", "Content-Length"]
    assert dict(headers)["Server"] == f"BaseHTTP/0.6 Python/{sys.version.split()[0]}"
    # RFC 9110 section 5.6.7: IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", dict(headers)["Date"])
    assert dict(headers)["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(body) == {"uri": "mastodon.test", "version": "4.2.0"}


def test_connection_persists_until_the_client_says_close(server):
    """RFC 9112 section 9.3: HTTP/1.1 persists unless "close" is sent; after "close" the
    server closes once it has answered."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        for _ in range(3):
            sock.sendall(b"GET /api/v1/instance HTTP/1.1\r\nHost: a\r\n\r\n")
            assert read_answer(sock)[0] == "HTTP/1.1 200 OK"
        sock.sendall(b"GET /api/v1/instance HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert read_answer(sock)[0] == "HTTP/1.1 200 OK"
        assert closed_by_server(sock)
    assert len({r.client for r in server.calls()}) == 1          # one connection for all four


def test_http10_closes_unless_keep_alive(server):
    """RFC 9112 section 9.3: an HTTP/1.0 connection persists only with keep-alive."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /api/v1/instance HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert read_answer(sock)[0] == "HTTP/1.1 200 OK"
        sock.sendall(b"GET /api/v1/instance HTTP/1.0\r\n\r\n")
        assert read_answer(sock)[0] == "HTTP/1.1 200 OK"
        assert closed_by_server(sock)


def test_pipelined_requests_are_answered_in_order(server):
    """RFC 9112 section 9.3.2: responses in the order the requests were received."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /api/v1/statuses/1 HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"GET /api/v1/instance HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_answer(sock)[0] == "HTTP/1.1 404 Not Found"
        assert read_answer(sock)[0] == "HTTP/1.1 200 OK"


def test_chunked_body_is_decoded():
    """RFC 9112 section 7.1: chunk sizes in hex, a zero chunk, then the trailer section."""
    with x.Server() as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        body = b'{"text": "Bins are collected on Friday"}'
        sock.sendall(f"POST /2/tweets HTTP/1.1\r\nHost: a\r\nAuthorization: {OAUTH}\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                     + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:]))
        status, _, answer = read_answer(sock)
        assert status == "HTTP/1.1 201 Created"
        assert json.loads(answer)["data"]["text"] == "Bins are collected on Friday"
        assert server.calls("POST")[0].body == body


def test_expect_100_continue(server):
    """RFC 9110 section 10.1.1: a 100 (Continue) before the client sends the content."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        body = b"status=Hello"
        sock.sendall(b"POST /api/v1/statuses HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n"
                     b"Expect: 100-continue\r\n\r\n" % (mastodon.TOKEN.encode(), len(body)))
        sock.settimeout(5)
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        status, _, answer = read_answer(sock)
    assert status == "HTTP/1.1 200 OK"
    assert json.loads(answer)["content"] == "<p>Hello</p>"


def test_unsupported_method_gets_http_servers_error_page(server):
    """http.server answers a method it has no do_* for with 501 (RFC 9110 section 15.6.2),
    its HTML page and Connection: close."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"OPTIONS /api/v1/instance HTTP/1.1\r\nHost: a\r\n\r\n")
        status, headers, body = read_answer(sock)
        assert status == "HTTP/1.1 501 Unsupported method ('OPTIONS')"
        assert dict(headers)["Connection"] == "close"
        assert dict(headers)["Content-Type"] == "text/html;charset=utf-8"
        assert b"<p>Error code: 501</p>" in body
        assert closed_by_server(sock)
    assert server.calls() == []


def test_request_cut_short_is_never_handed_on(server):
    """A client that dies mid-body: the request never reaches a handler (seen in test_crash)."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /api/v1/statuses HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nstatus=Hel")
    time.sleep(0.3)
    assert server.calls() == []


def test_drop_fault_closes_without_an_answer(server, capfd):
    server.inject("drop")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/api/v1/instance")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        connection.getresponse()
    connection.close()
    connection.request("GET", "/api/v1/instance")      # the fault is spent: a new connection is answered
    assert connection.getresponse().status == 200
    connection.close()
    assert "Traceback" not in capfd.readouterr().err   # the fault itself, not a server crashing


def test_a_request_whose_client_left_is_still_acted_on():
    """The network acts on what it received even if the client times out (and a post made
    that way must be found later): the delay ends, the handler runs, the answer is lost."""
    with x.Server(latency=0.3) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        body = b'{"text": "Library opening hours"}'
        sock.sendall(b"POST /2/tweets HTTP/1.1\r\nHost: a\r\nAuthorization: %s\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (OAUTH.encode(), len(body), body))
        time.sleep(0.05)
        sock.close()
        time.sleep(0.6)
        assert [t["text"] for t in server.tweets.values()] == ["Library opening hours"]


def test_answers_are_delayed_by_latency_and_overlap():
    """The bench's answer delay: each answer after `latency`, many connections at once."""
    with mastodon.Server(latency=0.3) as server:
        results: list[float] = []

        def ask() -> None:
            start = time.monotonic()
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request("GET", "/api/v1/instance")
            assert connection.getresponse().status == 200
            results.append(time.monotonic() - start)
            connection.close()

        started = time.monotonic()
        threads = [threading.Thread(target=ask) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 20 and min(results) >= 0.3
        assert time.monotonic() - started < 0.3 * 5          # overlapping, not one after another


def test_a_blocking_hook_does_not_hold_up_other_connections(server):
    """Tests act in on_request hooks (and may wait there), as they did in http.server's
    connection threads: other connections are answered meanwhile."""
    release = threading.Event()
    server.on_request.append(lambda request: request.path == "/api/v1/statuses/7" and release.wait(10))
    waiting = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    waiting.request("GET", "/api/v1/statuses/7")
    other = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    other.request("GET", "/api/v1/instance")
    assert other.getresponse().status == 200
    release.set()
    assert waiting.getresponse().status == 404
    waiting.close()
    other.close()


def test_stop_refuses_new_connections_and_still_answers_open_ones():
    """As http.server's daemon connection threads did: stop() closes the listening socket
    at once; a connection already open is still answered."""
    server = mastodon.Server().start()
    open_one = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    open_one.request("GET", "/api/v1/instance")
    assert open_one.getresponse().read()
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)
    open_one.request("GET", "/api/v1/instance")
    assert open_one.getresponse().status == 200
    open_one.close()


def test_connections_do_not_each_take_a_thread(server):
    """The change itself (#12's burst: 0.5 ms of CPU a request, mostly threads waking):
    40 open connections, each with a request waiting out the delay, add no thread each."""
    server.latency = 0.5
    before = threading.active_count()
    connections = []
    for _ in range(40):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/api/v1/instance")
        connections.append(connection)
    time.sleep(0.2)
    during = threading.active_count()
    for connection in connections:
        assert connection.getresponse().status == 200
        connection.close()
    assert during - before < 5
