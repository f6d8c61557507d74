"""What every channel's requests ``Session`` gets before its first request (#12's burst).

The channels that speak HTTP through requests (tweepy for X, Mastodon.py, pyfacebook for
the Graph networks, requests itself for LinkedIn) each have one session per account.
``prepare_session`` gives it, in one place:

- no ~/.netrc login in place of the channel's own credentials;
- requests' reading of the environment (proxies, CA bundle) kept per host, not walked again
  on every request;
- a cookie jar that looks for cookies only in a response that sets one;
- the process's one transport adapter per network, so every account reuses the same
  connections (fenced at each send, ``wire_fence.py``), whose pool key is kept per origin
  and whose responses skip the cookie work when no cookie came.

Each saving leaves what goes on the wire as requests makes it (tests/channels/test_request_path.py).
The adapter class subclasses requests' own, so it is built on first use: importing this
module does not import requests (validate and preview never need it).
"""
from __future__ import annotations

import functools
import os
import threading
from typing import Any, Callable, Iterable


def prepare_session(session: Any, key: tuple = ("plain",), make: Callable[..., Any] | None = None,
                    prefixes: Iterable[str] = ("https://", "http://")) -> Any:
    """Set up a client library's requests ``Session`` for one account (see the module
    docstring); ``key``, ``make`` and ``prefixes`` choose its shared adapter
    (``shared_connections``).  Returns the session."""
    without_netrc(session)
    steady_environment(session)
    cookies_when_set(session)
    return shared_connections(session, key, make, prefixes)


# ----- credentials: the channel's own, never ~/.netrc's ------------------------------------
def _keep_request_as_is(request: Any) -> Any:
    return request


def without_netrc(session: Any) -> Any:
    """Without any auth, requests looks in ~/.netrc on every request and, if an entry
    matches (a `default` entry matches every host), replaces the channel's own Authorization
    header with that login: someone else's password sent to the network.  Our calls carry
    their credentials themselves (Bearer headers, tokens, OAuth per call), so the session's
    auth is a no-op, as Mastodon.py's own is."""
    if session.auth is None:
        session.auth = _keep_request_as_is
    if not getattr(session, "_without_netrc", False):
        session.rebuild_auth = functools.partial(_rebuild_auth_without_netrc, session)
        session._without_netrc = True
    return session


def _rebuild_auth_without_netrc(session: Any, prepared_request: Any, response: Any) -> None:
    """requests' ``Session.rebuild_auth`` (requests/sessions.py) without its last step.  On
    every redirect requests reads ~/.netrc for the new URL and puts that login in place of
    the request's Authorization header, whatever ``auth`` the session or the call gave (a
    ``default`` entry matches every host, the same host included): a 301/302/307/308 from a
    network would carry the admin's password to it.  Its first step is kept as it is: the
    channel's own Authorization header is dropped when the redirect leaves the host
    (``should_strip_auth``)."""
    headers = prepared_request.headers
    if "Authorization" in headers and session.should_strip_auth(response.request.url, prepared_request.url):
        del headers["Authorization"]


