"""A LinkedIn REST API test double: /rest/posts, /rest/images, /rest/videos, /rest/organizations.

Shapes follow LinkedIn's Posts and Images API documentation: 201 with the post URN in
the x-restli-id header and an empty body; errors as {"status", "serviceErrorCode",
"code", "message"}.  It requires the LinkedIn-Version and X-Restli-Protocol-Version
headers, as the real API does.
"""
from __future__ import annotations

import time

from .base import Request, Response, TestServer

TOKEN = "AQVlinkedinTestToken0123456789"
ORG = "urn:li:organization:5515715"


def li_error(status: int, code: str, message: str, service_code: int = 100) -> Response:
    return Response(status, {"status": status, "serviceErrorCode": service_code, "code": code, "message": message})


class Server(TestServer):
    name = "linkedin"

    def setup_routes(self) -> None:
        self.posts: dict[str, dict] = {}
        self.images: dict[str, dict] = {}
        self.route("POST", r"/rest/images", self.initialize_upload)
        self.route("PUT", r"/upload/(?P<image>[\w:]+)", self.upload)
        self.route("POST", r"/rest/posts", self.create_post)
        self.route("GET", r"/rest/posts", self.find_posts)
        self.route("GET", r"/rest/organizations/(?P<id>\d+)", self.organization)
        self.videos: dict[str, dict] = {}
        self.video_part_bytes = 4 * 1024 * 1024          # LinkedIn's parts are 4 MB
        self.video_polls_before_available = 1
        self.video_processing_fails = False               # True: PROCESSING_FAILED after finalizeUpload
        self.route("POST", r"/rest/videos", self.video_action)
        self.route("PUT", r"/video-upload/(?P<video>[\w:]+)/(?P<part>\d+)", self.video_part)
        self.route("PUT", r"/captions-upload/(?P<video>[\w:]+)", self.video_captions)
        self.route("GET", r"/rest/videos/(?P<video>[\w:%]+)", self.video_status)
        self.setup_inbox_routes()

    def fault_response(self, kind: str, request: Request) -> Response:
        if kind == "5xx":
            return li_error(503, "SERVICE_UNAVAILABLE", "Service Unavailable", 0)
        if kind == "429":
            response = li_error(429, "TOO_MANY_REQUESTS", "Resource level throttle APPLICATION DAY limit reached", 101)
            response.headers["Retry-After"] = "600"
            return response
        if kind == "expired_token":
            return li_error(401, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired", 65601)
        if kind == "duplicate":
            return li_error(422, "DUPLICATE_POST", "Content is a duplicate of urn:li:share:7000000000000000001")
        raise ValueError(kind)

    def _check(self, request: Request) -> Response | None:
        if request.header("Authorization") != f"Bearer {TOKEN}":
            return li_error(401, "REVOKED_ACCESS_TOKEN", "The token used in the request has been revoked by the user",
                            65601)
        if not request.header("LinkedIn-Version") or request.header("X-Restli-Protocol-Version") != "2.0.0":
            return li_error(426, "VERSION_MISSING", "A version must be present. Please specify a version by "
                            "adding the LinkedIn-Version header.")
        return None

    def initialize_upload(self, request: Request) -> Response:
        if (problem := self._check(request)) or request.query.get("action") != ["initializeUpload"]:
            return problem or li_error(400, "ILLEGAL_ARGUMENT", "action must be initializeUpload")
        urn = f"urn:li:image:C4E10AQ{self.next_id()}"
        self.images[urn] = {"owner": request.json()["initializeUploadRequest"]["owner"], "bytes": 0}
        return Response(200, {"value": {"uploadUrlExpiresAt": int(time.time() * 1000) + 86_400_000,
                                        "uploadUrl": f"{self.url}/upload/{urn}", "image": urn}})

    def upload(self, request: Request) -> Response:
        self.images[request.params["image"]]["bytes"] = len(request.body)
        return Response(201)

    # ----- Videos API: initializeUpload, PUT each part (ETag back), finalizeUpload, status ---
    def video_action(self, request: Request) -> Response:
        if problem := self._check(request):
            return problem
        action = request.query.get("action", [""])[0]
        if action == "initializeUpload":
            asked = request.json()["initializeUploadRequest"]
            size, step = int(asked["fileSizeBytes"]), self.video_part_bytes
            urn = f"urn:li:video:D4E10AQ{self.next_id()}"
            ranges = [(first, min(first + step, size) - 1) for first in range(0, size, step)]
            self.videos[urn] = {"owner": asked["owner"], "size": size, "parts": {}, "status": "WAITING_UPLOAD",
                                "token": f"token-{urn}", "polls": 0, "captions": None}
            value = {"uploadUrlsExpireAt": int(time.time() * 1000) + 86_400_000, "video": urn,
                     "uploadToken": f"token-{urn}",
                     "uploadInstructions": [{"uploadUrl": f"{self.url}/video-upload/{urn}/{n}", "firstByte": first,
                                             "lastByte": last} for n, (first, last) in enumerate(ranges)]}
            if asked.get("uploadCaptions"):
                value["captionsUploadUrl"] = f"{self.url}/captions-upload/{urn}"
            return Response(200, {"value": value})
        if action == "finalizeUpload":
            asked = request.json()["finalizeUploadRequest"]
            video = self.videos.get(asked["video"])
            if video is None or asked.get("uploadToken") != video["token"]:
                return li_error(400, "ILLEGAL_ARGUMENT", "unknown video or upload token")
            if asked.get("uploadedPartIds") != [etag for _, (_, etag) in sorted(video["parts"].items())] or \
                    sum(len(b) for b, _ in video["parts"].values()) != video["size"]:
                return li_error(400, "ILLEGAL_ARGUMENT", "uploadedPartIds do not match the uploaded parts")
            video["status"] = "PROCESSING"
            return Response(200, b"", {"Content-Type": "application/json"})
        return li_error(400, "ILLEGAL_ARGUMENT", f"unknown action {action!r}")

    def video_part(self, request: Request) -> Response:
        video = self.videos[request.params["video"]]
        etag = f"/ambry-video/signedId/{request.params['video']}-{request.params['part']}"
        video["parts"][int(request.params["part"])] = (request.body, etag)
        return Response(200, b"", {"ETag": etag})

    def video_captions(self, request: Request) -> Response:
        self.videos[request.params["video"]]["captions"] = request.body
        return Response(201)

    def video_status(self, request: Request) -> Response:
        if problem := self._check(request):
            return problem
        from urllib.parse import unquote

        urn = unquote(request.params["video"])
        video = self.videos.get(urn)
        if video is None:
            return li_error(404, "NOT_FOUND", f"video {urn} not found")
        if video["status"] == "PROCESSING" and self.video_processing_fails:
            video["status"] = "PROCESSING_FAILED"
        if video["status"] == "PROCESSING":
            video["polls"] += 1
            if video["polls"] > self.video_polls_before_available:
                video["status"] = "AVAILABLE"
        return Response(200, {"id": urn, "owner": video["owner"], "status": video["status"],
                              "duration": 2000, "aspectRatioWidth": 16.0, "aspectRatioHeight": 9.0})

    def create_post(self, request: Request) -> Response:
        if problem := self._check(request):
            return problem
        body = request.json()
        if len(body.get("commentary", "")) > 3000:
            return li_error(422, "UNPROCESSABLE_ENTITY", "/commentary :: length exceeds 3000")
        with self.lock:     # the duplicate check and the insert as one (requests arrive on many threads)
            if body["commentary"] in [p["commentary"] for p in list(self.posts.values())]:
                return li_error(422, "DUPLICATE_POST", "Content is a duplicate of urn:li:share:7000000000000000001")
            media = (body.get("content") or {}).get("media", {}).get("id", "")
            if media.startswith("urn:li:video:") and self.videos.get(media, {}).get("status") != "AVAILABLE":
                return li_error(422, "UNPROCESSABLE_ENTITY", f"/content/media/id :: {media} is not AVAILABLE")
            urn = f"urn:li:share:{7_000_000_000_000_000_000 + int(self.next_id())}"
            now = int(time.time() * 1000)       # LinkedIn's times are epoch milliseconds
            self.posts[urn] = {**body, "id": urn, "createdAt": now, "publishedAt": now, "lastModifiedAt": now}
        return Response(201, b"", {"x-restli-id": urn, "Content-Type": "application/json"})

    def find_posts(self, request: Request) -> Response:
        if problem := self._check(request):
            return problem
        newest = list(self.posts.values())[::-1][: int(request.query.get("count", ["10"])[0])]
        return Response(200, {"paging": {"start": 0, "count": len(newest), "links": []}, "elements": newest})

    def organization(self, request: Request) -> Response:
        if problem := self._check(request):
            return problem
        return Response(200, {"id": int(request.params["id"]), "localizedName": "Blackburn Council",
                              "vanityName": "blackburn-council"})

    # ----- the inbox: comments through socialActions (#11) -------------------------------------
    # From LinkedIn's Comments API (Community Management): GET /rest/socialActions/{urn}/comments
    # (start, count -> {"elements", "paging": {"start", "count", "total"}}), each comment with
    # $URN "urn:li:comment:(urn:li:activity:N,M)", actor, message.text, created/lastModified
    # {"time": ms}, commentsSummary; POST the same path (actor, object, message,
    # parentComment) -> 201 with the comment.  Without approval: 403 ACCESS_DENIED.
    def setup_inbox_routes(self) -> None:
        self.comments: dict[str, dict] = {}
        self.community_management = True
        self.route("GET", r"/rest/socialActions/(?P<urn>[^/]+)/comments", self.list_comments)
        self.route("POST", r"/rest/socialActions/(?P<urn>[^/]+)/comments", self.create_comment)

    def resident_comment(self, on: str, text: str, actor: str = "urn:li:person:resident1",
                         parent: str | None = None) -> dict:
        with self.lock:
            number = self.next_id()
            post = on if on.startswith("urn:li:share:") else self.comments[on]["post"]
            activity = f"urn:li:activity:{post.rsplit(':', 1)[1]}"
            urn = f"urn:li:comment:({activity},{number})"
            now = int(time.time() * 1000)
            self.comments[urn] = {"$URN": urn, "id": number, "actor": actor, "object": activity,
                                  "message": {"text": text, "attributes": []}, "created": {"actor": actor, "time": now},
                                  "lastModified": {"actor": actor, "time": now}, "post": post,
                                  "parentComment": parent, "commentsSummary": {"aggregatedTotalComments": 0}}
            if parent:
                self.comments[parent]["commentsSummary"]["aggregatedTotalComments"] += 1
        return self.comments[urn]

    def _comments_of(self, urn: str) -> list[dict]:
        if urn.startswith("urn:li:comment:"):
            return [c for c in list(self.comments.values()) if c["parentComment"] == urn]
        return [c for c in list(self.comments.values()) if c["post"] == urn and not c["parentComment"]]

    def list_comments(self, request: Request) -> Response:
        from urllib.parse import unquote

        if problem := self._check(request):
            return problem
        if not self.community_management:
            return li_error(403, "ACCESS_DENIED", "Not enough permissions to access: socialActions.GET.NO_VERSION")
        urn = unquote(request.params["urn"])
        if urn not in self.posts and urn not in self.comments:
            return li_error(404, "NOT_FOUND", f"{urn} not found")
        rows = self._comments_of(urn)
        start, count = int(request.query.get("start", ["0"])[0]), int(request.query.get("count", ["10"])[0])
        page = [{k: v for k, v in c.items() if k not in ("post", "parentComment")} | (
            {"parentComment": c["parentComment"]} if c["parentComment"] else {}) for c in rows[start:start + count]]
        return Response(200, {"elements": page, "paging": {"start": start, "count": count, "total": len(rows)}})

    def create_comment(self, request: Request) -> Response:
        from urllib.parse import unquote

        if problem := self._check(request):
            return problem
        urn = unquote(request.params["urn"])
        body = request.json()
        if urn not in self.comments and urn not in self.posts:
            return li_error(404, "NOT_FOUND", f"{urn} not found")
        made = self.resident_comment(urn, body["message"]["text"], actor=body["actor"],
                                     parent=body.get("parentComment"))
        return Response(201, {k: v for k, v in made.items() if k != "post"}, {"x-restli-id": made["$URN"]})
