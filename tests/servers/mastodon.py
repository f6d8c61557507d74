"""A Mastodon test double: the REST paths Mastodon.py uses, with Mastodon's JSON shapes.

Status and media shapes follow Mastodon's API documentation and the statuses recorded
in Mastodon.py's test cassettes (content is HTML, url/uri, account, media_attachments
with description).  It honours ``Idempotency-Key`` like real Mastodon: a repeated POST
with the same key returns the first status and creates nothing.
"""
from __future__ import annotations

import html
import time
from datetime import datetime, timedelta, timezone

from .base import Request, Response, TestServer

TOKEN = "mastodon-test-token-0123456789"


class Server(TestServer):
    name = "mastodon"

    def setup_routes(self) -> None:
        self.statuses: dict[str, dict] = {}
        self.media: dict[str, dict] = {}
        self.idempotency: dict[str, str] = {}
        self.token = TOKEN
        self.account = {"id": "109000000000000001", "username": "council", "acct": "council",
                        "display_name": "Blackburn Council", "locked": False, "bot": False,
                        "created_at": "2022-11-01T00:00:00.000Z", "note": "", "url": "", "avatar": "", "header": "",
                        "followers_count": 10, "following_count": 1, "statuses_count": 0, "emojis": [], "fields": []}
        self.route("GET", r"/api/v1/accounts/verify_credentials", self.verify)
        self.route("GET", r"/api/v1/accounts/(?P<id>\d+)/statuses", self.account_statuses)
        self.route("POST", r"/api/v2/media", self.media_post)
        self.route("GET", r"/api/v1/media/(?P<id>\d+)", self.media_get)
        self.route("POST", r"/api/v1/statuses", self.status_post)
        self.route("GET", r"/api/v1/statuses/(?P<id>\d+)", self.status_get)
        self.route("GET", r"/api/v1/instance", lambda r: Response(200, {"uri": "mastodon.test", "version": "4.2.0"}))
        self.setup_inbox_routes()

    # Mastodon answers every request for a bad token with 401 {"error": "The access token is invalid"}.
    def authorised(self, request: Request) -> bool:
        return request.header("Authorization") == f"Bearer {self.token}"

    def _unauthorised(self) -> Response:
        return Response(401, {"error": "The access token is invalid"})

    def fault_response(self, kind: str, request: Request) -> Response:
        if kind == "5xx":
            return Response(503, "<html><body><h1>503 Service Unavailable</h1></body></html>",
                            {"Content-Type": "text/html"})
        if kind == "429":
            reset = (datetime.now(timezone.utc) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            return Response(429, {"error": "Too many requests"},
                            {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
        if kind == "expired_token":
            return self._unauthorised()
        if kind == "duplicate":
            return Response(422, {"error": "Validation failed: Text has already been posted"})
        raise ValueError(kind)

    def verify(self, request: Request) -> Response:
        return Response(200, self.account) if self.authorised(request) else self._unauthorised()

    def account_statuses(self, request: Request) -> Response:
        if not self.authorised(request):
            return self._unauthorised()
        limit = int(request.query.get("limit", ["20"])[0])
        newest = sorted(self.statuses.values(), key=lambda s: int(s["id"]), reverse=True)[:limit]
        return Response(200, newest)

    def media_post(self, request: Request) -> Response:
        if not self.authorised(request):
            return self._unauthorised()
        form = request.form()
        media_id = self.next_id()
        kind = "video" if (form.get("file") or b"")[4:8] == b"ftyp" else "image"
        attachment = {"id": media_id, "type": kind, "url": f"{self.url}/system/media/{media_id}.png",
                      "preview_url": f"{self.url}/system/media/{media_id}_small.png", "remote_url": None,
                      "meta": {}, "description": form.get("description") or None, "blurhash": None,
                      "bytes": len(form.get("file") or b"")}
        self.media[media_id] = attachment
        return Response(200, attachment)

    def media_get(self, request: Request) -> Response:
        media = self.media.get(request.params["id"])
        return Response(200, media) if media else Response(404, {"error": "Record not found"})

    def status_post(self, request: Request) -> Response:
        if not self.authorised(request):
            return self._unauthorised()
        key = request.header("Idempotency-Key")
        with self.lock:
            if key and key in self.idempotency:
                return Response(200, self.statuses[self.idempotency[key]])
            form = request.form() if "json" not in (request.header("content-type") or "") else request.json()
            text = form.get("status", "")
            if len(text) > 500:
                return Response(422, {"error": "Validation failed: Text character limit of 500 exceeded"})
            media_ids = [v for k, values in request.query.items() for v in values if k.startswith("media_ids")]
            media_ids += _form_list(request, "media_ids")
            status_id = str(int(time.time() * 1000) * 1000 + int(self.next_id()) % 1000)
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br />')}</p>" for p in text.split("\n\n"))
            status = {
                "id": status_id, "created_at": now, "in_reply_to_id": form.get("in_reply_to_id") or None,
                "in_reply_to_account_id": self.account["id"] if form.get("in_reply_to_id") else None,
                "sensitive": False, "spoiler_text": "", "visibility": form.get("visibility", "public"),
                "language": form.get("language") or "en", "uri": f"{self.url}/users/council/statuses/{status_id}",
                "url": f"{self.url}/@council/{status_id}", "replies_count": 0, "reblogs_count": 0,
                "favourites_count": 0, "edited_at": None, "content": paragraphs, "reblog": None,
                "application": {"name": "civicpost", "website": None}, "account": self.account,
                "media_attachments": [self.media[m] for m in media_ids if m in self.media],
                "mentions": [], "tags": [], "emojis": [], "card": None, "poll": None,
            }
            self.statuses[status_id] = status
            if key:
                self.idempotency[key] = status_id
        return Response(200, status)

    def status_get(self, request: Request) -> Response:
        status = self.statuses.get(request.params["id"])
        return Response(200, status) if status else Response(404, {"error": "Record not found"})

    # ----- the inbox: replies, mentions, edits and deletions (#11) ------------------------
    # Context and notifications follow Mastodon's API docs: GET /api/v1/statuses/:id/context
    # -> {"ancestors", "descendants"} (depth-first, oldest first); GET /api/v1/notifications
    # with types[], min_id/since_id/max_id and limit, newest first, and a Link header
    # (rel="next" max_id=oldest, rel="prev" min_id=newest) that Mastodon.py pages with.
    def setup_inbox_routes(self) -> None:
        self.notifications: list[dict] = []
        self.mutations = 0                      # bumps the context index (see status_context)
        self.forbid_notifications = False       # a token without the read:notifications scope
        self.route("GET", r"/api/v1/statuses/(?P<id>\d+)/context", self.status_context)
        self.route("GET", r"/api/v1/notifications", self.notifications_list)

    def resident_status(self, text: str, in_reply_to: str | None = None, acct: str = "resident@example.social",
                        mention: bool = True, language: str | None = "en") -> dict:
        """A resident's status (a reply under in_reply_to, or a plain mention), with the
        mention notification Mastodon gives the council for it."""
        with self.lock:
            status_id = str(int(time.time() * 1000) * 1000 + int(self.next_id()) % 1000)
            account = {**self.account, "id": str(200000000000 + len(acct)), "username": acct.split("@")[0],
                       "acct": acct, "display_name": acct.split("@")[0].title()}
            own = acct == self.account["acct"]
            if own:
                account = self.account
            status = {"sensitive": False, "spoiler_text": "", "replies_count": 0, "reblogs_count": 0,
                      "favourites_count": 0, "reblog": None, "application": None, "tags": [], "emojis": [],
                      "card": None, "poll": None, "in_reply_to_account_id": None,
                      "id": status_id, "in_reply_to_id": in_reply_to,
                      "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                      "content": f"<p>{html.escape(text)}</p>", "account": account, "edited_at": None,
                      "url": f"{self.url}/@{acct}/{status_id}", "uri": f"{self.url}/users/{acct}/statuses/{status_id}",
                      "language": language, "media_attachments": [], "mentions": [], "visibility": "public"}
            self.statuses[status_id] = status
            self.mutations += 1
            if mention and not own:
                self.notifications.append({"id": str(int(self.next_id()) * 10), "type": "mention",
                                           "created_at": status["created_at"], "account": account,
                                           "status": status})
        return status

    def edit_status(self, status_id: str, text: str) -> None:
        with self.lock:
            status = self.statuses[status_id]
            status["content"] = f"<p>{html.escape(text)}</p>"
            status["edited_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def delete_status(self, status_id: str) -> None:
        with self.lock:
            self.mutations += 1
            self.statuses.pop(status_id)
            for notification in self.notifications:      # Mastodon drops the status from it
                if notification["status"] and notification["status"]["id"] == status_id:
                    notification["status"] = None

    def status_context(self, request: Request) -> Response:
        if not self.authorised(request):
            return self._unauthorised()
        root = request.params["id"]
        if root not in self.statuses:
            return Response(404, {"error": "Record not found"})
        with self.lock:                   # a parent -> children index, rebuilt when statuses change
            key = (len(self.statuses), self.mutations)
            if getattr(self, "_children_of", (None, None))[1] != key:
                index: dict[str, list] = {}
                for status in self.statuses.values():
                    index.setdefault(status.get("in_reply_to_id"), []).append(status)
                self._children_of = (index, key)
            index = self._children_of[0]
        descendants, frontier = [], [root]
        while frontier:
            parent = frontier.pop(0)
            children = sorted(index.get(parent, []), key=lambda s: int(s["id"]))
            descendants += children
            frontier += [c["id"] for c in children]
        return Response(200, {"ancestors": [], "descendants": descendants})

    def notifications_list(self, request: Request) -> Response:
        if not self.authorised(request):
            return self._unauthorised()
        if self.forbid_notifications:
            return Response(403, {"error": "This action is outside the authorized scopes"})
        query = request.query
        types = query.get("types[]", []) or query.get("types", [])
        rows = [n for n in self.notifications if not types or n["type"] in types]
        rows.sort(key=lambda n: int(n["id"]))
        limit = int(query.get("limit", ["40"])[0])
        if query.get("max_id"):
            rows = [n for n in rows if int(n["id"]) < int(query["max_id"][0])]
        if query.get("since_id"):
            rows = [n for n in rows if int(n["id"]) > int(query["since_id"][0])]
        if query.get("min_id"):          # immediately newer than min_id: the oldest `limit` of them
            rows = [n for n in rows if int(n["id"]) > int(query["min_id"][0])][:limit]
        else:                            # otherwise the newest `limit`
            rows = rows[-limit:]
        page = rows[::-1]
        headers = {}
        if page:
            base = f"{self.url}/api/v1/notifications"
            headers["Link"] = (f'<{base}?max_id={page[-1]["id"]}>; rel="next", '
                               f'<{base}?min_id={page[0]["id"]}>; rel="prev"')
        return Response(200, page, headers)


def _form_list(request: Request, name: str) -> list[str]:
    if "multipart" in (request.header("content-type") or ""):
        return []
    values = request.body_fields()
    return values.get(f"{name}[]", []) + values.get(name, [])


def resident_direct(server: "Server", text: str, acct: str = "resident@example.social",
                    in_reply_to: str | None = None) -> dict:
    """A resident's direct message to the council: a status with visibility "direct" that
    mentions the council (Mastodon delivers it only to the accounts it mentions), with the
    mention notification the council gets for it (docs.joinmastodon.org: Status, visibility;
    Notification, type "mention")."""
    status = server.resident_status(text, in_reply_to=in_reply_to, acct=acct)
    with server.lock:
        status["visibility"] = "direct"
        status["mentions"] = [{"id": server.account["id"], "username": server.account["username"],
                               "acct": server.account["acct"], "url": server.account.get("url", "")}]
    return status