# ----- the environment: read once per host ------------------------------------------------
_ENVIRONMENT_ANSWERS: dict[tuple, dict] = {}
# One thread asks requests for a new key's answer while the others wait for it: in a burst a
# hundred workers make their first request at once, and each walk of a big environment costs
# ~1 ms of CPU under the GIL (#12: the walks py-spy still saw were these first misses).
_ENVIRONMENT_LOCK = threading.Lock()
# What requests reads of the environment for a plain call (urllib.request.getproxies_environment
# and proxy_bypass_environment; requests.sessions.merge_environment_settings for CA bundles).
_PROXY_VARIABLES = tuple(v for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
                         for v in (name, name.upper())) + ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def steady_environment(session: Any) -> Any:
    """Keep a requests ``Session``'s reading of the environment, per scheme and host.

    requests asks the environment about proxies and CA bundles on every request
    (``merge_environment_settings`` walks all of ``os.environ``, for each ``*_proxy`` and
    for ``no_proxy``): with credentials for hundreds of accounts in the environment that
    was a third of a delivery's CPU in a burst (bench/burst.py).  A daemon's environment
    does not change while it runs, so requests' own answer for a host is kept and reused:
    HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE apply exactly as requests decides.
    """
    if getattr(session, "_steady_environment", False):
        return session
    ask = session.merge_environment_settings
    answers = _ENVIRONMENT_ANSWERS                 # shared: every channel's first request is not a miss

    def merge(url, proxies, stream, verify, cert):
        if proxies or not isinstance(verify, (bool, str, type(None))) or not isinstance(cert, (str, tuple,
                                                                                               type(None))):
            return ask(url, proxies, stream, verify, cert)       # per-call proxies: requests' own rules
        scheme, netloc = url.split("://", 1)[0].lower(), url.split("://", 1)[-1].split("/", 1)[0].lower()
        # The few variables requests' answer depends on are part of the key (ten lookups, not
        # a walk of the whole environment): a changed HTTPS_PROXY is never answered from before.
        key = (scheme, netloc, stream, verify, cert, tuple(sorted(session.proxies.items())),
               tuple(map(os.environ.get, _PROXY_VARIABLES)))
        answer = answers.get(key)
        if answer is None:
            with _ENVIRONMENT_LOCK:
                answer = answers.get(key)
                if answer is None:
                    answer = answers[key] = ask(url, proxies, stream, verify, cert)
        return {**answer, "proxies": dict(answer["proxies"])}

    session.merge_environment_settings = merge
    if session.params == {}:
        # requests merges the session's params into each request's (merge_setting): two
        # runtime-checkable Protocol checks (requests._types.SupportsItems), which Python 3.11
        # makes in Python (typing._get_protocol_attrs) before the ABC cache is asked.  With
        # none, the request's own params are used as they are: the same query string (None
        # values are left out by _encode_params either way).
        session.params = None
    session._steady_environment = True
    return session


# ----- cookies: looked for only where a response sets one ---------------------------------
def _sets_cookies(headers: Any) -> bool:
    """Whether these headers (urllib3's, or the http.client message http.cookiejar reads;
    both look names up case-insensitively) set a cookie: http.cookiejar reads cookies from
    these two only (CookieJar.make_cookies: RFC 2965's Set-Cookie2 and Netscape's
    Set-Cookie), so without either, extracting finds nothing."""
    return headers.get("Set-Cookie") is not None or headers.get("Set-Cookie2") is not None


@functools.cache
def cookie_jar_class() -> type:
    """requests' ``RequestsCookieJar`` whose ``extract_cookies`` (http.cookiejar's, which
    requests' Session.send runs on every response: a lock, the clock, both headers parsed)
    returns at once when the response set no cookie.  Cookies a network does set are kept
    and sent back as requests would."""
    from requests.cookies import RequestsCookieJar

    class CookiesWhenSet(RequestsCookieJar):
        def extract_cookies(self, response: Any, request: Any) -> None:
            if _sets_cookies(response.info()):
                super().extract_cookies(response, request)

    return CookiesWhenSet


def cookies_when_set(session: Any) -> Any:
    """Give the session a ``cookie_jar_class()`` jar, holding any cookie it already had."""
    jar_class = cookie_jar_class()
    if not isinstance(session.cookies, jar_class):
        jar = jar_class()
        jar.update(session.cookies)
        session.cookies = jar
    return session


# ----- the shared transport adapters ----------------------------------------------------------
# Connections kept per host in a shared pool: the daemon's default worker count (a burst has
# at most that many requests in flight), so a finished request's connection is kept, not
# dropped with urllib3's "Connection pool is full" warning.
SHARED_POOL_SIZE = 100
# Hosts whose pools one shared adapter keeps (urllib3 closes the least recently used pool past
# this; requests' default is 10): the Graph hosts, LinkedIn, and a Mastodon instance or several.
SHARED_POOL_HOSTS = 32
_SHARED_ADAPTERS: dict[tuple, Any] = {}
_SHARED_LOCK = threading.Lock()


