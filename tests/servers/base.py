"""A small threaded HTTP server that each network's test double builds on.

Each double registers routes that answer in the network's real wire format (paths,
methods, JSON shapes, status codes, headers) so the real client library accepts it.
The base records every request and injects faults on demand:

    server.inject("5xx")                 # next matching request gets a 503
    server.inject("429", times=2)        # rate limited, with the network's reset headers
    server.inject("slow", delay=2.0)     # answer late (client timeouts)
    server.inject("drop")                # close the connection without answering
    server.inject("expired_token")       # the network's own expired-token error
    server.inject("duplicate")           # the network's own duplicate-content error
    server.inject("created_then_slow", delay=2.0)   # do the request (the post exists), answer too late
    server.inject("created_then_drop")   # do the request, then close the connection without answering
    server.inject("created_then_5xx")    # do the request, then answer 503 (a gateway that gave up)

The "created_then_" faults are the ambiguous cases: the network has acted on the request
but the client never learns it.  A fault can be limited to requests whose "METHOD path" matches a regex (``match=``).
"""
from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from .http11 import Connection, Incoming, LoopServer, answer_head

FAULTS = ("5xx", "429", "slow", "drop", "expired_token", "duplicate", "quota",
          "created_then_slow", "created_then_drop", "created_then_5xx")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)
    params: dict[str, str] = field(default_factory=dict)   # regex groups from the route
    client: tuple = ()                                      # (host, port) the request came from
    _fields: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)
    _lowered: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def header(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name)         # most clients spell it as asked
        if value is not None:
            return value
        if self._lowered is None:               # case-insensitive; the first of two spellings wins
            self._lowered = {key.lower(): value for key, value in reversed(self.headers.items())}
        return self._lowered.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, Any]:
        """urlencoded or multipart fields; multipart files come back as bytes."""
        ctype = self.header("content-type", "") or ""
        if ctype.startswith("multipart/"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + self.body)
            fields: dict[str, Any] = {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                fields[name] = payload if part.get_filename() else payload.decode("utf-8", "replace")
            return fields
        merged = {k: v[-1] for k, v in self.query.items()}
        if self.body and "json" not in ctype:
            merged.update({k: v[-1] for k, v in self.body_fields().items()})
        return merged

    def body_fields(self) -> dict[str, list[str]]:
        """An urlencoded body's fields, every value; parsed once (Graph's token check and
        its handler each read the form)."""
        if self._fields is None:
            self._fields = parse_qs(self.body.decode("utf-8", "replace"))
        return self._fields


@dataclass
class Response:
    status: int = 200
    body: Any = None                # dict/list -> JSON, bytes/str as is
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body), self.headers.get("Content-Type", "application/octet-stream")
        if isinstance(self.body, str):
            return self.body.encode(), self.headers.get("Content-Type", "text/plain; charset=utf-8")
        if self.body is None:
            return b"", self.headers.get("Content-Type", "application/json")
        return json.dumps(self.body).encode(), "application/json; charset=utf-8"


@dataclass
class Fault:
    kind: str
    times: int = 1
    match: str | None = None
    delay: float = 0.0
    after: int = 0                  # let this many matching requests through first


Handler = Callable[[Request], Response]


