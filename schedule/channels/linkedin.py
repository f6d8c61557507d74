"""LinkedIn organisation page, over plain HTTP with requests.

There is no well-kept Python SDK for LinkedIn's current versioned REST API (/rest/posts,
/rest/images, /rest/videos), so the channel speaks it directly: ``LinkedIn-Version`` and
``X-Restli-Protocol-Version`` headers, posts as the organisation URN, images through the
Images API (initializeUpload, then PUT the bytes to the upload URL), a video through the
Videos API (initializeUpload, PUT each byte range LinkedIn asks for, finalizeUpload with
the parts' ETags, then wait until the video is AVAILABLE before the post names it); the
video's captions go up as SRT (converted from WebVTT when needed).
"""
from __future__ import annotations

import re
import time as clock
from datetime import datetime, time, timezone
from typing import Any
from urllib.parse import quote

from .. import counting
from ..errors import Ambiguous, AuthError, Rejected, Transient
from ..model import InboxPage, Incoming, Part, Receipt, Variant
from ..secrets import mask
from .base import Channel, classify_http, parse_time
from .sessions import prepare_session

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})
# LinkedIn-Version (YYYYMM).  LinkedIn retires each version about a year after it came
# out, so `channels check` warns when the one in use is 11 months old or more.
DEFAULT_VERSION = "202605"
VERSION_WARN_MONTHS = 11


