"""Instagram (business account), through python-facebook-api: a media container
(image_url + caption + alt_text, or a carousel of up to 10), polled until FINISHED,
then published with media_publish.  Instagram fetches the picture itself from a public
address, so the channel needs ``media_base_url`` (see docs/channels.md).

Instagram takes JPEG pictures only ("JPEG is the only image format supported", IG User
Media reference): a PNG, GIF or WebP is converted (schedule/jpeg.py), the copy is fetched
instead, validate refuses what cannot be converted and preview says which are converted."""
from __future__ import annotations

from typing import Any

from .. import counting
from ..errors import Problem, Rejected
from ..jpeg import jpeg_bytes, jpeg_copy, needs_converting
from ..model import InboxPage, Incoming, Part, Receipt, Variant
from .base import MB, VIDEO_TYPES
from .graph_common import GraphChannel, GraphMessaging


class InstagramChannel(GraphMessaging, GraphChannel):
    network = "instagram"
    label = "Instagram"
    max_length = 2200
    count = staticmethod(counting.utf16_units)         # docs say "characters" without a unit: the strictest
    max_images = 10
    max_videos = 1
    mix_media = True
    alt_text = True                      # image containers take alt_text (Graph API, 2025)
    max_alt_length = 1000
    threads = False
    can_find_existing = True
    sends_direct_replies = True                  # a reply to a "dm:" message is a direct message
    # Sent as JPEG; the others are converted first.
    image_types = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
    video_types = VIDEO_TYPES
    max_image_bytes = 8 * 1024 * 1024
    max_video_bytes = 300 * 1024 * 1024
    needs_media = "image"
    required_settings = ("ig_user_id", "media_base_url")
    dm_platform = "instagram"                    # the Page's conversations, platform=instagram
    dm_permission = "instagram_manage_messages"

    def validate(self, variant: Variant) -> list[Problem]:
        problems = super().validate(variant)
        for media in variant.media:
            if not needs_converting(media) or media.mime not in self.image_types or media.size > self.max_image_bytes:
                continue                         # not a picture to convert, or already refused above
            try:
                size = len(jpeg_bytes(media))
            except ValueError as exc:
                problems.append(Problem(variant.source, variant.media_line, "error", "media-convert",
                                        f"Instagram takes JPEG only, and {exc}", self.name))
                continue
            if size > self.max_image_bytes:
                problems.append(Problem(variant.source, variant.media_line, "error", "media-size",
                                        f"{media.rel} is {size / MB:.1f} MB as a JPEG, Instagram takes at most "
                                        f"{self.max_image_bytes / MB:.0f} MB: make it smaller", self.name))
                continue
            # Shown by preview next to the picture ("media/pool.png -> sent as JPEG").
            kind = media.mime.split("/")[-1].upper()
            variant.extra.setdefault("sent_as", {})[media.rel] = f"JPEG (converted from {kind} by civicpost)"
        return problems

    def _jpeg(self, media):
        """The picture Instagram is asked to fetch: the JPEG copy where it is not a JPEG."""
        if not needs_converting(media):
            return media
        try:
            return jpeg_copy(media)
        except (ValueError, OSError) as exc:
            raise Rejected(f"{self.name}: Instagram takes JPEG only and {media.rel} could not be converted: "
                           f"{exc}") from None

    def _container(self, media, caption: str | None, carousel_item: bool = False) -> str:
        data: dict[str, Any] = {}
        if media.kind == "video":
            data.update(media_type="REELS" if not carousel_item else "VIDEO", video_url=self.media_url(media))
        else:
            data.update(image_url=self.media_url(self._jpeg(media)))
            if media.alt:
                data["alt_text"] = media.alt
        if carousel_item:
            data["is_carousel_item"] = "true"
        if caption is not None:
            data["caption"] = caption
        made = self.call("post_object", str(self.setting("ig_user_id")), "media", data=data)
        return str(made["id"])

    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
        if parent is not None and parent.remote_id.startswith("dm:"):   # a direct message: answered privately
            return self.send_dm(part, parent.remote_id)
        if parent is not None:                   # only a reply has a parent here (no threads)
            return self._comment_reply(parent, part)
        user = str(self.setting("ig_user_id"))
        if len(variant.media) == 1:
            container = self._container(variant.media[0], part.text)
        else:
            children = [self._container(m, None, carousel_item=True) for m in variant.media]
            for child in children:
                self.wait_for_container(child)
            container = str(self.call("post_object", user, "media", data={
                "media_type": "CAROUSEL", "children": ",".join(children), "caption": part.text})["id"])
        self.wait_for_container(container)
        with self.creating():
            published = self.call("post_object", user, "media_publish", data={"creation_id": container})
        receipt = Receipt(str(published["id"]), None, {"container": container})
        # The post exists from here: a failed permalink lookup is a warning, never a second post.
        found = self.after_create(receipt, "permalink lookup",
                                  lambda: self.call("get_object", receipt.remote_id, fields="permalink"))
        return Receipt(receipt.remote_id, (found or {}).get("permalink"), receipt.extra)

    def candidates(self, variant: Variant, index: int, part: Part):
        target = str(variant.extra.get("in_reply_to") or "").split(":", 1)[-1]
        if target.startswith("dm:"):
            return self.dm_candidates(target, part)
        if variant.extra.get("in_reply_to"):     # a reply: look among the comment's replies
            return self.recent_matches(str(variant.extra["in_reply_to"]).split(":", 1)[1], "replies", "text",
                                       "permalink", "timestamp", part.text)
        return self.recent_matches(str(self.setting("ig_user_id")), "media", "caption", "permalink", "timestamp",
                                   part.text)

    def check(self) -> dict[str, Any]:
        me = self.call("get_object", str(self.setting("ig_user_id")), fields="id,username")
        return {"account": f"@{me.get('username', me['id'])}", "expires_at": self.token_expiry()}

    # ----- the inbox (schedule/inbox/): comments on the account's media ---------------
    # Needs instagram_manage_comments (App Review, docs/channels.md).  Instagram has no
    # "since" on comments, so each pass lists them all (which is how deletions are seen).
    def inbox_replies(self, remote_ids: list[str], since: str | None) -> InboxPage:
        """GET /{media}/comments with replies{...} (cursor paging): comments and their replies."""
        user, found, missing = str(self.setting("ig_user_id")), {}, []
        fields = "id,text,timestamp,username,from,replies{id,text,timestamp,username,from}"
        for media_id in remote_ids:
            after = None
            while True:
                params = {"fields": fields, "limit": 50, **({"after": after} if after else {})}
                try:
                    listed = self.call("get_connection", media_id, "comments", **params)
                except Rejected as exc:
                    if "does not exist" not in str(exc):
                        raise
                    missing.append(media_id)
                    break
                for comment in listed.get("data", []):
                    found.setdefault(comment["id"], _ig_comment(comment, media_id, media_id, user))
                    for reply in (comment.get("replies") or {}).get("data", []):
                        found.setdefault(reply["id"], _ig_comment(reply, comment["id"], media_id, user))
                paging = listed.get("paging") or {}
                after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
                if not after:
                    break
        return InboxPage(tuple(found.values()), None, complete=True, missing_posts=tuple(missing))

    def reply_target(self, remote_id: str) -> tuple[Receipt, Receipt]:
        """A reply is POST /{comment}/replies (post_part)."""
        return Receipt(remote_id, None), Receipt(remote_id, None)

    def hide(self, remote_id: str) -> None:
        """POST /{ig-comment-id} hide=true (instagram_manage_comments)."""
        self.call("post_object", remote_id, data={"hide": "true"})

    def _comment_reply(self, parent: Receipt, part: Part) -> Receipt:
        made = self.call("post_object", parent.remote_id, "replies", data={"message": part.text})
        return Receipt(str(made["id"]), None)


def _ig_comment(comment: dict, parent: str, media_id: str, user: str) -> Incoming:
    from datetime import datetime

    author = comment.get("from") or {}
    return Incoming(remote_id=str(comment["id"]), kind="comment", text=comment.get("text") or "",
                    created_at=datetime.strptime(comment["timestamp"], "%Y-%m-%dT%H:%M:%S%z"),
                    author=f"@{comment.get('username') or author.get('username', '')}",
                    author_id=str(author.get("id", "")), parent_id=parent, conversation=media_id, answers=media_id,
                    own=str(author.get("id")) == user)