class TestServer:
    """Subclasses call ``self.route(method, regex, handler)`` and override the fault responses."""

    __test__ = False  # not a pytest class
    name = "test"
    blocking = False    # True: handlers may block (call out), so they run in a thread, not on the loop

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0):
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.latency = latency
        self.on_request: list = []
        self.lock = threading.RLock()
        self._ids = 1_000_000
        self.setup_routes()
        # One event loop in one thread serves every connection of every server (http11.py:
        # http.server's thread per connection cost ~0.5 ms of CPU a request, on the cores
        # the benchmarks measure); what may block runs in a pool thread (`blocking`, hooks).
        self.httpd = LoopServer((host, port), self._answer, self.name)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"{self.name}-server", daemon=True)

    # ----- life cycle ----------------------------------------------------------
    def start(self) -> "TestServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "TestServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ----- for subclasses --------------------------------------------------------
    def setup_routes(self) -> None:
        raise NotImplementedError

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method.upper(), re.compile(pattern + r"$"), handler))

    def next_id(self) -> str:
        with self.lock:
            self._ids += 1
            return str(self._ids)

    def fault_response(self, kind: str, request: Request) -> Response:
        """The network's own wire format for a fault; subclasses override per kind."""
        if kind == "5xx":
            return Response(503, {"error": "service unavailable"})
        if kind == "429":
            reset = int(time.time()) + 2
            return Response(429, {"error": "rate limited"}, {"Retry-After": "2", "x-rate-limit-reset": str(reset)})
        if kind == "expired_token":
            return Response(401, {"error": "token expired"})
        if kind == "duplicate":
            return Response(403, {"error": "duplicate"})
        raise ValueError(kind)

    # ----- tests use these -------------------------------------------------------
    def inject(self, kind: str, times: int = 1, match: str | None = None, delay: float = 0.0,
               after: int = 0) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        with self.lock:
            self.faults.append(Fault(kind, times, match, delay, after))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()

    def calls(self, method: str | None = None, pattern: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and (pattern is None or re.search(pattern, r.path))]

    # ----- internals ---------------------------------------------------------------
    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.match and not re.search(fault.match, f"{request.method} {request.path}"):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _answer(self, connection: Connection, incoming: Incoming) -> None:
        """Answer one request on its connection, then ``connection.finished(keep)``.  The
        common case (no hook, no fault, a handler that does not block) is a timer and a
        call; the rest is a coroutine (`_answer_waiting`)."""
        target = incoming.target.decode("latin-1")
        if target.startswith("//"):             # as http.server: reduce to a single /
            target = "/" + target.lstrip("/")
        split = urlsplit(target)
        request = Request(incoming.method, split.path,
                          parse_qs(split.query, keep_blank_values=True) if split.query else {},
                          incoming.headers, b"".join(incoming.body), client=connection.client)
        with self.lock:
            self.requests.append(request)
        if self.on_request or self.blocking:
            self.httpd.loop.create_task(connection.finish_with(
                self._answer_waiting(connection, incoming, request, hooks=True)))
        elif self.latency:
            self._not_before(time.monotonic() + self.latency, self._answer_after_delay, connection, incoming, request)
        else:
            self._answer_after_delay(connection, incoming, request)

    def _not_before(self, deadline: float, callback: Callable, *args: Any) -> None:
        """``callback(*args)`` on the loop once ``time.monotonic()`` reaches ``deadline``: the
        loop's timers round to the millisecond and may fire a little early, and an answer must
        never come sooner than the latency asked for."""
        left = deadline - time.monotonic()
        if left > 0:
            self.httpd.loop.call_later(left, self._not_before, deadline, callback, *args)
        else:
            callback(*args)

    def _answer_after_delay(self, connection: Connection, incoming: Incoming, request: Request) -> None:
        try:
            if self.faults:                     # (perhaps injected while this request waited)
                self.httpd.loop.create_task(connection.finish_with(
                    self._answer_waiting(connection, incoming, request, hooks=False)))
                return
            keep = self._send(connection, incoming, self._dispatch(request))
        except Exception:  # noqa: BLE001 - Connection.crashed prints it
            connection.crashed()
            return
        connection.finished(keep)

    async def _answer_waiting(self, connection: Connection, incoming: Incoming, request: Request,
                              hooks: bool) -> bool:
        """Hooks (then the delay), faults, a blocking handler: False, close the connection."""
        if hooks:
            if self.on_request:                 # tests act at the moment a request arrives (and may block)
                await self.httpd.in_thread(self._run_hooks, request)
            if self.latency:
                deadline = time.monotonic() + self.latency
                while (left := deadline - time.monotonic()) > 0:     # never early (see _not_before)
                    await asyncio.sleep(left)
        fault = self._take_fault(request) if self.faults else None
        response: Response | None = None
        if fault is not None and fault.kind.startswith("created_then_"):
            response = await self._dispatch_anywhere(request)    # the network acts on it...
            if fault.kind == "created_then_slow":
                await asyncio.sleep(fault.delay or 5.0)          # ...and answers after the client gave up
            elif fault.kind == "created_then_5xx":
                response = self.fault_response("5xx", request)
            else:
                fault = Fault("drop")                            # ...and the answer never leaves
        if fault is not None and not fault.kind.startswith("created_then_"):
            if fault.kind == "drop":
                connection.drop()
                return False
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay or 5.0)
            else:
                response = self.fault_response(fault.kind, request)
        if response is None:
            response = await self._dispatch_anywhere(request)
        return self._send(connection, incoming, response)

    def _send(self, connection: Connection, incoming: Incoming, response: Response) -> bool:
        """Write the answer; whether the connection stays open."""
        payload, ctype = response.encode()
        headers = {"Content-Type": ctype, **response.headers}
        keep = incoming.keep_alive
        for key, value in headers.items():      # as http.server's send_header
            if key.lower() == "connection":
                keep = {"close": False, "keep-alive": True}.get(value.lower(), keep)
        connection.write(answer_head(response.status, headers, len(payload)) + payload)
        return keep

    def _run_hooks(self, request: Request) -> None:
        for hook in list(self.on_request):
            hook(request)

    async def _dispatch_anywhere(self, request: Request) -> Response:
        if self.blocking:
            return await self.httpd.in_thread(self._dispatch, request)
        return self._dispatch(request)

    def _dispatch(self, request: Request) -> Response:
        for method, pattern, handler in self.routes:
            if method != request.method:
                continue
            found = pattern.match(request.path)
            if found:
                request.params = found.groupdict()
                return handler(request)
        return Response(404, {"error": f"no route for {request.method} {request.path}"})

