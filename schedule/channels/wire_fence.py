"""The last fencing check of a post, run as its request's bytes leave (#12).

Several daemons share one PostgreSQL ledger (schedule/cluster.py).  Before the call that
makes a post, ``Channel.creating()`` checks locally that this node's lease on the delivery
is still fresh.  Between that check and the socket, the client library still prepares the
request (OAuth signing, requests' prepare_request, the connection pool, GIL waits among
100 worker threads): a process stopped (SIGSTOP) in that window past its lease would, on
waking, send a post another node has meanwhile made.  So ``creating()`` also *arms* the
same check for the calls it wraps, and each HTTP client runs it at the last moment before
the request's bytes are written (its headers, and again its body), after a connection is
taken from the pool (and opened):

- requests (tweepy, Mastodon.py, pyfacebook, LinkedIn): urllib3 connections whose every
  ``send`` of a request runs the check (``FenceAtEachSend``), in the pools of the
  transport adapters the channels share (``sessions.shared_connections`` and X's rerouting
  adapter build on ``fenced_adapter_class``);
- httpx (atproto, Bluesky): httpcore's ``trace`` extension, which httpcore calls just
  before it writes a request's headers and its body (``fence_httpx_request``, a request
  event hook);
- httplib2 (googleapiclient, YouTube): the same ``FenceAtEachSend`` on httplib2's
  connections (``fenced_httplib2``), given through ``Http.request``'s ``connection_type``.

A check that fails writes nothing more (the request is never complete): the connection is
closed, and ``creating()`` raises the check's own exception (``cluster.Fenced``: not sent,
never ambiguous), whatever the client library wrapped it in.  Only requests inside
``creating()`` are checked (uploads before it and read-backs are not).  The cost is a
thread-local read per request and, while armed, a monotonic-clock compare per write.  What
remains is the microseconds between the last check and the last write call, and then the
kernel (docs/admin.md).

The client libraries are imported lazily (validate and preview never need them), so the
classes that subclass theirs are built on first use.
"""
from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Callable, Iterator

# Per thread: ``check`` while a create call is under way (``armed``), and ``failed``, the
# exception a check raised at the wire (the client library may wrap or swallow it).
_wire = threading.local()


@contextlib.contextmanager
def armed(check: Callable[[], None] | None) -> Iterator[None]:
    """Around the call that makes a post: each request it sends runs ``check`` first.  If a
    check refused a request, that refusal is what leaves here, whatever came out of the
    library around it (e.g. Mastodon.py's MastodonNetworkError, or a Transient made of it)."""
    if check is None:
        yield
        return
    _wire.check, _wire.failed = check, None
    try:
        yield
    except BaseException:
        failed = _wire.failed
        if failed is not None:
            raise failed from None
        raise
    else:
        if _wire.failed is not None:       # a library that caught it and carried on sent nothing either
            raise _wire.failed
    finally:
        _wire.check = _wire.failed = None


def run_check(check: Callable[[], None]) -> None:
    try:
        check()
    except BaseException as exc:
        _wire.failed = exc
        raise


class FenceAtEachSend:
    """For http.client-based connections (urllib3's, httplib2's): the check armed on this
    thread when a request starts (``putrequest``) runs before each ``send`` of it, after the
    connection is open, just before bytes are written: its headers, then each piece of its
    body.  A request whose headers left and whose body did not is no request: the
    connection is closed and the server discards the part it has (so a node frozen between
    the two writes past its lease sends nothing either)."""

    _fence_check: Callable[[], None] | None = None

    def putrequest(self, *args: Any, **kwargs: Any) -> Any:
        self._fence_check = getattr(_wire, "check", None)
        return super().putrequest(*args, **kwargs)

    def send(self, data: Any) -> Any:
        check = self._fence_check
        # (Still armed on this thread: a send outside the request, e.g. a proxy tunnel opened
        # again on a reused connection, never runs another thread's or a finished check.)
        if check is not None and check is getattr(_wire, "check", None):
            if self.sock is None and self.auto_open:
                self.connect()                   # http.client would connect here: connect first, check last
            try:
                run_check(check)
            except BaseException:
                self._fence_check = None
                self.close()                     # part of a request at most: never completed, never reused
                raise
        return super().send(data)


@functools.cache
def _urllib3_pools() -> dict[str, type]:
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class FencedHTTPConnection(FenceAtEachSend, HTTPConnection):
        pass

    class FencedHTTPSConnection(FenceAtEachSend, HTTPSConnection):
        pass

    class FencedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = FencedHTTPConnection

    class FencedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = FencedHTTPSConnection

    return {"http": FencedHTTPConnectionPool, "https": FencedHTTPSConnectionPool}


@functools.cache
def fenced_adapter_class() -> type:
    """requests' HTTPAdapter whose urllib3 pools (direct, or through an HTTP(S) proxy) use
    fenced connections.  A SOCKS proxy keeps urllib3's own SOCKS connections (unfenced at
    the wire; ``creating()``'s earlier check still applies)."""
    from requests.adapters import HTTPAdapter

    class FencedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = _urllib3_pools()

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):
                manager.pool_classes_by_scheme = _urllib3_pools()
            return manager

    return FencedAdapter


_WRITES = (".send_request_headers.started", ".send_request_body.started")


def _trace(name: str, info: Any) -> None:
    # httpcore names each step "<http11|http2>.send_request_headers.started" (then
    # "...send_request_body.started") just before writing it.
    if name.endswith(_WRITES):
        check = getattr(_wire, "check", None)
        if check is not None:
            run_check(check)


def fence_httpx_request(request: Any) -> None:
    """An httpx request event hook: while a create call is armed, the request carries
    httpcore's ``trace`` extension, which runs the check when its headers are about to be
    written, and its body (after the pool gave a connection and it is open)."""
    if getattr(_wire, "check", None) is not None and "trace" not in request.extensions:
        request.extensions = {**request.extensions, "trace": _trace}


@functools.cache
def _httplib2_connections() -> dict[str, type]:
    import httplib2

    class FencedHTTP(FenceAtEachSend, httplib2.HTTPConnectionWithTimeout):
        pass

    class FencedHTTPS(FenceAtEachSend, httplib2.HTTPSConnectionWithTimeout):
        pass

    return {"http": FencedHTTP, "https": FencedHTTPS}


def fenced_httplib2(http: Any) -> Any:
    """An ``httplib2.Http`` (googleapiclient's ``build_http()``, as it is) whose connections
    are fenced: httplib2 takes the connection class from ``request(connection_type=)``,
    which googleapiclient and google-auth leave unset."""
    plain = http.request
    classes = _httplib2_connections()

    def request(uri: str, *args: Any, connection_type: Any = None, **kwargs: Any) -> Any:
        if connection_type is None and len(args) < 5:        # (method, body, headers, redirections, connection_type)
            connection_type = classes.get(uri.split(":", 1)[0].lower())
        return plain(uri, *args, connection_type=connection_type, **kwargs)

    http.request = request
    return http
