"""A YouTube Data API v3 test double, with Google's OAuth token endpoint.

Implements the resumable upload protocol (POST ...?uploadType=resumable -> 200 with a
Location; PUT chunks -> 308 with Range, the last one 200 with the video resource),
thumbnails.set, captions.insert, channels.list, playlistItems.list, videos.list and
videos.update.  Shapes follow the API reference (a video resource with kind
"youtube#video", etag, snippet, status) and errors follow Google's {"error": {"code",
"message", "errors": [{"reason", "domain"}]}}.

OAuth scopes are enforced as Google does.  The token endpoint issues a token for the
scopes the refresh request names (a subset of those granted; none named means all that
were granted) and reports them in its `scope` field; `tokeninfo` reports them too.  Each
method accepts the scopes its reference page lists under "Authorization"; any other token
gets 403 insufficientPermissions.  (videos.update, captions.insert: youtube,
youtube.force-ssl or youtubepartner; youtube.upload alone can only upload and set
thumbnails.)  A video with status.publishAt goes public when that time comes
(`advance_clock` plays it forward).
"""
from __future__ import annotations

import json
import re
import time

from .base import Request, Response, TestServer

CLIENT = {"client_id": "123456-civicpost.apps.googleusercontent.com", "client_secret": "GOCSPX-testsecret42",
          "refresh_token": "1//0refresh-token-civicpost-test"}
CHANNEL_ID = "UCcivicpostTestChannel01"

SCOPE = "https://www.googleapis.com/auth/"
UPLOAD, YOUTUBE, FORCE_SSL, PARTNER, READONLY = (SCOPE + s for s in (
    "youtube.upload", "youtube", "youtube.force-ssl", "youtubepartner", "youtube.readonly"))
# Per method, from each method's reference page ("Authorization: at least one of these scopes").
ACCEPTS = {
    "videos.insert": {UPLOAD, YOUTUBE, FORCE_SSL, PARTNER},
    "thumbnails.set": {UPLOAD, YOUTUBE, FORCE_SSL, PARTNER},
    "captions.insert": {YOUTUBE, FORCE_SSL, PARTNER},
    "videos.update": {YOUTUBE, FORCE_SSL, PARTNER},
    "videos.list": {READONLY, YOUTUBE, FORCE_SSL, PARTNER},
    "channels.list": {READONLY, YOUTUBE, FORCE_SSL, PARTNER, SCOPE + "youtubepartner-channel-audit"},
    "playlistItems.list": {READONLY, YOUTUBE, FORCE_SSL, PARTNER},
}
# Mutable video status properties (videos resource); the rest are set by YouTube.
MUTABLE_STATUS = ("privacyStatus", "publishAt", "embeddable", "license", "publicStatsViewable",
                  "selfDeclaredMadeForKids", "containsSyntheticMedia")


def insufficient_scopes() -> Response:
    response = google_error(403, "Request had insufficient authentication scopes.", "insufficientPermissions",
                            "global")
    response.body["error"]["status"] = "PERMISSION_DENIED"
    response.body["error"]["errors"][0]["message"] = "Insufficient Permission"
    return response


def google_error(code: int, message: str, reason: str, domain: str = "youtube.api") -> Response:
    return Response(code, {"error": {"code": code, "message": message,
                                     "errors": [{"message": message, "domain": domain, "reason": reason}]}})


