"""A small Bluesky AppView for tests, indexing the real PDS (#11).

The PDS serves ``com.atproto.*`` itself but proxies ``app.bsky.*`` reads to the AppView
named by ``PDS_BSKY_APP_VIEW_URL`` / ``PDS_BSKY_APP_VIEW_DID``, with a service-auth JWT
whose ``iss`` is the caller's DID (pipethrough.js in @atproto/pds).  This double is that
AppView: on each request it reads every repo on the PDS through the PDS's own public
sync/repo endpoints (``com.atproto.sync.listRepos``, ``com.atproto.repo.listRecords``,
``com.atproto.repo.describeRepo``) and answers:

- ``app.bsky.feed.getPostThread`` (uri, depth): ``threadViewPost`` with nested replies,
  following each record's ``reply.parent``; 400 ``NotFound`` for a missing post;
- ``app.bsky.notification.listNotifications`` (limit, cursor, reasons): newest first,
  reasons ``reply`` (a post whose parent is the viewer's), ``mention`` (a mention facet of
  the viewer's DID) and ``quote`` (an embed.record of the viewer's post); ``cursor`` is the
  last item's indexedAt, as the real AppView pages.

Shapes follow the lexicons (app.bsky.feed.defs, app.bsky.notification.listNotifications).
The JWT's signature is not checked: this stands in for Bluesky's service, not its auth.
The posts, replies and mentions themselves are real records written to the real PDS.
"""
from __future__ import annotations

import base64
import json
from urllib.parse import urlencode
from urllib.request import urlopen

from .base import Request, Response, TestServer

DID = "did:web:appview.test"


class Server(TestServer):
    name = "appview"
    blocking = True     # answers read the real PDS (urlopen): in a thread, not on the shared loop

    def setup_routes(self) -> None:
        self.pds_url = ""                          # set once the PDS has started
        self.route("GET", r"/xrpc/app.bsky.feed.getPostThread", self.get_post_thread)
        self.route("GET", r"/xrpc/app.bsky.notification.listNotifications", self.list_notifications)

    def pds_env(self) -> dict[str, str]:
        return {"PDS_BSKY_APP_VIEW_URL": self.url, "PDS_BSKY_APP_VIEW_DID": DID}

    def fault_response(self, kind: str, request: Request) -> Response:
        if kind == "429":
            import time

            return Response(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                            {"ratelimit-limit": "3000", "ratelimit-remaining": "0",
                             "ratelimit-reset": str(int(time.time()) + 30)})
        return super().fault_response(kind, request)

    # ----- reading the PDS -------------------------------------------------------------
    def _pds(self, method: str, **params) -> dict:
        with urlopen(f"{self.pds_url}/xrpc/{method}?{urlencode(params)}", timeout=10) as answer:
            return json.loads(answer.read())

    def _index(self) -> tuple[dict[str, dict], dict[str, str]]:
        posts, handles = {}, {}
        for repo in self._pds("com.atproto.sync.listRepos", limit=1000).get("repos", []):
            did = repo["did"]
            handles[did] = self._pds("com.atproto.repo.describeRepo", repo=did)["handle"]
            cursor = None
            while True:
                params = {"repo": did, "collection": "app.bsky.feed.post", "limit": 100}
                if cursor:
                    params["cursor"] = cursor
                listed = self._pds("com.atproto.repo.listRecords", **params)
                for record in listed.get("records", []):
                    posts[record["uri"]] = {**record, "did": did}
                cursor = listed.get("cursor")
                if not cursor or not listed.get("records"):
                    break
        return posts, handles

    @staticmethod
    def _viewer(request: Request) -> str | None:
        token = (request.header("Authorization") or "").removeprefix("Bearer ")
        try:
            payload = token.split(".")[1]
            return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["iss"]
        except (IndexError, ValueError, KeyError):
            return None

    @staticmethod
    def _view(post: dict, handles: dict[str, str], posts: dict[str, dict]) -> dict:
        replies = sum(1 for p in posts.values() if (p["value"].get("reply") or {}).get("parent", {}).get("uri")
                      == post["uri"])
        return {"uri": post["uri"], "cid": post["cid"], "author": {"did": post["did"], "handle": handles[post["did"]]},
                "record": post["value"], "indexedAt": post["value"]["createdAt"], "replyCount": replies,
                "repostCount": 0, "likeCount": 0, "quoteCount": 0, "labels": []}

    # ----- app.bsky.feed.getPostThread -----------------------------------------------------
    def get_post_thread(self, request: Request) -> Response:
        posts, handles = self._index()
        uri = request.query.get("uri", [""])[0]
        depth = int(request.query.get("depth", ["6"])[0])
        if uri not in posts:
            return Response(400, {"error": "NotFound", "message": f"Post not found: {uri}"})

        def thread(post: dict, level: int) -> dict:
            children = sorted((p for p in posts.values()
                               if (p["value"].get("reply") or {}).get("parent", {}).get("uri") == post["uri"]),
                              key=lambda p: p["value"]["createdAt"])
            node = {"$type": "app.bsky.feed.defs#threadViewPost", "post": self._view(post, handles, posts)}
            if level < depth:
                node["replies"] = [thread(child, level + 1) for child in children]
            return node

        return Response(200, {"thread": thread(posts[uri], 0)})

    # ----- app.bsky.notification.listNotifications ----------------------------------------
    def list_notifications(self, request: Request) -> Response:
        viewer = self._viewer(request)
        if viewer is None:
            return Response(401, {"error": "AuthMissing", "message": "Authentication Required"})
        posts, handles = self._index()
        found = []
        for post in posts.values():
            if post["did"] == viewer:
                continue
            record = post["value"]
            parent = (record.get("reply") or {}).get("parent", {}).get("uri", "")
            mentioned = any(f.get("did") == viewer for facet in record.get("facets") or []
                            for f in facet.get("features", []))
            quoted = ((record.get("embed") or {}).get("record") or {}).get("uri", "")
            reason, subject = None, None
            if parent and parent in posts and posts[parent]["did"] == viewer:
                reason, subject = "reply", parent
            elif mentioned:
                reason = "mention"
            elif quoted and quoted in posts and posts[quoted]["did"] == viewer:
                reason, subject = "quote", quoted
            if reason:
                item = {"uri": post["uri"], "cid": post["cid"], "author": {"did": post["did"],
                                                                          "handle": handles[post["did"]]},
                        "reason": reason, "record": record, "isRead": False, "indexedAt": record["createdAt"],
                        "labels": []}
                if subject:
                    item["reasonSubject"] = subject
                found.append(item)
        reasons = request.query.get("reasons", [])
        if reasons:
            found = [n for n in found if n["reason"] in reasons]
        found.sort(key=lambda n: (n["indexedAt"], n["uri"]), reverse=True)
        cursor = request.query.get("cursor", [None])[0]
        if cursor:
            found = [n for n in found if (n["indexedAt"], n["uri"]) < tuple(cursor.split("|", 1))]
        limit = int(request.query.get("limit", ["50"])[0])
        page = found[:limit]
        body = {"notifications": page}
        if len(found) > limit:
            body["cursor"] = f"{page[-1]['indexedAt']}|{page[-1]['uri']}"
        return Response(200, body)
