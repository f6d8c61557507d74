"""Threads, through python-facebook-api (pyfacebook.ThreadsGraphAPI): a container
(TEXT or IMAGE, reply_to_id for the next part of a thread), then threads_publish.
Images are fetched by Threads from ``media_base_url`` like Instagram."""
from __future__ import annotations

from typing import Any

from .. import counting
from ..errors import Rejected
from ..model import InboxPage, Incoming, Part, Receipt, Variant
from .base import VIDEO_TYPES
from .graph_common import GraphChannel


class ThreadsChannel(GraphChannel):
    network = "threads"
    label = "Threads"
    api_class = "ThreadsGraphAPI"
    default_version = "v1.0"
    default_api_base = "https://graph.threads.net"
    max_length = 500
    count = staticmethod(counting.threads_length)      # characters, emoji as their UTF-8 bytes
    max_images = 1                       # carousels are not used here
    max_videos = 1
    alt_text = True
    max_alt_length = 1000
    threads = True
    can_find_existing = True
    image_types = frozenset({"image/jpeg", "image/png"})
    video_types = VIDEO_TYPES
    max_image_bytes = 8 * 1024 * 1024
    required_settings = ("threads_user_id",)
    # Threads documents `status` (IN_PROGRESS, FINISHED, PUBLISHED, ERROR, EXPIRED) and
    # `error_message` for a container; it has no `status_code` (that is Instagram's).
    container_status_field = "status"
    container_error_field = "error_message"

    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
        user = str(self.setting("threads_user_id"))
        data: dict[str, Any] = {"media_type": "TEXT", "text": part.text}
        if index == 0 and variant.media:
            media = variant.media[0]
            if media.kind == "video":
                data.update(media_type="VIDEO", video_url=self.media_url(media))
            else:
                data.update(media_type="IMAGE", image_url=self.media_url(media))
                if media.alt:
                    data["alt_text"] = media.alt
        if parent is not None:
            data["reply_to_id"] = parent.remote_id
        container = str(self.call("post_object", user, "threads", data=data)["id"])
        if data["media_type"] != "TEXT":
            self.wait_for_container(container)
        with self.creating():
            published = str(self.call("post_object", user, "threads_publish", data={"creation_id": container})["id"])
        receipt = Receipt(published)
        # The post exists from here: a failed permalink lookup is a warning, never a second post.
        found = self.after_create(receipt, "permalink lookup",
                                  lambda: self.call("get_object", published, fields="permalink"))
        return Receipt(published, (found or {}).get("permalink"), receipt.extra)

    def candidates(self, variant: Variant, index: int, part: Part):
        # The account's own replies (every part after the first) are its /replies edge, not /threads.
        edge = "replies" if index or variant.extra.get("in_reply_to") else "threads"
        for receipt, created, post in self.recent_matches(str(self.setting("threads_user_id")), edge, "text",
                                                          "permalink", "timestamp", part.text, "replied_to"):
            receipt.extra["in_reply_to"] = str((post.get("replied_to") or {}).get("id") or "") or None
            yield receipt, created

    def check(self) -> dict[str, Any]:
        me = self.call("get_object", "me", fields="id,username")
        return {"account": f"@{me.get('username', me['id'])}", "expires_at": None}

    # ----- the inbox (schedule/inbox/): replies and mentions --------------------------
    # Needs threads_read_replies (and threads_manage_mentions for mentions), App Review.
    _FIELDS = "id,text,timestamp,username,permalink,replied_to{id},root_post{id},is_reply_owned_by_me"

    def _pages(self, owner: str, edge: str, **params: Any):
        after = None
        while True:
            listed = self.call("get_connection", owner, edge, fields=self._FIELDS, limit=100,
                               **params, **({"after": after} if after else {}))
            yield from listed.get("data", [])
            paging = listed.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
            if not after:
                return

    def inbox_replies(self, remote_ids: list[str], since: str | None) -> InboxPage:
        """GET /{media}/conversation: every reply at any depth, flattened."""
        found, missing = {}, []
        for media_id in remote_ids:
            try:
                for reply in self._pages(media_id, "conversation", reverse="false"):
                    found.setdefault(reply["id"], _thread_reply(reply, "reply", media_id))
            except Rejected as exc:
                if "does not exist" not in str(exc):
                    raise
                missing.append(media_id)
        return InboxPage(tuple(found.values()), None, complete=True, missing_posts=tuple(missing))

    def inbox_mentions(self, cursor: str | None) -> InboxPage:
        """GET /{user}/mentions since the newest timestamp seen (Unix seconds)."""
        found, newest = [], int(cursor) if cursor else 0
        params = {"since": cursor} if cursor else {}
        for post in self._pages(str(self.setting("threads_user_id")), "mentions", **params):
            message = _thread_reply(post, "mention", None)
            found.append(message)
            newest = max(newest, int(message.created_at.timestamp()))
        return InboxPage(tuple(found), str(newest) if newest else cursor)

    def hide(self, remote_id: str) -> None:
        """POST /{reply-id}/manage_reply hide=true (threads_manage_replies)."""
        self.call("post_object", remote_id, "manage_reply", data={"hide": "true"})

    def reply_target(self, remote_id: str) -> tuple[Receipt, Receipt]:
        """A reply is a post with reply_to_id (post_part sends parent.remote_id)."""
        return Receipt(remote_id, None), Receipt(remote_id, None)


def _thread_reply(post: dict, kind: str, media_id: str | None) -> Incoming:
    from datetime import datetime

    parent = (post.get("replied_to") or {}).get("id")
    root = (post.get("root_post") or {}).get("id")
    return Incoming(remote_id=str(post["id"]), kind=kind, text=post.get("text") or "",
                    created_at=datetime.strptime(post["timestamp"], "%Y-%m-%dT%H:%M:%S%z"),
                    author=f"@{post.get('username', '')}", url=post.get("permalink"), parent_id=parent,
                    conversation=media_id or root, answers=media_id, own=bool(post.get("is_reply_owned_by_me")))
