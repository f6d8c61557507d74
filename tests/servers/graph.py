"""A Meta Graph API test double: Facebook Page, Instagram (business) and Threads paths.

Shapes follow the Graph API reference and python-facebook-api's testdata: ids as strings,
page posts as "PAGEID_POSTID", containers with each network's own status fields, errors as
{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}} with HTTP 400,
rate limits as codes with an X-Business-Use-Case-Usage header.  The access token is
checked on every call (query string for GET, form field for POST), as Graph does.
"""
from __future__ import annotations

import calendar
import json
import time
from pathlib import Path

from .base import Request, Response, TestServer
from .graph_messages import MessagingDouble

TOKEN = "EAAGraphTestToken0123456789abcdef"
PAGE_ID = "104000000000001"
IG_USER = "17841400000000001"
THREADS_USER = "25000000000000001"

# The fields a media container has, per network; asking for any other is Graph error 100.
# Instagram (IG Container reference): status_code (EXPIRED, ERROR, FINISHED, IN_PROGRESS,
# PUBLISHED) and status (the detail).  Threads (Threads API, "Troubleshooting: Publishing
# Does Not Return a Media ID"): status (the same values) and error_message.
CONTAINER_FIELDS = {"instagram": ("id", "status_code", "status"), "threads": ("id", "status", "error_message")}
JPEG_MAGIC = b"\xff\xd8\xff"
# Threads Media fields (Threads API reference, "Media": Threads Media object).
THREADS_MEDIA_FIELDS = {"id", "media_product_type", "media_type", "media_url", "gif_url", "permalink", "owner",
                        "username", "text", "timestamp", "shortcode", "thumbnail_url", "children", "is_quote_post",
                        "quoted_post", "reposted_post", "alt_text", "link_attachment_url", "has_replies", "is_reply",
                        "is_reply_owned_by_me", "root_post", "replied_to", "hide_status", "reply_audience",
                        "topic_tag"}


def graph_error(code: int, message: str, subcode: int | None = None, status: int = 400,
                kind: str = "OAuthException", headers: dict | None = None) -> Response:
    error = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEfGh123"}
    if subcode:
        error["error_subcode"] = subcode
    return Response(status, {"error": error}, headers or {})


