"""A fault-injecting reverse proxy: forwards every request to a real upstream server
(the Bluesky PDS) unless a fault is injected, so the real server's own behaviour is
tested and the faults it cannot produce on demand are added in front of it."""
from __future__ import annotations

import time

import requests

from .base import Request, Response, TestServer

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


class Server(TestServer):
    name = "proxy"
    blocking = True     # every answer is a request to the upstream server

    def __init__(self, upstream: str, **kwargs):
        self.upstream = upstream.rstrip("/")
        self.session = requests.Session()
        super().__init__(**kwargs)

    def setup_routes(self) -> None:
        for method in ("GET", "POST", "PUT", "DELETE"):
            self.route(method, r"/.*", self.forward)

    def forward(self, request: Request) -> Response:
        query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
        url = self.upstream + request.path + (f"?{query}" if query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        upstream = self.session.request(request.method, url, data=request.body or None, headers=headers, timeout=60)
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
        return Response(upstream.status_code, upstream.content, out)

    # Faults in the PDS's own wire format (XRPC errors: {"error", "message"}).
    def fault_response(self, kind: str, request: Request) -> Response:
        if kind == "5xx":
            return Response(502, {"error": "UpstreamFailure", "message": "Upstream server failed"})
        if kind == "429":
            reset = int(time.time()) + 120
            return Response(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                            {"ratelimit-limit": "5000", "ratelimit-remaining": "0", "ratelimit-reset": str(reset),
                             "ratelimit-policy": "5000;w=3600"})
        if kind == "expired_token":
            return Response(401, {"error": "InvalidToken", "message": "Token could not be verified"})
        raise ValueError(kind)
