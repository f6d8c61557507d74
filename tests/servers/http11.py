"""The test servers' HTTP/1.1: every server in the process on one event loop (uvloop,
libuv's loop in C), in one thread.

The servers stand for remote networks, yet they run in the benchmark's own process on the
cores the daemons use (bench/burst.py), so their CPU per request is paid by the figures
they measure.  http.server's ThreadingHTTPServer cost about 0.4-0.5 ms of CPU a request,
and parsing was the smaller part: every request woke its connection's thread to read,
slept in it for the answer delay and woke it again, each a hand-over of the GIL, and the
answer left in several writes.  Here one thread serves every connection of every server:
llhttp (through httptools, the parser uvicorn uses) reads the requests, the delay is a
timer of the loop, the answer one write.  What may block (the tests' ``on_request`` hooks,
a server whose handlers call out, as the proxy's and the appview's) runs in a pool thread,
as it ran in its connection's thread before.

What a client sees is http.server's: the status line with the same reason phrases, the
``Server`` and ``Date`` headers first, persistent connections unless the client asks to
close (or speaks HTTP/1.0 without keep-alive), ``100 Continue`` for ``Expect:
100-continue``, http.server's error page for a method no server serves (501), and, as its
daemon connection threads did, connections already open are still served after
``shutdown`` (only new ones are refused).  One difference: a request llhttp cannot parse
gets a plain 400 (http.server accepted some malformed header lines, and answered a
malformed request line without a status line).  The response side is written by hand: a
status line and ``Name: value`` lines, smaller than any library's serializer.
"""
from __future__ import annotations

import asyncio
import html
import os
import socket
import sys
import threading
import time
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http import HTTPStatus
from http.server import DEFAULT_ERROR_CONTENT_TYPE, DEFAULT_ERROR_MESSAGE, BaseHTTPRequestHandler
from typing import Any, Awaitable, Callable

import httptools
import uvloop

# The same Server header as http.server ("BaseHTTP/0.6 Python/3.11.7").
SERVER = f"{BaseHTTPRequestHandler.server_version} {BaseHTTPRequestHandler.sys_version}"
PHRASES = {status.value: (status.phrase, status.description) for status in HTTPStatus}
SERVED_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})   # the do_* methods the servers had

_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The Date header, formatted once a second (formatdate is the costly part of a header)."""
    global _date_cache
    now = int(time.time())
    second, text = _date_cache
    if second != now:
        text = formatdate(now, usegmt=True)
        _date_cache = (now, text)
    return text


def answer_head(status: int, headers: dict[str, str], length: int, reason: str | None = None) -> bytes:
    """Status line and headers as http.server's send_response and send_header wrote them:
    Server, Date, the headers given, then Content-Length."""
    if reason is None:
        reason = PHRASES[status][0] if status in PHRASES else ""
    lines = [f"HTTP/1.1 {status} {reason}\r\nServer: {SERVER}\r\nDate: {http_date()}\r\n"]
    lines += [f"{key}: {value}\r\n" for key, value in headers.items()]
    lines.append(f"Content-Length: {length}\r\n\r\n")
    return "".join(lines).encode("latin-1", "strict")


def error_answer(status: int, message: str | None = None) -> bytes:
    """http.server's send_error: its HTML page, and the connection closed after it."""
    short, explain = PHRASES.get(status, ("???", "???"))
    message = message or short
    body = (DEFAULT_ERROR_MESSAGE % {"code": status, "message": html.escape(message, quote=False),
                                     "explain": html.escape(explain, quote=False)}).encode("utf-8", "replace")
    return answer_head(status, {"Connection": "close", "Content-Type": DEFAULT_ERROR_CONTENT_TYPE},
                       len(body), reason=message) + body


class Incoming:
    """One request as read off the connection (the parser's callbacks fill it)."""

    __slots__ = ("method", "target", "headers", "body", "keep_alive", "http10", "expect")

    def __init__(self) -> None:
        self.method = ""
        self.target = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.keep_alive = False
        self.http10 = False
        self.expect = ""


Answer = Callable[["Connection", Incoming], None]   # calls connection.finished(keep) when done


