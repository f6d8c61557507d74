"""Threads, through python-facebook-api (pyfacebook.ThreadsGraphAPI): a container
(TEXT or IMAGE, reply_to_id for the next part of a thread), then threads_publish.
Images are fetched by Threads from ``media_base_url`` like Instagram."""
from __future__ import annotations

from typing import Any

from .. import counting
from ..model import Part, Receipt, Variant
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
        edge = "replies" if index else "threads"
        for receipt, created, post in self.recent_matches(str(self.setting("threads_user_id")), edge, "text",
                                                          "permalink", "timestamp", part.text, "replied_to"):
            receipt.extra["in_reply_to"] = str((post.get("replied_to") or {}).get("id") or "") or None
            yield receipt, created

    def check(self) -> dict[str, Any]:
        me = self.call("get_object", "me", fields="id,username")
        return {"account": f"@{me.get('username', me['id'])}", "expires_at": None}
