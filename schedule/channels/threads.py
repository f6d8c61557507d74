"""Threads, through python-facebook-api (pyfacebook.ThreadsGraphAPI): a container
(TEXT or IMAGE, reply_to_id for the next part of a thread), then threads_publish.
Images are fetched by Threads from ``media_base_url`` like Instagram."""
from __future__ import annotations

from typing import Any

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
        published = str(self.call("post_object", user, "threads_publish", data={"creation_id": container})["id"])
        permalink = self.call("get_object", published, fields="permalink").get("permalink")
        return Receipt(published, permalink)

    def find_existing(self, variant: Variant, index: int, part: Part) -> Receipt | None:
        return self.find_recent(str(self.setting("threads_user_id")), "threads", "text", "permalink", part.text)

    def check(self) -> dict[str, Any]:
        me = self.call("get_object", "me", fields="id,username")
        return {"account": f"@{me.get('username', me['id'])}", "expires_at": None}
