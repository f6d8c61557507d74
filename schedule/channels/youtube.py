"""YouTube, through google-api-python-client: a resumable ``videos.insert``, uploaded
ahead of time as private with ``status.publishAt`` so YouTube itself publishes on time
(lead_time: the daemon hands YouTube deliveries over two hours early), then the
thumbnail (an image in media:) and the captions file (captions: in media:).

The discovery document is the one bundled with the library (static_discovery), so no
request goes to Google to learn the API's shape.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from .. import counting
from ..errors import AuthError, ChannelError, RateLimited, Rejected, Transient
from ..model import Part, Receipt, Variant
from ..secrets import mask
from .base import Channel, parse_time, retry_at_from_headers

PACIFIC = ZoneInfo("America/Los_Angeles")     # YouTube quotas reset at midnight Pacific time


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
            credentials = Credentials(token=None, refresh_token=self.secret("refresh_token"),
                                      client_id=self.secret("client_id"), client_secret=self.secret("client_secret"),
                                      token_uri=token_uri, scopes=["https://www.googleapis.com/auth/youtube.upload"])
            self._http = build_http()                    # keeps 308 for resumable uploads
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
        if status >= 500:
            return Transient(text)
        return Rejected(text)

    # ----- posting -----------------------------------------------------------------
    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
        from googleapiclient.http import MediaFileUpload

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

    def candidates(self, variant: Variant, index: int, part: Part):
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
        service = self.service()
        found = self._call(service.channels().list(part="snippet", mine=True).execute)
        title = found["items"][0]["snippet"]["title"] if found.get("items") else "(no channel)"
        # Refresh tokens do not expire on a schedule (unless the app is in testing mode: 7 days).
        return {"account": title, "expires_at": None}