class Connection(asyncio.Protocol):
    """One client connection: requests are answered one at a time, in order (a client may
    pipeline several into one read)."""

    def __init__(self, server: "LoopServer") -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.current = Incoming()
        self.pending: deque[Incoming] = deque()
        self.busy = False
        self.eof = False
        self.closed = False
        self.failed: int | None = None          # the parser gave up: 400 (0: an upgrade, just close)
        self.owe_continue = False               # a 100 Continue to send once earlier answers are out
        self.transport: asyncio.Transport | None = None
        self.client: tuple = ()

    # ----- asyncio's side ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport              # type: ignore[assignment]
        self.client = transport.get_extra_info("peername") or ()

    def data_received(self, data: bytes) -> None:
        if self.closed or self.failed is not None:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.failed = 0                     # no server here upgrades: answer what came, then close
        except httptools.HttpParserError:
            self.failed = HTTPStatus.BAD_REQUEST
        self._next()

    def eof_received(self) -> bool:
        # The client will send no more; what it sent is still answered (as http.server's
        # thread did), an unfinished request is never handed on.
        self.eof = True
        self._next()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    # ----- httptools' callbacks ---------------------------------------------------------
    def on_message_begin(self) -> None:
        self.current = Incoming()

    def on_url(self, url: bytes) -> None:
        self.current.target += url              # llhttp may hand the target over in pieces

    def on_header(self, name: bytes, value: bytes) -> None:
        # As http.client's parse_headers: Latin-1, the name as the client spelt it, the last
        # value of a repeated header.
        self.current.headers[name.decode("latin-1")] = text = value.decode("latin-1")
        if len(name) == 6 and name.lower() == b"expect":
            self.current.expect = text.lower()

    def on_headers_complete(self) -> None:
        self.current.method = self.parser.get_method().decode("ascii")
        self.current.keep_alive = self.parser.should_keep_alive()
        self.current.http10 = self.parser.get_http_version() == "1.0"
        if self.current.expect == "100-continue" and not self.current.http10:
            # The client waits for this before it sends the body, so it cannot wait for the
            # request to be complete; after any answers still owed on this connection.
            self.owe_continue = True
            self._next()

    def on_body(self, body: bytes) -> None:
        self.current.body.append(body)          # chunked bodies arrive decoded

    def on_message_complete(self) -> None:
        self.pending.append(self.current)

    # ----- answering --------------------------------------------------------------------
    def _next(self) -> None:
        if self.busy or self.closed:
            return
        if self.pending:
            self.busy = True
            incoming = self.pending.popleft()
            if incoming.method not in SERVED_METHODS:
                self.write(error_answer(501, f"Unsupported method ({incoming.method!r})"))
                self.finished(False)
                return
            try:
                # Answered even if the client goes meanwhile (a timeout): the network still
                # acts on a request it received, as http.server's thread did.
                self.server.answer(self, incoming)
            except Exception:  # noqa: BLE001 - see crashed
                self.crashed()
        elif self.owe_continue:
            self.owe_continue = False
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        elif self.failed is not None:
            if self.failed:
                self.write(error_answer(self.failed))
            self.close()
        elif self.eof:
            self.close()

    def finished(self, keep: bool) -> None:
        """The request being answered is done with (its answer written, or never to be)."""
        if keep:
            self.busy = False
            self._next()
        else:
            self.close()

    def crashed(self) -> None:
        """As socketserver's handle_error: print the traceback, drop the connection."""
        print(f"Exception occurred during processing of request from {self.client}", file=sys.stderr)
        traceback.print_exc()
        self.finished(False)

    async def finish_with(self, answering: Awaitable[bool]) -> None:
        """finished() with what a coroutine answers (the paths that wait on more than a timer)."""
        try:
            keep = await answering
        except Exception:  # noqa: BLE001 - see crashed
            self.crashed()
            return
        self.finished(keep)

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()              # sends what is buffered, then FIN

    def drop(self) -> None:
        """Close without answering, as a fault: the client sees the connection end."""
        if self.closed:
            return
        # As http.server's fault did (shutdown, then close).  The loop's own socket object
        # refuses shutdown(), so on a duplicate of its descriptor: the same connection.
        try:
            with socket.fromfd(self.transport.get_extra_info("socket").fileno(), socket.AF_INET,
                               socket.SOCK_STREAM) as duplicate:
                duplicate.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close()


_shared: tuple[int, asyncio.AbstractEventLoop, threading.Thread] | None = None
_shared_lock = threading.Lock()


def shared_loop() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    """The one loop (and thread) every test server in this process runs on: the servers'
    requests share one wake-up and never hand the GIL to each other.  A new one in a
    forked child (the parent's thread is not there)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            loop = uvloop.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="test-servers", daemon=True)
            thread.start()
            _shared = (os.getpid(), loop, thread)
        return _shared[1], _shared[2]


class LoopServer:
    """What TestServer used of socketserver's ThreadingTCPServer (serve_forever, shutdown,
    server_close, server_address), on the shared loop."""

    def __init__(self, address: tuple[str, int], answer: Answer, name: str = "test") -> None:
        self.answer = answer
        self.name = name
        # Bound and listening now, as socketserver does: the port is known before start().
        self.socket = socket.create_server(address)
        self.server_address = self.socket.getsockname()
        self.loop, self._thread = shared_loop()
        self._listener: asyncio.AbstractServer | None = None
        self._stopping = False
        self._pool: ThreadPoolExecutor | None = None

    def serve_forever(self) -> None:
        """Start accepting on the shared loop (returns once it does)."""
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result()

    async def _listen(self) -> None:
        if not self._stopping:                  # (stopped before it started: nothing to do)
            self._listener = await self.loop.create_server(lambda: Connection(self), sock=self.socket)

    def in_thread(self, function: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        """Run what may block (a test's hook, a handler that calls out) in a thread."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix=f"{self.name}-blocking")
        return self.loop.run_in_executor(self._pool, function, *args)

    def shutdown(self) -> None:
        """Refuse new connections from now on (the listening socket is closed when this
        returns); the ones open are still served, as http.server's daemon threads did."""
        if threading.current_thread() is self._thread:
            self._close_listener()
        else:
            self.loop.call_soon_threadsafe(self._close_listener)
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self.loop).result(10)   # it has run

    def _close_listener(self) -> None:
        self._stopping = True
        if self._listener is not None:
            self._listener.close()
        else:
            self.socket.close()

    def server_close(self) -> None:
        self.shutdown()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
