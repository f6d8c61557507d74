"""Facebook Page, through python-facebook-api (pyfacebook.GraphAPI).

Text and link posts go to /{page_id}/feed; one image to /{page_id}/photos; several
images are uploaded unpublished and attached to one feed post; a video goes to
/{page_id}/videos.  Each photo carries its alt text as ``alt_text_custom`` (the Photo
node's user-provided alternative text; without it Facebook shows its own guess).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import counting
from ..errors import Rejected
from ..model import InboxPage, Incoming, Part, Receipt, Variant
from .base import IMAGE_TYPES, VIDEO_TYPES
from .graph_common import GraphChannel, GraphMessaging


class FacebookChannel(GraphMessaging, GraphChannel):
    network = "facebook"
    label = "Facebook Page"
    max_length = 63206
    count = staticmethod(counting.utf16_units)         # docs say "characters" without a unit: the strictest
    max_images = 10
    max_videos = 1
    alt_text = True
    threads = False
    idempotent = False
    can_find_existing = True
    sends_direct_replies = True                  # a reply to a "dm:" message is a direct message
    image_types = IMAGE_TYPES
    video_types = VIDEO_TYPES
    max_image_bytes = 4 * 1024 * 1024
    max_video_bytes = 1024 * 1024 * 1024
    required_settings = ("page_id",)

    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
        if parent is not None and parent.remote_id.startswith("dm:"):   # a direct message: answered privately
            return self.send_dm(part, parent.remote_id)
        if parent is not None:                   # only a reply has a parent here (no threads)
            return self._comment_reply(parent, part)
        page = str(self.setting("page_id"))
        images = [m for m in variant.media if m.kind == "image"]
        videos = [m for m in variant.media if m.kind == "video"]
        if videos:
            video = videos[0]
            with open(video.path, "rb") as handle, self.creating():
                made = self.call("post_object", page, "videos", data={"description": part.text, "title": variant.title},
                                 files={"source": (video.path.name, handle, video.mime)})
            return self._receipt(str(made["id"]), video=True)
        if len(images) == 1:
            image = images[0]
            with open(image.path, "rb") as handle, self.creating():
                made = self.call("post_object", page, "photos", data={"message": part.text, "published": "true",
                                                                     **_alt(image)},
                                 files={"source": (image.path.name, handle, image.mime)})
            return self._receipt(str(made.get("post_id") or made["id"]))
        data: dict[str, Any] = {"message": part.text}
        if variant.link and not images:
            data["link"] = variant.link
        for number, image in enumerate(images):
            with open(image.path, "rb") as handle:
                photo = self.call("post_object", page, "photos", data={"published": "false", **_alt(image)},
                                  files={"source": (image.path.name, handle, image.mime)})
            data[f"attached_media[{number}]"] = f'{{"media_fbid":"{photo["id"]}"}}'
        with self.creating():
            made = self.call("post_object", page, "feed", data=data)
        return self._receipt(str(made["id"]))

    def _receipt(self, post_id: str, video: bool = False) -> Receipt:
        url = f"https://www.facebook.com/{self.setting('page_id')}/videos/{post_id}" if video else \
            f"https://www.facebook.com/{post_id}"
        return Receipt(post_id, url)

    def candidates(self, variant: Variant, index: int, part: Part):
        target = str(variant.extra.get("in_reply_to") or "").split(":", 1)[-1]
        if target.startswith("dm:"):
            return self.dm_candidates(target, part)
        if variant.extra.get("in_reply_to"):     # a reply: look among the comment's own comments
            return self.recent_matches(str(variant.extra["in_reply_to"]).split(":", 1)[1], "comments", "message",
                                       "permalink_url", "created_time", part.text)
        return self.recent_matches(str(self.setting("page_id")), "posts", "message", "permalink_url", "created_time",
                                   part.text)

    def check(self) -> dict[str, Any]:
        page = self.call("get_object", str(self.setting("page_id")), fields="id,name")
        return {"account": page.get("name", page["id"]), "expires_at": self.token_expiry()}

    # ----- the inbox (schedule/inbox/): comments on the Page's posts -----------------
    # Needs pages_read_engagement and pages_read_user_content (App Review, docs/channels.md);
    # without them Graph answers error 10/200, which the inbox reports once.  Facebook has
    # no mentions read call for Pages here (issue 11's table): the base class says so.
    # Graph gives a comment no edit time and ``since`` filters by creation time, so an
    # incremental read never shows an edit or a deletion: with since=None (the poller's
    # sweep, every [inbox] sweep_minutes) every current comment is listed, so an edited
    # one comes back with its new text and a deleted one is missing (kept, marked deleted).
    inbox_full_read_shows_changes = True

    def inbox_replies(self, remote_ids: list[str], since: str | None) -> InboxPage:
        """GET /{post}/comments?filter=stream&since=... (every comment, replies to comments
        too, oldest first), following paging.cursors.after; the cursor is the newest
        created_time seen, as Unix seconds (Graph's ``since`` takes them).  A post the Page
        deleted is Graph error 100 "does not exist": skipped, and named in missing_posts."""
        page_id, found, newest, missing = str(self.setting("page_id")), [], int(since) if since else 0, []
        if since:
            remote_ids = self._updated_since(remote_ids, int(since))
        for post_id in remote_ids:
            after = None
            while True:
                params = {"filter": "stream", "limit": 100, "order": "chronological",
                          "fields": "id,message,created_time,from,parent{id},permalink_url"}
                if since:
                    params["since"] = since
                if after:
                    params["after"] = after
                try:
                    listed = self.call("get_connection", post_id, "comments", **params)
                except Rejected as exc:
                    if "does not exist" not in str(exc):
                        raise
                    missing.append(post_id)
                    break
                for comment in listed.get("data", []):
                    message = _comment(comment, post_id, page_id)
                    found.append(message)
                    newest = max(newest, int(message.created_at.timestamp()))
                paging = listed.get("paging") or {}
                after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
                if not after:
                    break
        return InboxPage(tuple(found), str(newest) if newest else since, complete=since is None,
                         missing_posts=tuple(missing))

    def _updated_since(self, remote_ids: list[str], since: int) -> list[str]:
        """The posts worth reading on an incremental pass.  Graph's Post.updated_time is "the
        time the post was last updated, which occurs when the post was created, edited, or a
        user comments on a post" (Post reference), so one listing of the Page's posts
        (GET /{page-id}/posts?fields=id,updated_time, 100 a page) replaces a comments read per
        post: a quiet poll costs a page per 100 posts, not a call per post.  A post the
        listing does not reach is read as before; the sweep still reads every post."""
        wanted, active, after = set(remote_ids), set(), None
        while wanted:
            listed = self.call("get_connection", str(self.setting("page_id")), "posts", fields="id,updated_time",
                               limit=100, **({"after": after} if after else {}))
            for post in listed.get("data", []):
                if post["id"] in wanted:
                    wanted.discard(post["id"])
                    updated = datetime.strptime(post.get("updated_time") or post["created_time"], "%Y-%m-%dT%H:%M:%S%z")
                    if updated.timestamp() >= since:          # same second: read it, the store dedups
                        active.add(post["id"])
            paging = listed.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
            if not after or not listed.get("data"):
                break
        return [r for r in remote_ids if r in active or r in wanted]

    def reply_target(self, remote_id: str) -> tuple[Receipt, Receipt]:
        """A reply is a comment on the comment: POST /{comment-id}/comments (post_part)."""
        target = Receipt(remote_id, None)
        return target, target

    def hide(self, remote_id: str) -> None:
        """POST /{comment-id} is_hidden=true (pages_manage_engagement)."""
        self.call("post_object", remote_id, data={"is_hidden": "true"})

    def _comment_reply(self, parent: Receipt, part: Part) -> Receipt:
        made = self.call("post_object", parent.remote_id, "comments", data={"message": part.text})
        return Receipt(str(made["id"]), f"https://www.facebook.com/{made['id']}")


def _comment(comment: dict, post_id: str, page_id: str):
    author = comment.get("from") or {}          # absent without pages_read_user_content
    created = datetime.strptime(comment["created_time"], "%Y-%m-%dT%H:%M:%S%z")
    parent = (comment.get("parent") or {}).get("id") or post_id
    return Incoming(remote_id=str(comment["id"]), kind="comment", text=comment.get("message") or "",
                    created_at=created, author=author.get("name", ""), author_id=str(author.get("id", "")),
                    url=comment.get("permalink_url"), parent_id=parent, conversation=post_id, answers=post_id,
                    own=str(author.get("id")) == page_id)


def _alt(image) -> dict[str, str]:
    return {"alt_text_custom": image.alt} if image.alt else {}
