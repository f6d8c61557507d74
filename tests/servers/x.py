"""An X (Twitter) test double: API v2 tweets and users, and the v1.1 media upload host.

Shapes follow X's API reference and the responses recorded in tweepy's cassettes
(create_tweet -> 201 {"data": {"id", "text", "edit_history_tweet_ids"}}; errors as
{"title", "detail", "type", "status"}; 429 with x-rate-limit-* headers).  It rejects a
tweet whose text duplicates an earlier one (403), as X does, and shortens links in
what it returns to t.co, as X does.
"""
from __future__ import annotations

import re
import time

from .base import Request, Response, TestServer

USER = {"id": "2244994945", "name": "Blackburn Council", "username": "BlackburnCouncil"}
_URL = re.compile(r"https?://\S+")


def problem(status: int, title: str, detail: str) -> Response:
    return Response(status, {"title": title, "detail": detail, "type": "about:blank", "status": status})


class Server(TestServer):
    name = "x"

    def setup_routes(self) -> None:
        self.tweets: dict[str, dict] = {}
        self.reject_duplicates = True           # as X does; the crash test turns it off to see any double post
        self.media: dict[str, dict] = {}
        self.alt_text: dict[str, str] = {}
        self.route("POST", r"/2/tweets", self.create_tweet)
        self.route("GET", r"/2/users/me", self.get_me)
        self.route("GET", r"/2/users/(?P<id>\d+)/tweets", self.users_tweets)
        self.route("POST", r"/1\.1/media/upload\.json", self.upload)
        self.route("GET", r"/1\.1/media/upload\.json", self.upload_status)
        self.route("POST", r"/1\.1/media/metadata/create\.json", self.metadata)

    def fault_response(self, kind: str, request: Request) -> Response:
        if kind == "5xx":
            return problem(503, "Service Unavailable", "Service Unavailable")
        if kind == "429":
            reset = int(time.time()) + 60
            response = problem(429, "Too Many Requests", "Too Many Requests")
            response.headers.update({"x-rate-limit-limit": "200", "x-rate-limit-remaining": "0",
                                     "x-rate-limit-reset": str(reset)})
            return response
        if kind == "expired_token":
            return problem(401, "Unauthorized", "Unauthorized")
        if kind == "duplicate":
            return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
        raise ValueError(kind)

    def _signed(self, request: Request) -> bool:
        return (request.header("Authorization") or "").startswith("OAuth ") and \
            'oauth_consumer_key="' in request.header("Authorization")

    def create_tweet(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        body = request.json()
        text = body.get("text", "")
        with self.lock:
            if self.reject_duplicates and any(t["text"] == text for t in self.tweets.values()):
                return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
            tweet_id = str(int(time.time() * 1000) << 22 | int(self.next_id()) % 4096)
            self.tweets[tweet_id] = {
                "id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id],
                "in_reply_to_tweet_id": (body.get("reply") or {}).get("in_reply_to_tweet_id"),
                "media_ids": (body.get("media") or {}).get("media_ids", []),
            }
        return Response(201, {"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}})

    def get_me(self, request: Request) -> Response:
        if not self._signed(request):
            return problem(401, "Unauthorized", "Unauthorized")
        return Response(200, {"data": USER})

    def users_tweets(self, request: Request) -> Response:
        limit = int(request.query.get("max_results", ["10"])[0])
        newest = sorted(self.tweets.values(), key=lambda t: int(t["id"]), reverse=True)[:limit]
        data = [{"id": t["id"], "text": _URL.sub("https://t.co/AbCdEf1234", t["text"]),
                 "edit_history_tweet_ids": [t["id"]]} for t in newest]
        meta = {"result_count": len(data)}
        if data:
            meta.update(newest_id=data[0]["id"], oldest_id=data[-1]["id"])
        return Response(200, {"data": data, "meta": meta} if data else {"meta": meta})

    def upload(self, request: Request) -> Response:
        if not self._signed(request):
            return Response(401, {"errors": [{"code": 32, "message": "Could not authenticate you."}]})
        form = request.form()
        command = form.get("command")
        if command == "INIT":
            media_id = self.next_id()
            self.media[media_id] = {"type": form.get("media_type"), "bytes": b"", "total": int(form["total_bytes"])}
            return Response(202, {"media_id": int(media_id), "media_id_string": media_id, "expires_after_secs": 86400})
        if command == "APPEND":
            self.media[form["media_id"]]["bytes"] += form["media"]
            return Response(204)
        if command == "FINALIZE":
            media_id = form["media_id"]
            return Response(201, {"media_id": int(media_id), "media_id_string": media_id,
                                  "size": len(self.media[media_id]["bytes"]), "expires_after_secs": 86400,
                                  "processing_info": {"state": "succeeded", "progress_percent": 100}})
        media_id = self.next_id()
        data = form.get("media") or b""
        self.media[media_id] = {"type": "image", "bytes": data}
        return Response(200, {"media_id": int(media_id), "media_id_string": media_id, "size": len(data),
                              "expires_after_secs": 86400, "image": {"image_type": "image/png", "w": 2, "h": 2}})

    def upload_status(self, request: Request) -> Response:
        media_id = request.query["media_id"][0]
        return Response(200, {"media_id": int(media_id), "media_id_string": media_id,
                              "processing_info": {"state": "succeeded", "progress_percent": 100}})

    def metadata(self, request: Request) -> Response:
        body = request.json()
        self.alt_text[str(body["media_id"])] = body["alt_text"]["text"]
        return Response(200)