def shared_connections(session: Any, key: tuple = ("plain",), make: Callable[..., Any] | None = None,
                       prefixes: Iterable[str] = ("https://", "http://")) -> Any:
    """Mount the process's one transport adapter for ``key`` on a requests ``Session``, so
    every account of a network reuses the same connections to its host.

    Each channel (account) has its own client and session (its own credentials, cookies and
    hooks), and so had its own connection pool: in a burst (#12: 250 accounts, 4 posts each,
    at once) nearly every post opened a new connection, ~0.5 ms of the daemon's CPU on
    127.0.0.1 and a TLS handshake on the real networks.  requests' transport adapter holds
    urllib3's pools, one per (scheme, host, port, TLS settings); sharing the adapter shares
    those and nothing else: headers, auth, cookies and hooks stay the session's, and each
    request carries its own credentials (HTTP/1.1 connections hold none).  ``make`` builds
    the adapter from requests' HTTPAdapter arguments (default: ``steady_adapter_class()``),
    given SHARED_POOL_HOSTS pools of SHARED_POOL_SIZE connections."""
    with _SHARED_LOCK:
        adapter = _SHARED_ADAPTERS.get(key)
        if adapter is None:
            adapter = _SHARED_ADAPTERS[key] = (make or steady_adapter_class())(
                pool_connections=SHARED_POOL_HOSTS, pool_maxsize=SHARED_POOL_SIZE)
    for prefix in prefixes:
        session.mount(prefix, adapter)
    return session


_POOL_KEYS_KEPT = 1024                   # origins x CA settings: a few dozen in practice


@functools.cache
def steady_adapter_class() -> type:
    """requests' ``HTTPAdapter`` (with ``wire_fence``'s fenced connections) that keeps its
    connection-pool key per origin and TLS settings, and skips the cookie work for a response
    that sets no cookie.

    For every request requests works out which pool it goes to
    (``build_connection_pool_key_attributes``, its documented hook for subclasses): it parses
    the URL and, when ``verify`` names a CA bundle (REQUESTS_CA_BUNDLE is set on Debian's
    Python images, so it always does there), asks the file system whether that is a folder:
    a stat per request (#12's burst).  The answer depends only on the URL's scheme, host and
    port, ``verify`` and ``cert``, and the CA bundle does not turn into a folder while the
    daemon runs, so requests' own answer is kept and reused (a copy each time)."""
    from requests.models import Response
    from requests.structures import CaseInsensitiveDict
    from requests.utils import get_encoding_from_headers

    from .wire_fence import fenced_adapter_class

    class SteadyAdapter(fenced_adapter_class()):       # requests' HTTPAdapter, fenced at the wire
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self._pool_keys: dict[tuple, tuple[dict, dict]] = {}

        def build_connection_pool_key_attributes(self, request, verify, cert=None):
            url = request.url
            end = url.find("/", url.find("//") + 2)
            key = (url if end < 0 else url[:end], verify, cert)     # everything up to the path
            try:
                host, pool = self._pool_keys[key]
            except (KeyError, TypeError):                          # TypeError: an unhashable cert
                host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
                try:
                    if len(self._pool_keys) >= _POOL_KEYS_KEPT:
                        self._pool_keys.clear()
                    self._pool_keys[key] = (host, pool)
                except TypeError:
                    return host, pool
            return dict(host), dict(pool)

        def build_response(self, req, resp):
            """requests' own (``HTTPAdapter.build_response``, its documented hook for
            subclasses), less the cookie extraction when the response sets no cookie: requests
            wraps the request and the headers for http.cookiejar and runs its extraction into
            the response's jar on every response, and no network we post to sets a cookie.
            A response that sets one goes through requests' own, unchanged."""
            headers = getattr(resp, "headers", None)
            if headers is None or _sets_cookies(headers):
                return super().build_response(req, resp)
            response = Response()
            response.status_code = getattr(resp, "status", None)
            response.headers = CaseInsensitiveDict(headers)
            response.encoding = get_encoding_from_headers(response.headers)
            response.raw = resp
            response.reason = resp.reason
            response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url
            response.request = req
            response.connection = self
            return response

    return SteadyAdapter
