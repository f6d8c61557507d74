"""A YouTube Data API v3 test double, with Google's OAuth token endpoint.

Implements the resumable upload protocol (POST ...?uploadType=resumable -> 200 with a
Location; PUT chunks -> 308 with Range, the last one 200 with the video resource),
thumbnails.set, captions.insert, channels.list and playlistItems.list.  Shapes follow the
API reference (a video resource with kind "youtube#video", etag, snippet, status) and
errors follow Google's {"error": {"code", "message", "errors": [{"reason", "domain"}]}}.
"""
from __future__ import annotations

import json
import re
import time

from .base import Request, Response, TestServer

CLIENT = {"client_id": "123456-civicpost.apps.googleusercontent.com", "client_secret": "GOCSPX-testsecret42",
          "refresh_token": "1//0refresh-token-civicpost-test"}
CHANNEL_ID = "UCcivicpostTestChannel01"


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
        self.tokens: set[str] = set()
        self.revoked = False
        self.route("POST", r"/token", self.token)
        self.route("POST", r"/upload/youtube/v3/videos", self.start_upload)
        self.route("PUT", r"/upload/youtube/v3/videos", self.upload_chunk)
        self.route("POST", r"/upload/youtube/v3/thumbnails/set", self.thumbnail)
        self.route("POST", r"/upload/youtube/v3/captions", self.caption)
        self.route("GET", r"/youtube/v3/channels", self.channels)
        self.route("GET", r"/youtube/v3/playlistItems", self.playlist_items)

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

    def token(self, request: Request) -> Response:
        form = request.form()
        if self.revoked or form.get("refresh_token") != CLIENT["refresh_token"] or \
                form.get("client_secret") != CLIENT["client_secret"]:
            return Response(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        token = f"ya29.test-{self.next_id()}"
        self.tokens.add(token)
        return Response(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer",
                              "scope": "https://www.googleapis.com/auth/youtube.upload"})

    def start_upload(self, request: Request) -> Response:
        if not self._authorised(request):
            return google_error(401, "Request had invalid authentication credentials.", "authError", "global")
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
        video_id = request.query["videoId"][0]
        self.thumbnails[video_id] = len(request.body)
        return Response(200, {"kind": "youtube#thumbnailSetResponse", "etag": "x",
                              "items": [{"default": {"url": f"https://i.ytimg.com/vi/{video_id}/default.jpg"}}]})

    def caption(self, request: Request) -> Response:
        body = request.body
        if b"\r\n\r\n" in body or b"\n\n" in body:          # multipart/related: JSON metadata, then the file
            metadata = json.loads(re.search(rb"\{.*?\}\}", body, re.S).group(0))
        else:
            metadata = {"snippet": {}}
        video_id = metadata["snippet"].get("videoId")
        self.captions[video_id] = {"language": metadata["snippet"].get("language"), "bytes": len(body)}
        return Response(200, {"kind": "youtube#caption", "id": f"AUieDa{self.next_id()}", "snippet": metadata["snippet"]})

    def channels(self, request: Request) -> Response:
        if not self._authorised(request):
            return google_error(401, "Request had invalid authentication credentials.", "authError", "global")
        return Response(200, {"kind": "youtube#channelListResponse", "items": [{
            "kind": "youtube#channel", "id": CHANNEL_ID, "snippet": {"title": "Blackburn Council"},
            "contentDetails": {"relatedPlaylists": {"uploads": "UU" + CHANNEL_ID[2:]}}}]})

    def playlist_items(self, request: Request) -> Response:
        newest = list(self.videos.values())[::-1]
        return Response(200, {"kind": "youtube#playlistItemListResponse", "items": [{
            "kind": "youtube#playlistItem", "id": f"item-{v['id']}",
            "snippet": {"title": v["snippet"]["title"], "description": v["snippet"]["description"],
                        "publishedAt": v["snippet"]["publishedAt"],
                        "resourceId": {"kind": "youtube#video", "videoId": v["id"]}}} for v in newest]})
