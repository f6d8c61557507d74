"""A Meta Graph API test double: Facebook Page, Instagram (business) and Threads paths.

Shapes follow the Graph API reference and python-facebook-api's testdata: ids as strings,
page posts as "PAGEID_POSTID", containers with status_code, errors as
{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}} with HTTP 400,
rate limits as codes with an X-Business-Use-Case-Usage header.  The access token is
checked on every call (query string for GET, form field for POST), as Graph does.
"""
from __future__ import annotations

import json
import time

from .base import Request, Response, TestServer

TOKEN = "EAAGraphTestToken0123456789abcdef"
PAGE_ID = "104000000000001"
IG_USER = "17841400000000001"
THREADS_USER = "25000000000000001"


def graph_error(code: int, message: str, subcode: int | None = None, status: int = 400,
                kind: str = "OAuthException", headers: dict | None = None) -> Response:
    error = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEfGh123"}
    if subcode:
        error["error_subcode"] = subcode
    return Response(status, {"error": error}, headers or {})


class Server(TestServer):
    name = "graph"

    def setup_routes(self) -> None:
        self.objects: dict[str, dict] = {}
        self.container_polls_before_finished = 1
        version = r"/(?P<version>v\d+\.\d+)"
        self.route("POST", version + rf"/{PAGE_ID}/feed", self.page_feed)
        self.route("POST", version + rf"/{PAGE_ID}/photos", self.page_photo)
        self.route("POST", version + rf"/{PAGE_ID}/videos", self.page_video)
        self.route("GET", version + rf"/{PAGE_ID}/posts", self.page_posts)
        self.route("POST", version + rf"/{IG_USER}/media", self.ig_container)
        self.route("POST", version + rf"/{IG_USER}/media_publish", self.ig_publish)
        self.route("GET", version + rf"/{IG_USER}/media", self.ig_media)
        self.route("POST", version + rf"/{THREADS_USER}/threads", self.threads_container)
        self.route("POST", version + rf"/{THREADS_USER}/threads_publish", self.threads_publish)
        self.route("GET", version + rf"/{THREADS_USER}/threads", self.threads_list)
        self.route("GET", version + rf"/{THREADS_USER}/replies", self.threads_list)
        self.route("GET", version + r"/debug_token", self.debug_token)
        self.route("GET", version + r"/(?P<id>[\w]+)", self.get_object)

    # ----- plumbing ------------------------------------------------------------------
    def fault_response(self, kind: str, request: Request) -> Response:
        if kind == "5xx":
            return graph_error(2, "Service temporarily unavailable", status=503)
        if kind == "429":
            usage = {PAGE_ID: [{"type": "pages", "call_count": 100, "total_cputime": 25, "total_time": 25,
                                "estimated_time_to_regain_access": 5}]}
            return graph_error(32, "Page request limit reached", headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
        if kind == "expired_token":
            return graph_error(190, "Error validating access token: Session has expired on Tuesday, 24-Nov-26 "
                               "12:00:00 PST.", subcode=463, status=401)
        if kind == "duplicate":
            return graph_error(506, "Duplicate status message", kind="FacebookApiException")
        raise ValueError(kind)

    def _token_ok(self, request: Request) -> bool:
        return request.form().get("access_token") == TOKEN

    def _bad_token(self) -> Response:
        return graph_error(190, "Invalid OAuth access token - Cannot parse access token")

    def _new(self, obj: dict) -> dict:
        with self.lock:
            obj.setdefault("id", self.next_id())
            obj["created_time"] = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime())
            self.objects[obj["id"]] = obj
        return obj

    # ----- Facebook Page -------------------------------------------------------------
    def page_feed(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        form = request.form()
        attached = [json.loads(v)["media_fbid"] for k, v in form.items() if k.startswith("attached_media")]
        post = self._new({"id": f"{PAGE_ID}_{self.next_id()}", "kind": "post", "message": form.get("message", ""),
                          "link": form.get("link"), "photos": attached})
        return Response(200, {"id": post["id"]})

    def page_photo(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        form = request.form()
        photo = self._new({"kind": "photo", "bytes": len(form.get("source") or b""), "alt_text_custom": form.get("alt_text_custom")})
        if form.get("published", "true") == "false":
            return Response(200, {"id": photo["id"]})
        post = self._new({"id": f"{PAGE_ID}_{self.next_id()}", "kind": "post", "message": form.get("message", ""),
                          "photos": [photo["id"]]})
        return Response(200, {"id": photo["id"], "post_id": post["id"]})

    def page_video(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        form = request.form()
        video = self._new({"kind": "video", "description": form.get("description", ""), "title": form.get("title"),
                           "bytes": len(form.get("source") or b"")})
        return Response(200, {"id": video["id"]})

    def page_posts(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        posts = [o for o in self.objects.values() if o["kind"] == "post"][::-1][:25]
        return Response(200, {"data": [{"id": p["id"], "message": p["message"], "created_time": p["created_time"],
                                        "permalink_url": f"https://www.facebook.com/{p['id']}"} for p in posts],
                              "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"}}})

    # ----- Instagram -------------------------------------------------------------------
    def ig_container(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        form = request.form()
        if len(form.get("caption") or "") > 2200:
            return graph_error(100, "The caption is too long", subcode=2207017, kind="OAuthException")
        container = self._new({"kind": "container", "network": "instagram", "polls": 0, **{
            k: form.get(k) for k in ("image_url", "video_url", "caption", "alt_text", "media_type",
                                     "is_carousel_item", "children")}})
        return Response(200, {"id": container["id"]})

    def ig_publish(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        container = self.objects.get(request.form().get("creation_id", ""))
        if not container or container.get("status_code") != "FINISHED":
            return graph_error(9007, "Media ID is not available", subcode=2207027)
        media = self._new({"kind": "ig_media", "caption": container.get("caption"), "container": container["id"]})
        media["timestamp"] = media["created_time"]
        media["permalink"] = f"https://www.instagram.com/p/C{media['id']}/"
        return Response(200, {"id": media["id"]})

    def ig_media(self, request: Request) -> Response:
        media = [o for o in self.objects.values() if o["kind"] == "ig_media"][::-1]
        return Response(200, {"data": [{"id": m["id"], "caption": m["caption"], "permalink": m["permalink"],
                                        "timestamp": m["timestamp"]} for m in media]})

    # ----- Threads -----------------------------------------------------------------------
    def threads_container(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        form = request.form()
        if len(form.get("text") or "") > 500:
            return graph_error(100, "Param text must be at most 500 characters long.")
        container = self._new({"kind": "container", "network": "threads", "polls": 0, **{
            k: form.get(k) for k in ("media_type", "text", "image_url", "video_url", "alt_text", "reply_to_id")}})
        if container["media_type"] == "TEXT":
            container["status_code"] = "FINISHED"
        return Response(200, {"id": container["id"]})

    def threads_publish(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        container = self.objects.get(request.form().get("creation_id", ""))
        if not container or container.get("status_code") != "FINISHED":
            return graph_error(24, "The requested resource does not exist", subcode=4279009)
        post = self._new({"kind": "thread", "text": container.get("text"), "reply_to_id": container.get("reply_to_id"),
                          "container": container["id"]})
        post["permalink"] = f"https://www.threads.net/@council/post/T{post['id']}"
        post["timestamp"] = post["created_time"]
        return Response(200, {"id": post["id"]})

    def threads_list(self, request: Request) -> Response:
        """/threads lists the user's posts, /replies the user's replies (Threads API)."""
        replies = request.path.endswith("/replies")
        posts = [o for o in self.objects.values() if o["kind"] == "thread" and bool(o.get("reply_to_id")) == replies][::-1]
        # A reply names the post it answers as replied_to {"id"} (Threads API, reply management).
        return Response(200, {"data": [{"id": p["id"], "text": p["text"], "permalink": p["permalink"],
                                        "timestamp": p["timestamp"],
                                        **({"replied_to": {"id": p["reply_to_id"]}} if p.get("reply_to_id") else {})}
                                       for p in posts]})

    # ----- any object --------------------------------------------------------------------
    def get_object(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        object_id = request.params["id"]
        if object_id == PAGE_ID:
            return Response(200, {"id": PAGE_ID, "name": "Blackburn Council"})
        if object_id in (IG_USER, "me", THREADS_USER):
            return Response(200, {"id": object_id, "username": "blackburncouncil"})
        obj = self.objects.get(object_id)
        if obj is None:
            return graph_error(100, f"Unsupported get request. Object with ID '{object_id}' does not exist",
                               subcode=33, kind="GraphMethodException")
        if obj["kind"] == "container":
            obj["polls"] += 1                 # IN_PROGRESS first, as real containers are
            if obj["polls"] > self.container_polls_before_finished:
                obj["status_code"] = "FINISHED"
            return Response(200, {"id": obj["id"], "status_code": obj.get("status_code", "IN_PROGRESS")})
        fields = (request.form().get("fields") or "id").split(",")
        return Response(200, {k: obj.get(k) for k in ["id", *fields] if k in obj or k == "id"})

    def debug_token(self, request: Request) -> Response:
        return Response(200, {"data": {"app_id": "1234", "type": "PAGE", "is_valid": True,
                                       "expires_at": 0, "data_access_expires_at": int(time.time()) + 60 * 86400,
                                       "scopes": ["pages_manage_posts", "pages_read_engagement"]}})
