"""YouTube, through google-api-python-client: a resumable ``videos.insert``, uploaded
ahead of time as private with ``status.publishAt`` so YouTube itself publishes on time
(lead_time: the daemon hands YouTube deliveries over two hours early), then the
thumbnail (an image in media:) and the captions file (captions: in media:).

The discovery document is the one bundled with the library (static_discovery), so no
request goes to Google to learn the API's shape.

A video uploaded ahead is "scheduled on YouTube" until its publishAt.  Pausing, cancelling,
a blackout, an edit or a deleted file in that window un-schedule it (``unschedule``: back to
private with no publishAt, schedule/unschedule.py decides when); releasing it again sets
publishAt on the same video (``publish`` with the upload already recorded), never a second
upload.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from .. import counting
from ..errors import AuthError, ChannelError, RateLimited, Rejected, Transient
from ..model import InboxPage, Incoming, Part, Receipt, Variant
from ..secrets import mask
from .base import Channel, parse_time, retry_at_from_headers
from .wire_fence import fenced_httplib2

PACIFIC = ZoneInfo("America/Los_Angeles")     # YouTube quotas reset at midnight Pacific time

SCOPE = "https://www.googleapis.com/auth/"
# What each right needs: any one of the scopes the method's reference page lists under
# "Authorization" (videos.insert, thumbnails.set, captions.insert, videos.update).
RIGHTS = {
    "upload videos": {"youtube.upload", "youtube", "youtube.force-ssl", "youtubepartner"},
    "set thumbnails": {"youtube.upload", "youtube", "youtube.force-ssl", "youtubepartner"},
    "upload captions": {"youtube", "youtube.force-ssl", "youtubepartner"},
    "un-schedule or re-schedule videos (pause, cancel)": {"youtube", "youtube.force-ssl", "youtubepartner"},
    # channels.list and playlistItems.list: naming the account, and finding an upload after a crash.
    "read the channel's uploads (crash recovery)": {"youtube.readonly", "youtube", "youtube.force-ssl",
                                                     "youtubepartner"},
}
# Mutable status properties that an update must send back, or they return to their defaults.
KEEP_STATUS = ("embeddable", "license", "publicStatsViewable", "selfDeclaredMadeForKids", "containsSyntheticMedia")


class YouTubeChannel(Channel):
    network = "youtube"
    label = "YouTube"
    max_length = 5000                    # the description, in UTF-8 bytes (videos resource)
    count = staticmethod(counting.utf8_bytes)
    refuses = staticmethod(counting.youtube_refuses)   # no < or > in title or description
    title_limit = 100
    max_images = 1                       # the thumbnail
    max_videos = 1
    mix_media = True
    uploads_captions = True
    alt_text = False
    threads = False
    can_find_existing = True
    image_types = frozenset({"image/jpeg", "image/png"})
    video_types = frozenset({"video/mp4", "video/quicktime", "video/webm"})
    max_image_bytes = 2 * 1024 * 1024
    max_video_bytes = 256 * 1024 * 1024 * 1024
    needs_media = "video"
    secret_fields = ("client_id", "client_secret", "refresh_token")
    client_modules = ("googleapiclient.discovery", "googleapiclient.http", "google_auth_httplib2", "google.oauth2.credentials")
    default_api_base = "https://youtube.googleapis.com"
    lead_time = timedelta(hours=2)

    def __init__(self, config, timeout: float = 30.0):
        super().__init__(config, timeout)
        self._service = None

    def service(self):
        import google_auth_httplib2
        from google.oauth2.credentials import Credentials
        from googleapiclient.discovery import build
        from googleapiclient.http import build_http

        if self._service is None:
            token_uri = (self.setting("token_uri") or (self.api_base + "/token" if self.config.api_base
                                                        else "https://oauth2.googleapis.com/token"))
            # No scopes: a refresh that names scopes gets a token narrowed to them (Google's
            # token endpoint), so naming only youtube.upload made captions.insert and
            # videos.update fail with 403 insufficientPermissions.  Unnamed, the token carries
            # every scope the channel's owner granted.
            credentials = Credentials(token=None, refresh_token=self.secret("refresh_token"),
                                      client_id=self.secret("client_id"), client_secret=self.secret("client_secret"),
                                      token_uri=token_uri, scopes=None)
            self._credentials = credentials
            # build_http keeps 308 for resumable uploads; fenced: each chunk of the create is
            # checked as it leaves (#12, wire_fence.py).
            self._http = fenced_httplib2(build_http())
            authed = google_auth_httplib2.AuthorizedHttp(credentials, http=self._http)
            self._service = build("youtube", "v3", http=authed, static_discovery=True, cache_discovery=False,
                                  client_options={"api_endpoint": self.api_base})
        self._http.timeout = self.timeout
        return self._service

    def _fix_scheme(self, request):
        """googleapiclient swaps only the host of upload URLs for api_endpoint, keeping https."""
        scheme = self.api_base.split("://", 1)[0]
        request.uri = scheme + "://" + request.uri.split("://", 1)[1]
        return request

    # ----- errors ------------------------------------------------------------------
    def _call(self, fn, *args: Any, **kwargs: Any) -> Any:
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import HttpError, ResumableUploadError

        try:
            with self.network_errors():
                return fn(*args, **kwargs)
        except RefreshError as exc:
            raise AuthError(mask(f"{self.name}: the refresh token was refused: {exc}")) from None
        except TransportError as exc:          # the token refresh, before the API request itself
            raise Transient(mask(f"{self.name}: {exc}"), not_sent=True) from None
        except (HttpError, ResumableUploadError) as exc:
            raise self._classify(exc) from None

    def _classify(self, exc) -> ChannelError:
        status = int(getattr(exc, "status_code", 0) or getattr(getattr(exc, "resp", None), "status", 0) or 0)
        reasons = {d.get("reason") for d in (getattr(exc, "error_details", None) or []) if isinstance(d, dict)}
        text = mask(f"{self.name}: HTTP {status}: {getattr(exc, 'reason', '') or exc}")
        if "quotaExceeded" in reasons:
            tomorrow = datetime.now(PACIFIC).date() + timedelta(days=1)
            return RateLimited(text, datetime.combine(tomorrow, time(0, 5), PACIFIC).astimezone(timezone.utc))
        if status == 429 or "rateLimitExceeded" in reasons or "userRateLimitExceeded" in reasons:
            headers = getattr(exc, "resp", None)
            return RateLimited(text, retry_at_from_headers(headers) if headers is not None and "retry-after" in headers
                               else datetime.now(timezone.utc) + timedelta(minutes=15))
        if status == 401 or reasons & {"authError", "forbidden", "youtubeSignupRequired"}:
            return AuthError(text)
        if "insufficientPermissions" in reasons:
            return Rejected(text + " (the token lacks the scope this needs: see `python bot.py channels check`)")
        if status >= 500:
            return Transient(text)
        return Rejected(text)

    # ----- posting -----------------------------------------------------------------
    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
        from googleapiclient.http import MediaFileUpload

        if parent is not None:                   # only a reply has a parent here (no threads)
            return self._comment_reply(parent, part)
        service = self.service()
        video = next(m for m in variant.media if m.kind == "video")
        planned = variant.extra.get("planned_at")
        status: dict[str, Any] = {"privacyStatus": "public", "selfDeclaredMadeForKids": False}
        if planned and planned > datetime.now(timezone.utc) + timedelta(minutes=1):
            # Private until YouTube publishes it at the planned time by itself.
            status.update(privacyStatus="private",
                          publishAt=planned.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        body = {"snippet": {"title": variant.title[:100], "description": part.text, "tags": list(variant.tags),
                            "categoryId": str(self.setting("category_id", "25"))},    # 25: News & Politics
                "status": status}
        upload = MediaFileUpload(str(video.path), mimetype=video.mime, resumable=True,
                                 chunksize=int(self.setting("chunk_bytes", 8 * 1024 * 1024)))
        request = self._fix_scheme(service.videos().insert(part="snippet,status", body=body, media_body=upload))
        response = None
        with self.creating():                   # the last chunk makes the video
            while response is None:
                _, response = self._call(request.next_chunk, num_retries=0)
        video_id = response["id"]
        receipt = Receipt(video_id, f"https://www.youtube.com/watch?v={video_id}",
                          {"privacy": status["privacyStatus"], "publishAt": status.get("publishAt")})
        # The video exists from here: a failed thumbnail or captions upload is a warning on
        # the recorded post, never a second video.
        for media in variant.media:
            if media.kind == "image":
                thumb = service.thumbnails().set(videoId=video_id, media_body=MediaFileUpload(str(media.path),
                                                                                           mimetype=media.mime))
                self.after_create(receipt, "thumbnail upload",
                                  lambda request=self._fix_scheme(thumb): self._call(request.execute))
        if video.captions:
            language = variant.extra.get("lang") or "en"
            captions = service.captions().insert(
                part="snippet", body={"snippet": {"videoId": video_id, "language": language, "name": ""}},
                media_body=MediaFileUpload(str(video.captions), mimetype="application/octet-stream"))
            self.after_create(receipt, "captions upload",
                              lambda request=self._fix_scheme(captions): self._call(request.execute))
        return receipt

    # ----- the video scheduled on YouTube ahead of time -------------------------------
    def publish(self, variant: Variant, key: str, done=(), on_part=None, **more) -> Receipt:
        """A video already uploaded for this delivery (and un-scheduled since) is scheduled
        again, with the text it has now; it is never uploaded a second time."""
        done = list(done)
        if not done:
            return super().publish(variant, key, done=done, on_part=on_part, **more)
        first = done[0]
        video = next((m for m in variant.media if m.kind == "video"), None)
        on_disk = video.path.stat().st_size if video is not None and video.path.exists() else None
        if first.extra.get("file") and (getattr(video, "rel", None), on_disk) != (first.extra["file"],
                                                                                  first.extra.get("bytes")):
            raise Rejected(f"{self.name}: the video file changed after {first.extra['file']} was uploaded ahead as "
                           f"{first.remote_id}, and YouTube cannot replace a video's file. That video stays private; "
                           "to post the new file, give the item a new time or id")
        errors = [p for p in self.validate(variant) if p.level == "error"]
        if errors:
            # The publisher does not re-check a delivery that has a part out; this one is sent again.
            raise Rejected(f"{self.name}: not scheduled again: {errors[0].message}")
        receipt = self.reschedule(first.remote_id, variant)
        receipt = Receipt(receipt.remote_id, receipt.url, {**first.extra, **receipt.extra})
        if on_part:
            on_part(0, receipt)
        return receipt

    def _status_of(self, video_id: str) -> dict:
        service = self.service()
        found = self._call(service.videos().list(part="status", id=video_id).execute)
        if not found.get("items"):
            raise Rejected(f"{self.name}: video {video_id} is no longer on the channel (deleted in YouTube Studio?)")
        return found["items"][0]["status"]

    def unschedule(self, video_id: str) -> dict:
        """Private with no publishAt: YouTube will not publish it.  videos.update replaces every
        mutable property of the parts it names, so the other status settings are read first
        and sent back unchanged."""
        status = self._status_of(video_id)
        if status.get("privacyStatus") != "private":
            raise Rejected(f"{self.name}: video {video_id} is already {status.get('privacyStatus')}: too late to "
                           "un-schedule it; make it private in YouTube Studio if it must come down")
        body = {"id": video_id, "status": {"privacyStatus": "private",
                                           **{k: status[k] for k in KEEP_STATUS if k in status}}}
        self._call(self.service().videos().update(part="status", body=body).execute)
        return {"video": video_id, "was_publish_at": status.get("publishAt")}

    def reschedule(self, video_id: str, variant: Variant) -> Receipt:
        """The same video, scheduled for the planned time again (public at once if that has
        passed), with the title, description and tags the delivery has now."""
        status = self._status_of(video_id)
        planned = variant.extra.get("planned_at")
        new: dict[str, Any] = {"privacyStatus": "public"}
        if planned and planned > datetime.now(timezone.utc) + timedelta(minutes=1):
            new = {"privacyStatus": "private",
                   "publishAt": planned.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        body = {"id": video_id,
                "snippet": {"title": variant.title[:100], "description": variant.text, "tags": list(variant.tags),
                            "categoryId": str(self.setting("category_id", "25"))},
                "status": {**{k: status[k] for k in KEEP_STATUS if k in status}, **new}}
        self._call(self.service().videos().update(part="snippet,status", body=body).execute)
        return Receipt(video_id, f"https://www.youtube.com/watch?v={video_id}",
                       {"privacy": new["privacyStatus"], "publishAt": new.get("publishAt"), "rescheduled": True})

    def candidates(self, variant: Variant, index: int, part: Part):
        if variant.extra.get("in_reply_to"):     # a reply: look among the comment's replies
            top = self.reply_target(str(variant.extra["in_reply_to"]).split(":", 1)[1])[0].remote_id
            for reply in self._all_replies(top):
                snippet = reply["snippet"]
                if (snippet.get("authorChannelId") or {}).get("value") == str(self.setting("channel_id")) and \
                        (snippet.get("textOriginal") or "").strip() == part.text.strip():
                    yield Receipt(reply["id"], None), datetime.fromisoformat(snippet["publishedAt"].replace("Z",
                                                                                                          "+00:00"))
            return
        service = self.service()
        channels = self._call(service.channels().list(part="contentDetails", mine=True).execute)
        uploads = channels["items"][0]["contentDetails"]["relatedPlaylists"]["uploads"]
        items = self._call(service.playlistItems().list(part="snippet", playlistId=uploads, maxResults=25).execute)
        for item in items.get("items", []):
            snippet = item["snippet"]
            if snippet.get("title") == variant.title[:100] and snippet.get("description") == part.text:
                video_id = snippet["resourceId"]["videoId"]
                yield (Receipt(video_id, f"https://www.youtube.com/watch?v={video_id}"),
                       parse_time(snippet.get("publishedAt")))

    def check(self) -> dict[str, Any]:
        granted = self.granted_scopes()
        missing = [right for right, scopes in RIGHTS.items() if not granted & scopes]
        title = "(unknown: the token may not read the channel)"
        if not any(right.startswith("read") for right in missing):
            found = self._call(self.service().channels().list(part="snippet", mine=True).execute)
            title = found["items"][0]["snippet"]["title"] if found.get("items") else "(no channel)"
        if "upload videos" in missing:
            raise AuthError(f"{self.name}: the refresh token may not upload videos (scopes: "
                            f"{', '.join(sorted(granted)) or 'none'}): get one granting youtube.upload and "
                            "youtube.force-ssl")
        warning = None
        if missing:
            warning = (f"the refresh token may not {', '.join(missing)} (it has {', '.join(sorted(granted)) or 'no'} "
                       "scope); get a new refresh token granting youtube.upload and youtube.force-ssl")
        # Refresh tokens do not expire on a schedule (unless the app is in testing mode: 7 days).
        return {"account": title, "expires_at": None, "warning": warning, "missing_rights": missing,
                "scopes": sorted(granted)}

    def granted_scopes(self) -> set[str]:
        """The scopes of the access token in use, from Google's tokeninfo endpoint (short
        names: "youtube.upload").  google-auth records granted scopes only when a refresh
        names some, and naming them would narrow the token (see service())."""
        import json

        import google_auth_httplib2
        from google.auth.exceptions import RefreshError

        self.service()
        url = self.setting("tokeninfo_uri") or (self.api_base + "/tokeninfo" if self.config.api_base
                                                 else "https://oauth2.googleapis.com/tokeninfo")
        try:
            with self.network_errors():
                if not self._credentials.valid:
                    self._credentials.refresh(google_auth_httplib2.Request(self._http))
                response, content = self._http.request(f"{url}?access_token={self._credentials.token}", "GET")
        except RefreshError as exc:
            raise AuthError(mask(f"{self.name}: the refresh token was refused: {exc}")) from None
        if int(response.status) != 200:
            raise AuthError(f"{self.name}: Google's tokeninfo refused the access token (HTTP {response.status})")
        scopes = json.loads(content or b"{}").get("scope", "")
        return {s.removeprefix(SCOPE) for s in scopes.split()}

    # ----- the inbox (schedule/inbox/): comments on the channel's videos ---------------
    # Reading and replying need the youtube.force-ssl scope (the upload-only token gets 403
    # insufficientPermissions, reported once); commentThreads.list costs 1 quota unit a
    # page, comments.insert 50 (docs/channels.md).
    def inbox_replies(self, remote_ids: list[str], since: str | None) -> InboxPage:
        """commentThreads.list(allThreadsRelatedToChannelId, order=time), newest first, until
        a page is all older than the cursor (the newest updatedAt seen); a thread with more
        replies than it carries is completed with comments.list(parentId)."""
        service, videos, found = self.service(), set(remote_ids), []
        newest, token = since, None
        while True:
            listed = self._call(service.commentThreads().list(
                part="snippet,replies", allThreadsRelatedToChannelId=str(self.setting("channel_id")),
                maxResults=100, order="time", textFormat="plainText", **({"pageToken": token} if token else {})
            ).execute)
            fresh = False
            for thread in listed.get("items", []):
                snippet = thread["snippet"]
                top = snippet["topLevelComment"]
                comments = [top] + list((thread.get("replies") or {}).get("comments", []))
                if snippet.get("totalReplyCount", 0) > len(comments) - 1:
                    comments = [top] + self._all_replies(top["id"])
                for comment in comments:
                    updated = comment["snippet"].get("updatedAt") or comment["snippet"]["publishedAt"]
                    if since and updated <= since:
                        continue
                    fresh = True
                    newest = max(newest or "", updated)
                    if snippet.get("videoId") in videos:
                        found.append(self._comment(comment, snippet["videoId"], top["id"]))
            token = listed.get("nextPageToken")
            if not token or not fresh:
                return InboxPage(tuple(found), newest)

    def _all_replies(self, parent_id: str) -> list[dict]:
        out, token = [], None
        while True:
            listed = self._call(self.service().comments().list(
                part="snippet", parentId=parent_id, maxResults=100, textFormat="plainText",
                **({"pageToken": token} if token else {})).execute)
            out += listed.get("items", [])
            token = listed.get("nextPageToken")
            if not token:
                return out

    def _comment(self, comment: dict, video_id: str, top_id: str) -> Incoming:
        snippet = comment["snippet"]
        published = datetime.fromisoformat(snippet["publishedAt"].replace("Z", "+00:00"))
        updated = datetime.fromisoformat((snippet.get("updatedAt") or snippet["publishedAt"]).replace("Z", "+00:00"))
        author = (snippet.get("authorChannelId") or {}).get("value", "")
        return Incoming(remote_id=comment["id"], kind="comment", text=snippet.get("textOriginal") or
                        snippet.get("textDisplay") or "", created_at=published,
                        author=snippet.get("authorDisplayName", ""), author_id=author,
                        url=f"https://www.youtube.com/watch?v={video_id}&lc={comment['id']}",
                        parent_id=snippet.get("parentId") or video_id, conversation=video_id, answers=video_id,
                        edited_at=updated if updated > published else None,
                        own=author == str(self.setting("channel_id")))

    def inbox_access(self) -> str:
        """One commentThreads.list page (1 quota unit): needs the youtube.force-ssl scope."""
        try:
            self._call(self.service().commentThreads().list(
                part="id", allThreadsRelatedToChannelId=str(self.setting("channel_id")), maxResults=1).execute)
        except ChannelError as exc:
            return f"cannot read comments: {exc}"
        return "ok"

    def reply_target(self, remote_id: str) -> tuple[Receipt, Receipt]:
        """comments.insert(snippet.parentId): YouTube replies hang off the top-level comment
        (a reply's id is TOPID.REPLYID)."""
        top = Receipt(remote_id.split(".", 1)[0], None)
        return top, top

    def hide(self, remote_id: str) -> None:
        """comments.setModerationStatus heldForReview: out of public view, kept for review."""
        self._call(self.service().comments().setModerationStatus(id=remote_id, moderationStatus="heldForReview"
                                                                 ).execute)

    def _comment_reply(self, parent: Receipt, part: Part) -> Receipt:
        made = self._call(self.service().comments().insert(
            part="snippet", body={"snippet": {"parentId": parent.remote_id, "textOriginal": part.text}}).execute)
        return Receipt(made["id"], None)