class Server(MessagingDouble, TestServer):
    name = "graph"

    def setup_routes(self) -> None:
        self.objects: dict[str, dict] = {}
        self.container_polls_before_finished = 1
        self.container_error: str | None = None      # e.g. "FAILED_DOWNLOADING_VIDEO": containers end ERROR
        # The council's website as Instagram sees it: URL prefix -> local folder.  Instagram
        # cURLs image_url itself ("We cURL media used in publishing attempts") and takes JPEG
        # only, so a mapped URL is read and its bytes checked; an unmapped one by its name.
        self.web: dict[str, Path] = {}
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
        self.setup_inbox_routes(version)
        self.setup_dm_routes(version)
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
        """GET /{page-id}/posts: newest first, `limit` (default 25) a page, cursor paging with
        a "next" link while more remain.  Each post's updated_time is, as the Graph Post
        reference says, "the time the post was last updated, which occurs when the post was
        created, edited, or a user comments on a post" (resident_comment moves it)."""
        if not self._token_ok(request):
            return self._bad_token()
        form = request.form()
        posts = [o for o in list(self.objects.values()) if o["kind"] == "post"][::-1]
        start, limit = int(form.get("after") or 0), int(form.get("limit") or 25)
        page = posts[start:start + limit]
        paging = {"cursors": {"before": str(start), "after": str(start + len(page))}}
        if start + limit < len(posts):
            paging["next"] = f"{self.url}/{request.params['version']}/{PAGE_ID}/posts?after={start + limit}"
        return Response(200, {"data": [{"id": p["id"], "message": p["message"], "created_time": p["created_time"],
                                        "updated_time": p.get("updated_time", p["created_time"]),
                                        "permalink_url": f"https://www.facebook.com/{p['id']}"} for p in page],
                              "paging": paging})

    # ----- Instagram -------------------------------------------------------------------
    def ig_container(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        form = request.form()
        if len(form.get("caption") or "") > 2200:
            return graph_error(100, "The caption is too long", subcode=2207017, kind="OAuthException")
        if form.get("image_url"):
            refused = self._fetch_jpeg(form["image_url"])
            if refused:
                return refused
        container = self._new({"kind": "container", "network": "instagram", "polls": 0, **{
            k: form.get(k) for k in ("image_url", "video_url", "caption", "alt_text", "media_type",
                                     "is_carousel_item", "children")}})
        return Response(200, {"id": container["id"]})

    def _fetch_jpeg(self, url: str) -> Response | None:
        """Instagram's own check of image_url: "JPEG is the only image format supported"
        (IG User Media reference, image specifications); other formats are refused, as
        are extended JPEG formats (MPO, JPS).  Error per the Instagram error-codes table."""
        for prefix, folder in self.web.items():
            if url.startswith(prefix.rstrip("/") + "/"):
                path = Path(folder) / url[len(prefix.rstrip("/")) + 1:]
                if not path.is_file():
                    return graph_error(9004, "Only photo or video can be accepted as media type.", subcode=2207052)
                head = path.read_bytes()[:3]
                break
        else:
            head = JPEG_MAGIC if url.lower().split("?")[0].endswith((".jpg", ".jpeg")) else b""
        if head != JPEG_MAGIC:
            return graph_error(36001, "The image format is not supported.", subcode=2207005)
        return None

    def ig_publish(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        container = self.objects.get(request.form().get("creation_id", ""))
        if not container or container.get("state") != "FINISHED":
            return graph_error(9007, "Media ID is not available", subcode=2207027)
        media = self._new({"kind": "ig_media", "caption": container.get("caption"), "container": container["id"]})
        media["timestamp"] = media["created_time"]
        media["permalink"] = f"https://www.instagram.com/p/C{media['id']}/"
        return Response(200, {"id": media["id"]})

    def ig_media(self, request: Request) -> Response:
        media = [o for o in list(self.objects.values()) if o["kind"] == "ig_media"][::-1]
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
            container["state"] = "FINISHED"
        return Response(200, {"id": container["id"]})

    def threads_publish(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        container = self.objects.get(request.form().get("creation_id", ""))
        if not container or container.get("state") != "FINISHED":
            return graph_error(24, "The requested resource does not exist", subcode=4279009)
        post = self._new({"kind": "thread", "text": container.get("text"), "reply_to_id": container.get("reply_to_id"),
                          "container": container["id"]})
        post["permalink"] = f"https://www.threads.net/@council/post/T{post['id']}"
        post["timestamp"] = post["created_time"]
        return Response(200, {"id": post["id"]})

    def threads_list(self, request: Request) -> Response:
        """/threads lists the user's posts, /replies the user's replies (Threads API)."""
        replies = request.path.endswith("/replies")
        posts = [o for o in list(self.objects.values()) if o["kind"] == "thread" and bool(o.get("reply_to_id")) == replies][::-1]
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
        fields = (request.form().get("fields") or "id").split(",")
        if obj["kind"] == "container":
            return self._container_status(obj, fields)
        unknown = [f for f in fields if obj["kind"] == "thread" and f not in THREADS_MEDIA_FIELDS]
        if unknown:
            return graph_error(100, f"(#100) Tried accessing nonexisting field ({unknown[0]}) on node type "
                                    "(ThreadsMedia)")
        return Response(200, {k: obj.get(k) for k in ["id", *fields] if k in obj or k == "id"})

    def _container_status(self, obj: dict, fields: list[str]) -> Response:
        known = CONTAINER_FIELDS[obj["network"]]
        for name in fields:
            if name not in known:
                node = "ShadowIGMediaContainer" if obj["network"] == "instagram" else "ThreadsMediaContainer"
                return graph_error(100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})")
        obj["polls"] += 1                     # IN_PROGRESS first, as real containers are
        if obj.get("state") is None and obj["polls"] > self.container_polls_before_finished:
            obj["state"] = "ERROR" if self.container_error else "FINISHED"
            obj["error_message"] = self.container_error
        state = obj.get("state") or "IN_PROGRESS"
        values = {"id": obj["id"], "status_code": state, "status": state}
        if obj["network"] == "instagram":
            values["status"] = {"FINISHED": "Finished: Media has been uploaded and it is complete to publish.",
                                "IN_PROGRESS": "In Progress: Media is still being processed."}.get(state, state)
        elif state == "ERROR":
            values["error_message"] = obj.get("error_message", "UNKNOWN")
        return Response(200, {k: values[k] for k in ["id", *fields] if k in values})

    def debug_token(self, request: Request) -> Response:
        return Response(200, {"data": {"app_id": "1234", "type": "PAGE", "is_valid": True,
                                       "expires_at": 0, "data_access_expires_at": int(time.time()) + 60 * 86400,
                                       "scopes": ["pages_manage_posts", "pages_read_engagement"]}})

    # ----- the inbox: comments on Page posts (#11) -------------------------------------------
    # From the Graph API reference for /{object-id}/comments: filter=stream (every comment,
    # replies to comments included) or toplevel; order=chronological; since (Unix seconds);
    # cursor paging {"data", "paging": {"cursors": {"before", "after"}, "next"}}; a comment
    # from the Page itself has from.id = the Page id; reading without pages_read_user_content
    # is error 10.
    def setup_inbox_routes(self, version: str) -> None:
        self.can_read_comments = True
        self.route("GET", version + r"/(?P<post>\d+_\d+)/comments", self.post_comments)
        self.route("POST", version + r"/(?P<post>\d+_\d+)/comments", self.comment_on)
        self.route("GET", version + r"/(?P<media>\d+)/comments", self.ig_comments)
        self.route("POST", version + r"/(?P<comment>\d+)/replies", self.ig_reply)
        self.route("GET", version + r"/(?P<media>\d+)/conversation", self.threads_conversation)
        self.route("GET", version + rf"/{THREADS_USER}/mentions", self.threads_mentions)
        self.route("GET", version + rf"/{THREADS_USER}/replies", self.threads_own_replies)
        self.route("GET", version + r"/(?P<comment>\d+)/replies", self.ig_comment_replies)
        self.route("POST", version + r"/(?P<reply>\d+)/manage_reply", self.threads_hide)
        self.route("POST", version + r"/(?P<comment>\d+(_\d+)?)", self.hide_comment)

    def resident_comment(self, post_id: str, text: str, name: str = "Resident", reply_to: str | None = None,
                         from_page: bool = False, at: float | None = None) -> dict:
        author = {"id": PAGE_ID, "name": "Blackburn Council"} if from_page else \
            {"id": str(3000000 + len(name)), "name": name}
        comment = self._new({"id": f"{post_id.split('_')[1]}_{self.next_id()}", "kind": "comment",
                             "post": post_id, "message": text, "from": author, "parent": reply_to})
        if at is not None:
            comment["created_time"] = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(at))
        if post_id in self.objects:                       # a comment updates its post (Graph Post reference)
            self.objects[post_id]["updated_time"] = max(self.objects[post_id].get("updated_time", ""),
                                                        comment["created_time"])
        comment["permalink_url"] = f"https://www.facebook.com/{post_id}?comment_id={comment['id']}"
        return comment

    def edit_comment(self, comment_id: str, text: str) -> None:
        """The resident edits a comment: Graph keeps its id and created_time, with the new
        message (the Comment object has no edit time)."""
        with self.lock:
            self.objects[comment_id]["message"] = text

    def delete_comment(self, comment_id: str) -> None:
        """The resident deletes a comment: it no longer exists (error 100 if asked for) and
        is no longer listed; its replies go with it, as on Facebook."""
        with self.lock:
            self.objects.pop(comment_id)
            for reply in [o for o in list(self.objects.values()) if o.get("parent") == comment_id]:
                self.objects.pop(reply["id"])

    def post_comments(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        if not self.can_read_comments:
            return graph_error(10, "(#10) This endpoint requires the 'pages_read_user_content' permission")
        post = request.params["post"]
        if post not in self.objects:
            return graph_error(100, f"Unsupported get request. Object with ID '{post}' does not exist",
                               subcode=33, kind="GraphMethodException")
        form = request.form()
        if self.objects[post]["kind"] == "comment":       # a comment's own comments (its replies)
            comments = [o for o in list(self.objects.values()) if o["kind"] == "comment" and o["parent"] == post]
            form = {**form, "filter": "stream"}
        else:
            comments = [o for o in list(self.objects.values()) if o["kind"] == "comment" and o["post"] == post]
        if form.get("filter", "toplevel") == "toplevel":
            comments = [c for c in comments if not c["parent"]]
        if form.get("since"):
            since = int(form["since"])
            comments = [c for c in comments
                        if calendar.timegm(time.strptime(c["created_time"], "%Y-%m-%dT%H:%M:%S+0000")) >= since]
        comments.sort(key=lambda c: (c["created_time"], int(c["id"].split("_")[1])))
        start = int(form.get("after") or 0)
        limit = int(form.get("limit") or 25)
        page = comments[start:start + limit]
        data = []
        for c in page:
            item = {"id": c["id"], "message": c["message"], "created_time": c["created_time"], "from": c["from"],
                    "permalink_url": c["permalink_url"]}
            if c["parent"]:
                item["parent"] = {"id": c["parent"]}
            data.append(item)
        paging = {"cursors": {"before": str(start), "after": str(start + len(page))}}
        if start + limit < len(comments):
            paging["next"] = f"{self.url}/{request.params['version']}/{post}/comments?after={start + len(page)}"
        return Response(200, {"data": data, "paging": paging})

    def comment_on(self, request: Request) -> Response:
        """POST /{object-id}/comments as the Page: on a post, or a reply to a comment."""
        if not self._token_ok(request):
            return self._bad_token()
        target = self.objects.get(request.params["post"])
        if target is None:
            return graph_error(100, f"Unsupported post request. Object with ID '{request.params['post']}' does "
                               "not exist", subcode=33, kind="GraphMethodException")
        post = target["post"] if target["kind"] == "comment" else target["id"]
        comment = self.resident_comment(post, request.form().get("message", ""), from_page=True,
                                        reply_to=target["id"] if target["kind"] == "comment" else None)
        return Response(200, {"id": comment["id"]})

    # ----- the inbox: Instagram comments, Threads replies and mentions (#11) -------------------
    # Instagram: GET /{ig-media-id}/comments (fields incl. replies{...}, cursor paging; no
    # "since"), POST /{ig-comment-id}/replies?message=.  Threads: GET /{media}/conversation
    # (every reply at any depth, with replied_to, root_post, is_reply_owned_by_me) and GET
    # /{threads-user-id}/mentions (since, until), as in Meta's Threads API reference.
    def _cursor_page(self, request: Request, rows: list[dict], shape) -> Response:
        form = request.form()
        start, limit = int(form.get("after") or 0), int(form.get("limit") or 25)
        page = rows[start:start + limit]
        paging = {"cursors": {"before": str(start), "after": str(start + len(page))}}
        if start + limit < len(rows):
            paging["next"] = f"{self.url}{request.path}?after={start + len(page)}"
        return Response(200, {"data": [shape(r) for r in page], "paging": paging})

    def resident_ig_comment(self, media_id: str, text: str, username: str = "resident",
                            reply_to: str | None = None, from_account: bool = False) -> dict:
        author = {"id": IG_USER, "username": "blackburncouncil"} if from_account else \
            {"id": str(4000000 + len(username)), "username": username}
        return self._new({"kind": "ig_comment", "media": media_id, "text": text, "from": author,
                          "parent": reply_to, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime())})

    def ig_comments(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        media = request.params["media"]
        if self.objects.get(media, {}).get("kind") != "ig_media":
            return graph_error(100, f"Unsupported get request. Object with ID '{media}' does not exist",
                               subcode=33, kind="GraphMethodException")
        if not self.can_read_comments:
            return graph_error(10, "(#10) Application does not have permission for this action")
        comments = [o for o in list(self.objects.values()) if o["kind"] == "ig_comment" and o["media"] == media]

        def shape(c: dict) -> dict:
            replies = [r for r in comments if r["parent"] == c["id"]]
            out = {"id": c["id"], "text": c["text"], "timestamp": c["timestamp"], "username": c["from"]["username"],
                   "from": c["from"]}
            if replies:
                out["replies"] = {"data": [{"id": r["id"], "text": r["text"], "timestamp": r["timestamp"],
                                            "username": r["from"]["username"], "from": r["from"]} for r in replies]}
            return out

        return self._cursor_page(request, [c for c in comments if not c["parent"]], shape)

    def ig_reply(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        parent = self.objects.get(request.params["comment"])
        if parent is None or parent["kind"] != "ig_comment":
            return graph_error(100, "Unsupported post request.", subcode=33, kind="GraphMethodException")
        made = self.resident_ig_comment(parent["media"], request.form().get("message", ""), reply_to=parent["id"],
                                        from_account=True)
        return Response(200, {"id": made["id"]})

    def resident_thread(self, text: str, reply_to: str | None = None, username: str = "resident") -> dict:
        post = self._new({"kind": "thread", "text": text, "reply_to_id": reply_to, "username": username,
                          "container": None})
        post["permalink"] = f"https://www.threads.net/@{username}/post/T{post['id']}"
        return post

    def _thread_shape(self, post: dict) -> dict:
        root = post
        while root.get("reply_to_id") and root["reply_to_id"] in self.objects:
            root = self.objects[root["reply_to_id"]]
        timestamp = post["created_time"]
        out = {"id": post["id"], "text": post["text"], "timestamp": timestamp,
               "username": post.get("username") or "blackburncouncil", "permalink": post["permalink"],
               "is_reply_owned_by_me": (post.get("username") or "blackburncouncil") == "blackburncouncil",
               "root_post": {"id": root["id"]}}
        if post.get("reply_to_id"):
            out["replied_to"] = {"id": post["reply_to_id"]}
        return out

    def threads_conversation(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        media = request.params["media"]
        if self.objects.get(media, {}).get("kind") != "thread":
            return graph_error(100, f"Unsupported get request. Object with ID '{media}' does not exist",
                               subcode=33, kind="GraphMethodException")
        below, frontier = [], [media]
        while frontier:
            parent = frontier.pop(0)
            children = [o for o in list(self.objects.values()) if o["kind"] == "thread" and o.get("reply_to_id") == parent]
            below += children
            frontier += [c["id"] for c in children]
        return self._cursor_page(request, below, self._thread_shape)

    def threads_mentions(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        form = request.form()
        mentioned = [o for o in list(self.objects.values()) if o["kind"] == "thread" and "@blackburncouncil" in
                     (o.get("text") or "").lower() and o.get("username") not in (None, "blackburncouncil")]
        if form.get("since"):
            mentioned = [o for o in mentioned if calendar.timegm(time.strptime(
                o["created_time"], "%Y-%m-%dT%H:%M:%S+0000")) >= int(form["since"])]
        return self._cursor_page(request, mentioned[::-1], self._thread_shape)

    def threads_own_replies(self, request: Request) -> Response:
        mine = [o for o in list(self.objects.values()) if o["kind"] == "thread" and o.get("reply_to_id")
                and o.get("username") in (None, "blackburncouncil")][::-1]
        return self._cursor_page(request, mine, lambda p: {"id": p["id"], "text": p["text"],
                                                           "permalink": p["permalink"]})

    def ig_comment_replies(self, request: Request) -> Response:
        replies = [o for o in list(self.objects.values()) if o["kind"] == "ig_comment"
                   and o["parent"] == request.params["comment"]]
        return self._cursor_page(request, replies, lambda c: {"id": c["id"], "text": c["text"],
                                                              "timestamp": c["timestamp"]})

    # Hiding: POST /{comment-id} is_hidden=true (Facebook) or hide=true (Instagram), POST
    # /{reply-id}/manage_reply hide=true (Threads): {"success": true}.
    def hide_comment(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        comment = self.objects.get(request.params["comment"])
        if comment is None or comment["kind"] not in ("comment", "ig_comment"):
            return graph_error(100, "Unsupported post request.", subcode=33, kind="GraphMethodException")
        form = request.form()
        wanted = form.get("is_hidden") if comment["kind"] == "comment" else form.get("hide")
        if wanted is None:
            return graph_error(100, "(#100) No fields to update")
        comment["hidden"] = wanted == "true"
        return Response(200, {"success": True})

    def threads_hide(self, request: Request) -> Response:
        if not self._token_ok(request):
            return self._bad_token()
        reply = self.objects.get(request.params["reply"])
        if reply is None or reply["kind"] != "thread" or not reply.get("reply_to_id"):
            return graph_error(100, "Unsupported post request.", subcode=33, kind="GraphMethodException")
        reply["hidden"] = request.form().get("hide") == "true"
        return Response(200, {"success": True})