class Server(TestServer):
    name = "youtube"

    def setup_routes(self) -> None:
        self.videos: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.thumbnails: dict[str, int] = {}
        self.captions: dict[str, dict] = {}
        self.tokens: dict[str, set[str]] = {}
        self.granted = {UPLOAD, FORCE_SSL}      # what the channel's owner consented to
        self.revoked = False
        self.clock_offset = 0.0
        self.route("POST", r"/token", self.token)
        self.route("GET", r"/tokeninfo", self.tokeninfo)
        self.route("GET", r"/youtube/v3/videos", self.videos_list)
        self.route("PUT", r"/youtube/v3/videos", self.videos_update)
        self.route("POST", r"/upload/youtube/v3/videos", self.start_upload)
        self.route("PUT", r"/upload/youtube/v3/videos", self.upload_chunk)
        self.route("POST", r"/upload/youtube/v3/thumbnails/set", self.thumbnail)
        self.route("POST", r"/upload/youtube/v3/captions", self.caption)
        self.route("GET", r"/youtube/v3/channels", self.channels)
        self.route("GET", r"/youtube/v3/playlistItems", self.playlist_items)
        self.setup_inbox_routes()

    def fault_response(self, kind: str, request: Request) -> Response:
        if kind == "5xx":
            return google_error(503, "The service is currently unavailable.", "backendError", "global")
        if kind == "429":
            response = google_error(429, "Too many requests.", "rateLimitExceeded", "youtube.quota")
            response.headers["Retry-After"] = "120"
            return response
        if kind == "quota":
            return google_error(403, "The request cannot be completed because you have exceeded your quota.",
                                "quotaExceeded", "youtube.quota")
        if kind == "expired_token":
            self.revoked = True          # the access token is dead, and so is the refresh token
            return google_error(401, "Request had invalid authentication credentials.", "authError", "global")
        raise ValueError(kind)

    def _authorised(self, request: Request) -> bool:
        return (request.header("Authorization") or "").removeprefix("Bearer ") in self.tokens

    def _denied(self, request: Request, method: str) -> Response | None:
        """401 without a token, 403 when the token's scopes do not cover ``method``."""
        scopes = self.tokens.get((request.header("Authorization") or "").removeprefix("Bearer "))
        if scopes is None:
            return google_error(401, "Request had invalid authentication credentials.", "authError", "global")
        if not scopes & ACCEPTS[method]:
            return insufficient_scopes()
        return None

    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Play YouTube's clock forward: scheduled videos whose publishAt has passed go public."""
        self.clock_offset += seconds
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.now()))
        for video in list(self.videos.values()):
            status = video["status"]
            if status.get("privacyStatus") == "private" and status.get("publishAt") and \
                    status["publishAt"][:19] <= now:
                status["privacyStatus"] = "public"
                del status["publishAt"]

    def token(self, request: Request) -> Response:
        form = request.form()
        if self.revoked or form.get("refresh_token") != CLIENT["refresh_token"] or \
                form.get("client_secret") != CLIENT["client_secret"]:
            return Response(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        # A refresh may narrow the token to some of the granted scopes, never widen it.
        asked = set((form.get("scope") or "").split()) or set(self.granted)
        if not asked <= self.granted:
            return Response(400, {"error": "invalid_scope",
                                  "error_description": "Some requested scopes were invalid. {invalid="
                                                       f"{sorted(asked - self.granted)}}}"})
        token = f"ya29.test-{self.next_id()}"
        self.tokens[token] = asked
        return Response(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer",
                              "scope": " ".join(sorted(asked))})

    def tokeninfo(self, request: Request) -> Response:
        """Google's https://oauth2.googleapis.com/tokeninfo?access_token=..."""
        token = (request.query.get("access_token") or [""])[0]
        if token not in self.tokens:
            return Response(400, {"error": "invalid_token", "error_description": "Invalid Value"})
        return Response(200, {"azp": CLIENT["client_id"], "aud": CLIENT["client_id"],
                              "scope": " ".join(sorted(self.tokens[token])), "exp": str(int(time.time()) + 3500),
                              "expires_in": "3500", "access_type": "offline"})

    def start_upload(self, request: Request) -> Response:
        denied = self._denied(request, "videos.insert")
        if denied:
            return denied
        if request.query.get("uploadType") != ["resumable"]:
            return google_error(400, "Uploads must be resumable here.", "badRequest")
        body = request.json()
        if len(body["snippet"].get("title", "")) > 100:
            return google_error(400, "The request metadata specifies an invalid or empty video title.",
                                "invalidTitle")
        upload_id = f"ADPycdu{self.next_id()}"
        self.sessions[upload_id] = {"metadata": body, "bytes": b"",
                                    "total": int(request.header("X-Upload-Content-Length") or 0)}
        return Response(200, b"", {"Location": f"{self.url}/upload/youtube/v3/videos?uploadType=resumable"
                                               f"&upload_id={upload_id}", "Content-Type": "text/plain"})

    def upload_chunk(self, request: Request) -> Response:
        session = self.sessions[request.query["upload_id"][0]]
        if session.get("video"):                # a finished session answers with its video, as Google's do
            video = self.videos[session["video"]]
            return Response(200, {k: v for k, v in video.items() if k != "bytes"})
        found = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", request.header("Content-Range") or "")
        session["bytes"] += request.body
        total = int(found.group(3)) if found and found.group(3) != "*" else None
        if total is None or len(session["bytes"]) < total:
            return Response(308, b"", {"Range": f"bytes=0-{len(session['bytes']) - 1}", "Content-Type": "text/plain"})
        video_id = f"dQw4w9W{self.next_id()[-4:]}"
        metadata = session["metadata"]
        video = {"kind": "youtube#video", "etag": "XI7nbFXulYBIpL0ayR_gDh3eu1k", "id": video_id,
                 "snippet": {**metadata["snippet"], "publishedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "channelId": CHANNEL_ID, "channelTitle": "Blackburn Council",
                             "thumbnails": {}, "liveBroadcastContent": "none"},
                 "status": {"uploadStatus": "uploaded", "license": "youtube", "embeddable": True,
                            "publicStatsViewable": True, **metadata["status"]},
                 "bytes": len(session["bytes"])}
        self.videos[video_id] = video
        session["video"] = video_id
        return Response(200, {k: v for k, v in video.items() if k != "bytes"})

    def thumbnail(self, request: Request) -> Response:
        denied = self._denied(request, "thumbnails.set")
        if denied:
            return denied
        video_id = request.query["videoId"][0]
        self.thumbnails[video_id] = len(request.body)
        return Response(200, {"kind": "youtube#thumbnailSetResponse", "etag": "x",
                              "items": [{"default": {"url": f"https://i.ytimg.com/vi/{video_id}/default.jpg"}}]})

    def caption(self, request: Request) -> Response:
        denied = self._denied(request, "captions.insert")
        if denied:
            return denied
        body = request.body
        if b"\r\n\r\n" in body or b"\n\n" in body:          # multipart/related: JSON metadata, then the file
            metadata = json.loads(re.search(rb"\{.*?\}\}", body, re.S).group(0))
        else:
            metadata = {"snippet": {}}
        video_id = metadata["snippet"].get("videoId")
        self.captions[video_id] = {"language": metadata["snippet"].get("language"), "bytes": len(body)}
        return Response(200, {"kind": "youtube#caption", "id": f"AUieDa{self.next_id()}", "snippet": metadata["snippet"]})

    def channels(self, request: Request) -> Response:
        denied = self._denied(request, "channels.list")
        if denied:
            return denied
        return Response(200, {"kind": "youtube#channelListResponse", "items": [{
            "kind": "youtube#channel", "id": CHANNEL_ID, "snippet": {"title": "Blackburn Council"},
            "contentDetails": {"relatedPlaylists": {"uploads": "UU" + CHANNEL_ID[2:]}}}]})

    def playlist_items(self, request: Request) -> Response:
        denied = self._denied(request, "playlistItems.list")
        if denied:
            return denied
        newest = list(self.videos.values())[::-1]
        return Response(200, {"kind": "youtube#playlistItemListResponse", "items": [{
            "kind": "youtube#playlistItem", "id": f"item-{v['id']}",
            "snippet": {"title": v["snippet"]["title"], "description": v["snippet"]["description"],
                        "publishedAt": v["snippet"]["publishedAt"],
                        "resourceId": {"kind": "youtube#video", "videoId": v["id"]}}} for v in newest]})

    # ----- the inbox: comment threads, replies and comments.insert (#11) -----------------------
    # From the YouTube Data API reference: commentThreads.list (allThreadsRelatedToChannelId,
    # order=time, maxResults, pageToken -> nextPageToken; items with snippet.videoId,
    # snippet.topLevelComment, snippet.totalReplyCount and up to 5 replies.comments),
    # comments.list (parentId) and comments.insert (snippet.parentId, snippet.textOriginal).
    # Without the youtube.force-ssl scope: 403 insufficientPermissions.
    def setup_inbox_routes(self) -> None:
        self.comments: dict[str, dict] = {}
        self.can_read_comments = True
        self.route("GET", r"/youtube/v3/commentThreads", self.comment_threads)
        self.route("GET", r"/youtube/v3/comments", self.comments_list)
        self.route("POST", r"/youtube/v3/comments", self.comments_insert)
        self.route("POST", r"/youtube/v3/comments/setModerationStatus", self.set_moderation_status)

    def resident_comment(self, video_id: str, text: str, name: str = "Resident", parent: str | None = None,
                         own: bool = False) -> dict:
        with self.lock:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            number = self.next_id()
            comment_id = f"{parent}.{number}" if parent else f"Ugz{number}"
            author = CHANNEL_ID if own else f"UCresident{len(name)}"
            self.comments[comment_id] = {"kind": "youtube#comment", "etag": f"e{number}", "id": comment_id,
                                         "snippet": {"videoId": video_id, "textDisplay": text, "textOriginal": text,
                                                     "authorDisplayName": "Blackburn Council" if own else name,
                                                     "authorChannelId": {"value": author}, "parentId": parent,
                                                     "publishedAt": now, "updatedAt": now, "likeCount": 0}}
            if parent is None:
                del self.comments[comment_id]["snippet"]["parentId"]
        return self.comments[comment_id]

    def edit_comment(self, comment_id: str, text: str) -> None:
        time.sleep(1.1)                 # updatedAt has one-second precision
        snippet = self.comments[comment_id]["snippet"]
        snippet.update(textDisplay=text, textOriginal=text, updatedAt=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                       time.gmtime()))

    def _comments_denied(self, request: Request) -> Response | None:
        if not self._authorised(request):
            return google_error(401, "Request had invalid authentication credentials.", "authError", "global")
        if not self.can_read_comments:
            return google_error(403, "Request had insufficient authentication scopes.", "insufficientPermissions",
                                "global")
        return None

    def _paged(self, request: Request, items: list[dict], kind: str) -> Response:
        size = int(request.query.get("maxResults", ["20"])[0])
        start = int(request.query.get("pageToken", ["0"])[0])
        body = {"kind": kind, "etag": "x", "pageInfo": {"totalResults": len(items), "resultsPerPage": size},
                "items": items[start:start + size]}
        if start + size < len(items):
            body["nextPageToken"] = str(start + size)
        return Response(200, body)

    def comment_threads(self, request: Request) -> Response:
        denied = self._comments_denied(request)
        if denied:
            return denied
        if request.query.get("allThreadsRelatedToChannelId", [""])[0] != CHANNEL_ID:
            return google_error(403, "The comment thread could not be retrieved.", "forbidden")
        tops = [c for c in list(self.comments.values()) if "parentId" not in c["snippet"]]

        def activity(top: dict) -> str:
            replies = [c for c in list(self.comments.values()) if c["snippet"].get("parentId") == top["id"]]
            return max([top["snippet"]["updatedAt"]] + [r["snippet"]["updatedAt"] for r in replies])

        threads = []
        for top in sorted(tops, key=activity, reverse=True):
            replies = sorted((c for c in list(self.comments.values()) if c["snippet"].get("parentId") == top["id"]),
                             key=lambda c: c["snippet"]["publishedAt"])
            thread = {"kind": "youtube#commentThread", "etag": "t", "id": top["id"],
                      "snippet": {"channelId": CHANNEL_ID, "videoId": top["snippet"]["videoId"],
                                  "topLevelComment": top, "canReply": True, "totalReplyCount": len(replies),
                                  "isPublic": True}}
            if replies:
                thread["replies"] = {"comments": replies[:5]}
            threads.append(thread)
        return self._paged(request, threads, "youtube#commentThreadListResponse")

    def comments_list(self, request: Request) -> Response:
        denied = self._comments_denied(request)
        if denied:
            return denied
        parent = request.query.get("parentId", [""])[0]
        replies = sorted((c for c in list(self.comments.values()) if c["snippet"].get("parentId") == parent),
                         key=lambda c: c["snippet"]["publishedAt"])
        return self._paged(request, replies, "youtube#commentListResponse")

    def comments_insert(self, request: Request) -> Response:
        denied = self._comments_denied(request)
        if denied:
            return denied
        snippet = request.json()["snippet"]
        parent = self.comments.get(snippet.get("parentId", ""))
        if parent is None:
            return google_error(400, "The comment's parent could not be found.", "processingFailure")
        made = self.resident_comment(parent["snippet"]["videoId"], snippet["textOriginal"], parent=parent["id"],
                                     own=True)
        return Response(200, made)

    def set_moderation_status(self, request: Request) -> Response:
        """comments.setModerationStatus: 204 No Content."""
        denied = self._comments_denied(request)
        if denied:
            return denied
        comment = self.comments.get(request.query.get("id", [""])[0])
        if comment is None:
            return google_error(404, "The comment could not be found.", "commentNotFound")
        comment["snippet"]["moderationStatus"] = request.query["moderationStatus"][0]
        return Response(204, b"")

    def _public(self, video: dict, parts: list[str]) -> dict:
        return {"kind": video["kind"], "etag": video["etag"], "id": video["id"],
                **{p: video[p] for p in parts if p in video}}

    def videos_list(self, request: Request) -> Response:
        denied = self._denied(request, "videos.list")
        if denied:
            return denied
        parts = (request.query.get("part") or [""])[0].split(",")
        ids = (request.query.get("id") or [""])[0].split(",")
        return Response(200, {"kind": "youtube#videoListResponse", "etag": "x", "pageInfo": {
            "totalResults": len(ids), "resultsPerPage": len(ids)},
            "items": [self._public(self.videos[i], parts) for i in ids if i in self.videos]})

    def videos_update(self, request: Request) -> Response:
        """PUT /youtube/v3/videos?part=...: replaces every mutable property of the parts
        named (the reference: "this method will override the existing values for all of the
        mutable properties that are contained in any parts that the parameter value
        specifies"), so a status without publishAt un-schedules the video."""
        denied = self._denied(request, "videos.update")
        if denied:
            return denied
        parts = (request.query.get("part") or [""])[0].split(",")
        body = request.json() or {}
        video = self.videos.get(body.get("id", ""))
        if video is None:
            return google_error(404, "The video that you are trying to update cannot be found.", "videoNotFound")
        if "snippet" in parts:
            snippet = body.get("snippet") or {}
            if not snippet.get("title") or not snippet.get("categoryId"):
                return google_error(400, "The request metadata does not specify a valid video title or category.",
                                    "invalidTitle" if not snippet.get("title") else "invalidCategoryId")
            video["snippet"] = {**{k: v for k, v in video["snippet"].items() if k not in (
                "title", "description", "tags", "categoryId", "defaultLanguage")}, **snippet}
        if "status" in parts:
            status = body.get("status") or {}
            if status.get("publishAt") and status.get("privacyStatus") != "private":
                return google_error(400, "The request metadata specifies an invalid scheduled publishing time.",
                                    "invalidPublishAt")
            kept = {k: v for k, v in video["status"].items() if k not in MUTABLE_STATUS}
            # A mutable property left out goes back to its default (private, for privacy).
            video["status"] = {**kept, "privacyStatus": "private", **{k: v for k, v in status.items()
                                                                       if k in MUTABLE_STATUS}}
            video.setdefault("updates", []).append(dict(video["status"]))
        return Response(200, self._public(video, parts))