class LinkedInChannel(Channel):
    network = "linkedin"
    label = "LinkedIn page"
    max_length = 3000
    count = staticmethod(counting.utf16_units)         # docs say "characters" without a unit: the strictest
    max_images = 9                        # content.multiImage takes 2 to 20; 9 keeps posts readable
    max_videos = 1
    video_types = frozenset({"video/mp4"})
    max_video_bytes = 200 * 1024 * 1024   # the Videos API's limit for organisation posts
    uploads_captions = True
    caption_format = "srt"                # the Videos API takes SubRip captions
    alt_text = True
    max_alt_length = 4086
    threads = False
    can_find_existing = True
    image_types = IMAGE_TYPES
    max_image_bytes = 36 * 1024 * 1024
    secret_fields = ("access_token",)
    client_modules = ("requests",)
    required_settings = ("organization",)
    default_api_base = "https://api.linkedin.com"

    def __init__(self, config, timeout: float = 30.0):
        super().__init__(config, timeout)
        self._session = None

    def session(self):
        import requests

        if self._session is None:
            self._session = prepare_session(requests.Session())
        self._session.headers.update({
            "Authorization": f"Bearer {self.secret('access_token')}",
            "LinkedIn-Version": self.version(),
            "X-Restli-Protocol-Version": "2.0.0",
        })
        return self._session

    def version(self) -> str:
        return str(self.setting("api_version", DEFAULT_VERSION))

    def config_problems(self) -> list[str]:
        problems = super().config_problems()
        if not re.fullmatch(r"20\d\d(0[1-9]|1[0-2])", self.version()):
            problems.append(f"[channels.{self.name}] api_version = {self.version()!r} is not a LinkedIn version: "
                            "write it as YYYYMM, e.g. \"202605\"")
        return problems

    def version_warning(self, now: datetime) -> str | None:
        version = self.version()
        age = (now.year * 12 + now.month) - (int(version[:4]) * 12 + int(version[4:]))
        if age >= VERSION_WARN_MONTHS:
            return (f"LinkedIn-Version {version} is {age} months old and LinkedIn retires versions after about a "
                    f"year: set api_version in [channels.{self.name}] to a recent YYYYMM")
        return None

    def request(self, method: str, url: str, **kwargs: Any):
        with self.network_errors():
            response = self.session().request(method, url if url.startswith("http") else self.api_base + url,
                                              timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
                message = f"{body.get('code', '')} {body.get('message', '')}".strip()
            except ValueError:
                body, message = {}, response.text[:200]
            if response.status_code in (401, 403) and any(w in message.upper() for w in
                                                          ("TOKEN", "ACCESS_DENIED", "PERMISSION")):
                raise AuthError(mask(f"{self.name}: HTTP {response.status_code}: {message}"))
            raise classify_http(self.name, response.status_code, message, response.headers)
        return response

    def _upload_image(self, media) -> str:
        organization = self.setting("organization")
        init = self.request("POST", "/rest/images", params={"action": "initializeUpload"},
                            json={"initializeUploadRequest": {"owner": organization}}).json()["value"]
        with open(media.path, "rb") as handle:
            self.request("PUT", init["uploadUrl"], data=handle, headers={"Content-Type": media.mime})
        return init["image"]

    def _upload_video(self, media) -> str:
        organization = self.setting("organization")
        size = media.path.stat().st_size
        init = self.request("POST", "/rest/videos", params={"action": "initializeUpload"}, json={
            "initializeUploadRequest": {"owner": organization, "fileSizeBytes": size,
                                        "uploadCaptions": media.captions is not None,
                                        "uploadThumbnail": False}}).json()["value"]
        etags = []
        with open(media.path, "rb") as handle:
            for instruction in init["uploadInstructions"]:
                handle.seek(instruction["firstByte"])
                chunk = handle.read(instruction["lastByte"] - instruction["firstByte"] + 1)
                answer = self.request("PUT", instruction["uploadUrl"], data=chunk,
                                      headers={"Content-Type": "application/octet-stream"})
                etag = answer.headers.get("ETag")
                if not etag:
                    raise Transient(f"{self.name}: LinkedIn gave no ETag for a video part; the upload is retried")
                etags.append(etag)
        if media.captions is not None:
            from ..captions import captions_as

            self.request("PUT", init["captionsUploadUrl"], data=captions_as(media.captions, "srt"),
                         headers={"Content-Type": "application/octet-stream"})
        self.request("POST", "/rest/videos", params={"action": "finalizeUpload"}, json={
            "finalizeUploadRequest": {"video": init["video"], "uploadToken": init.get("uploadToken", ""),
                                      "uploadedPartIds": etags}})
        self._wait_for_video(init["video"])
        return init["video"]

    def _wait_for_video(self, urn: str) -> None:
        """A post may only name a video LinkedIn has finished processing."""
        interval = float(self.setting("video_poll_seconds", 3))
        deadline = clock.monotonic() + float(self.setting("video_timeout_seconds", 600))
        while True:
            status = self.request("GET", f"/rest/videos/{quote(urn, safe='')}").json().get("status")
            if status == "AVAILABLE":
                return
            if status == "PROCESSING_FAILED":
                raise Rejected(f"{self.name}: LinkedIn could not process the video {urn}")
            if clock.monotonic() > deadline:
                raise Transient(f"{self.name}: video {urn} still {status} after waiting")
            clock.sleep(interval)

    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
        if parent is not None:                   # only a reply has a parent here (no threads)
            return self._comment_reply(parent, part)
        body: dict[str, Any] = {
            "author": self.setting("organization"), "commentary": _escape(part.text), "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False,
        }
        videos = [m for m in variant.media if m.kind == "video"]
        images = [(self._upload_image(m), m.alt) for m in variant.media if m.kind == "image"]
        if videos:
            body["content"] = {"media": {"id": self._upload_video(videos[0]), "title": variant.title}}
        elif len(images) == 1:
            body["content"] = {"media": {"id": images[0][0], "altText": images[0][1]}}
        elif images:
            body["content"] = {"multiImage": {"images": [{"id": urn, "altText": alt} for urn, alt in images]}}
        with self.creating():
            response = self.request("POST", "/rest/posts", json=body)
        urn = response.headers.get("x-restli-id") or response.headers.get("x-linkedin-id")
        if not urn:                        # it is live: found by reading the page back, never resent blindly
            raise Ambiguous(f"{self.name}: LinkedIn accepted the post but returned no id")
        return Receipt(urn, f"https://www.linkedin.com/feed/update/{urn}/")

    def candidates(self, variant: Variant, index: int, part: Part):
        if variant.extra.get("in_reply_to"):     # a reply: look among the comment's own comments
            for comment in self._comments(str(variant.extra["in_reply_to"]).split(":", 1)[1]):
                if comment.get("actor") == self.setting("organization") and \
                        (comment.get("message") or {}).get("text", "").strip() == part.text.strip():
                    yield (Receipt(comment.get("$URN") or comment["commentUrn"], None),
                           datetime.fromtimestamp(comment["created"]["time"] / 1000, timezone.utc))
            return
        organization = quote(str(self.setting("organization")), safe="")
        posts = self.request("GET", f"/rest/posts?author={organization}&q=author&count=20",
                             headers={"X-RestLi-Method": "FINDER"}).json()
        wanted = _escape(part.text)
        for post in posts.get("elements", []):
            if post.get("commentary") == wanted:
                yield (Receipt(post["id"], f"https://www.linkedin.com/feed/update/{post['id']}/"),
                       parse_time(post.get("createdAt")))

    def check(self) -> dict[str, Any]:
        organization = str(self.setting("organization"))
        found = self.request("GET", f"/rest/organizations/{organization.rsplit(':', 1)[-1]}").json()
        expires = self.setting("token_expires")       # LinkedIn tokens last 60 days; admins record the date
        expires_at = None
        if expires:
            day = datetime.fromisoformat(str(expires))
            expires_at = day if day.tzinfo else datetime.combine(day.date(), time(0), timezone.utc)
        name = found.get("localizedName") or organization
        return {"account": name, "expires_at": expires_at, "warning": self.version_warning(datetime.now(timezone.utc))}

    # ----- the inbox (schedule/inbox/): comments on the organisation's posts ------------
    # Needs the Community Management API (LinkedIn's approval; docs/channels.md); without it
    # LinkedIn answers 403 ACCESS_DENIED, reported once.  No "since": each pass lists all.
    def _comments(self, urn: str) -> list[dict]:
        out, start = [], 0
        while True:
            page = self.request("GET", f"/rest/socialActions/{quote(urn, safe='')}/comments",
                                params={"start": start, "count": 100}).json()
            elements = page.get("elements", [])
            out += elements
            start += len(elements)
            if not elements or start >= int((page.get("paging") or {}).get("total", 0)):
                return out

    def inbox_replies(self, remote_ids: list[str], since: str | None) -> InboxPage:
        """GET /rest/socialActions/{urn}/comments (start/count paging), and each comment's
        own comments where it has some."""
        found, missing = {}, []
        for post in remote_ids:
            try:
                stack = [(c, post) for c in self._comments(post)]
            except Rejected as exc:
                if "404" not in str(exc):
                    raise
                missing.append(post)
                continue
            while stack:
                comment, parent = stack.pop()
                urn = comment.get("$URN") or comment["commentUrn"]
                found.setdefault(urn, self._incoming(comment, urn, parent, post))
                if int((comment.get("commentsSummary") or {}).get("aggregatedTotalComments", 0)):
                    stack += [(c, urn) for c in self._comments(urn)]
        return InboxPage(tuple(found.values()), None, complete=True, missing_posts=tuple(missing))

    def _incoming(self, comment: dict, urn: str, parent: str, post: str) -> Incoming:
        created = datetime.fromtimestamp(comment["created"]["time"] / 1000, timezone.utc)
        changed = datetime.fromtimestamp((comment.get("lastModified") or comment["created"])["time"] / 1000,
                                         timezone.utc)
        actor = comment.get("actor", "")
        return Incoming(remote_id=urn, kind="comment", text=(comment.get("message") or {}).get("text", ""),
                        created_at=created, author=actor, author_id=actor, parent_id=parent, conversation=post,
                        answers=post, edited_at=changed if changed > created else None,
                        own=actor == str(self.setting("organization")))

    def reply_target(self, remote_id: str) -> tuple[Receipt, Receipt]:
        """A comment as the organisation on the comment (parentComment), posted to the
        comment's socialActions; the object is the activity the comment URN names."""
        return Receipt(remote_id, None), Receipt(remote_id, None)

    def _comment_reply(self, parent: Receipt, part: Part) -> Receipt:
        inner = parent.remote_id.split("(", 1)[1].rsplit(")", 1)[0] if "(" in parent.remote_id else parent.remote_id
        activity = inner.rsplit(",", 1)[0]
        response = self.request("POST", f"/rest/socialActions/{quote(parent.remote_id, safe='')}/comments", json={
            "actor": self.setting("organization"), "object": activity, "parentComment": parent.remote_id,
            "message": {"text": part.text}})
        made = response.json() if response.content else {}
        urn = made.get("$URN") or response.headers.get("x-restli-id") or ""
        return Receipt(urn, None)


def _escape(text: str) -> str:
    """LinkedIn's 'little text' format: these characters must be backslash-escaped or the
    post is cut or garbled (e.g. text in parentheses is read as a mention)."""
    for char in "\\|{}@[]()<>#*_~":
        text = text.replace(char, "\\" + char)
    return text
