"""A Bluesky chat service (chat.bsky.*) for tests, reached through the real PDS (#11).

Bluesky direct messages live on a separate service (Bluesky's is did:web:api.bsky.chat).
Clients call their own PDS with the header ``atproto-proxy: DID#bsky_chat``; the PDS
resolves DID to its document, takes the ``#bsky_chat`` service endpoint and forwards the
call with a service-auth JWT (pipethrough.js in @atproto/pds).  This double is that
service at ``did:web:localhost%3APORT`` (did:web over http for localhost, as
@atproto/identity resolves it): it serves /.well-known/did.json and

- ``chat.bsky.convo.listConvos`` -> {"convos": [convoView], "cursor"?};
- ``chat.bsky.convo.getMessages`` (convoId, limit, cursor) -> {"messages": [messageView],
  "cursor"?}, newest first;

shapes from the lexicons (chat.bsky.convo.defs#convoView, #messageView, with "$type" on
union members; chat.bsky.actor.defs#profileViewBasic).  The JWT's signature is not
checked: this stands in for Bluesky's service, not its auth.
"""
from __future__ import annotations

import time

from .base import Request, Response, TestServer


class Server(TestServer):
    name = "chat"

    def setup_routes(self) -> None:
        self.convos: dict[str, dict] = {}
        self.route("GET", r"/.well-known/did.json", self.did_document)
        self.route("GET", r"/xrpc/chat.bsky.convo.listConvos", self.list_convos)
        self.route("GET", r"/xrpc/chat.bsky.convo.getMessages", self.get_messages)

    @property
    def did(self) -> str:
        return f"did:web:localhost%3A{self.port}"

    def did_document(self, request: Request) -> Response:
        return Response(200, {"@context": ["https://www.w3.org/ns/did/v1"], "id": self.did,
                              "service": [{"id": "#bsky_chat", "type": "BskyChatService",
                                           "serviceEndpoint": f"http://127.0.0.1:{self.port}"}]})

    def message(self, members: list[dict], sender_did: str, text: str) -> dict:
        """A message in the conversation between ``members`` ({"did", "handle"})."""
        with self.lock:
            key = ",".join(sorted(m["did"] for m in members))
            convo = self.convos.setdefault(key, {"id": f"convo{len(self.convos) + 1}", "members": members,
                                                 "messages": []})
            number = self.next_id()
            sent = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(number) % 1000:03d}Z"
            view = {"$type": "chat.bsky.convo.defs#messageView", "id": f"msg{number}", "rev": f"rev{int(number):08d}",
                    "text": text, "sender": {"did": sender_did}, "sentAt": sent}
            convo["messages"].insert(0, view)
        return {**view, "convoId": convo["id"]}

    def _view(self, convo: dict) -> dict:
        return {"id": convo["id"], "rev": convo["messages"][0]["rev"],
                "members": [{"did": m["did"], "handle": m["handle"]} for m in convo["members"]],
                "lastMessage": convo["messages"][0], "muted": False, "unreadCount": 1}

    def _asker(self, request: Request) -> bool:
        # The PDS forwards with its service-auth JWT; a call without one did not come through it.
        return (request.header("Authorization") or "").startswith("Bearer ")

    def list_convos(self, request: Request) -> Response:
        if not self._asker(request):
            return Response(401, {"error": "AuthMissing", "message": "Authentication Required"})
        convos = sorted(self.convos.values(), key=lambda c: c["messages"][0]["sentAt"], reverse=True)
        return Response(200, {"convos": [self._view(c) for c in convos]})

    def get_messages(self, request: Request) -> Response:
        if not self._asker(request):
            return Response(401, {"error": "AuthMissing", "message": "Authentication Required"})
        wanted = request.query.get("convoId", [""])[0]
        convo = next((c for c in list(self.convos.values()) if c["id"] == wanted), None)
        if convo is None:
            return Response(400, {"error": "InvalidRequest", "message": "Convo not found"})
        limit = int(request.query.get("limit", ["50"])[0])
        return Response(200, {"messages": convo["messages"][:limit]})
