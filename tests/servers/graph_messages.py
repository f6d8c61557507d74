"""Direct messages on the Meta Graph test double (#11), kept apart from graph.py.

GET /{page-id}/conversations (platform=messenger|instagram, user_id=PSID to pick one
person's, fields with messages{...}): python-facebook-api's testdata conversations/
cvses_info.json and messages/messages_info.json give the shapes: a conversation
{"id": "t_...", "updated_time": "...+0000", ...}, a message {"id": "m_...",
"created_time", "from": {"name", "email", "id"}, "to": {"data": [...]}}; newest updated
first, cursor paging.  POST /{page-id}/messages (the Send API) {recipient, message,
messaging_type} -> {"recipient_id", "message_id"}.  Without pages_messaging /
instagram_manage_messages: error 10 (#10 ... permission).
"""
from __future__ import annotations

import json
import time

from .base import Request, Response


class MessagingDouble:
    """Mixed into graph.Server (graph.py is imported by the time these run)."""

    def setup_dm_routes(self, version: str) -> None:
        from .graph import PAGE_ID

        self.conversations: dict[str, dict] = {}      # id -> {"platform", "person", "messages": [...], "updated"}
        self.can_message = True
        self.route("GET", version + rf"/{PAGE_ID}/conversations", self.list_conversations)
        self.route("POST", version + rf"/{PAGE_ID}/messages", self.send_message)

    def resident_message(self, text: str, name: str = "Resident", platform: str = "messenger") -> dict:
        with self.lock:
            person = {"id": str(7000000 + len(name)), "name": name, "email": f"{7000000 + len(name)}@facebook.com"}
            conversation = next((c for c in list(self.conversations.values())
                                 if c["person"]["id"] == person["id"] and c["platform"] == platform), None)
            if conversation is None:
                conversation = {"id": f"t_{self.next_id()}", "platform": platform, "person": person, "messages": []}
                self.conversations[conversation["id"]] = conversation
            return self._message(conversation, person, text)

    def _message(self, conversation: dict, sender: dict, text: str) -> dict:
        at = time.time() + len(self.objects) * 0.001
        message = {"id": f"m_{self.next_id()}", "message": text, "from": sender,
                   "created_time": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(at))}
        conversation["messages"].insert(0, message)          # newest first, as Graph lists them
        conversation["updated_time"] = message["created_time"]
        return message

    def list_conversations(self, request: Request) -> Response:
        from .graph import PAGE_ID, graph_error

        if not self._token_ok(request):
            return self._bad_token()
        if not self.can_message:
            return graph_error(10, "(#10) This endpoint requires the 'pages_messaging' permission")
        form = request.form()
        platform = form.get("platform", "messenger")
        rows = [c for c in list(self.conversations.values()) if c["platform"] == platform
                and (not form.get("user_id") or c["person"]["id"] == form["user_id"])]
        rows.sort(key=lambda c: c["updated_time"], reverse=True)
        start = int(form.get("after") or 0)
        limit = int(form.get("limit") or 25)
        page = rows[start:start + limit]
        page_account = {"id": PAGE_ID, "name": "Blackburn Council", "email": f"{PAGE_ID}@facebook.com"}
        data = [{"id": c["id"], "updated_time": c["updated_time"],
                 "participants": {"data": [c["person"], page_account]},
                 "messages": {"data": c["messages"][:25]}} for c in page]
        paging = {"cursors": {"before": str(start), "after": str(start + len(page))}}
        if start + limit < len(rows):
            paging["next"] = f"{self.url}/{request.params['version']}/{PAGE_ID}/conversations?after={start + limit}"
        return Response(200, {"data": data, "paging": paging})

    def send_message(self, request: Request) -> Response:
        from .graph import PAGE_ID, graph_error

        if not self._token_ok(request):
            return self._bad_token()
        if not self.can_message:
            return graph_error(10, "(#10) This endpoint requires the 'pages_messaging' permission")
        form = request.form()
        recipient = json.loads(form["recipient"])["id"]
        conversation = next((c for c in list(self.conversations.values()) if c["person"]["id"] == recipient), None)
        if conversation is None or form.get("messaging_type") != "RESPONSE":
            return graph_error(100, "(#100) No matching user found", subcode=2018001)
        with self.lock:
            message = self._message(conversation, {"id": PAGE_ID, "name": "Blackburn Council"},
                                    json.loads(form["message"])["text"])
        return Response(200, {"recipient_id": recipient, "message_id": message["id"]})
