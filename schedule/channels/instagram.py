"""Instagram (business account), through python-facebook-api: a media container
(image_url + caption + alt_text, or a carousel of up to 10), polled until FINISHED,
then published with media_publish.  Instagram fetches the picture itself from a public
address, so the channel needs ``media_base_url`` (see docs/channels.md)."""
from __future__ import annotations

from typing import Any

from .. import counting
from ..model import Part, Receipt, Variant
from .base import VIDEO_TYPES
from .graph_common import GraphChannel


class InstagramChannel(GraphChannel):
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
    image_types = frozenset({"image/jpeg", "image/png"})
    video_types = VIDEO_TYPES
    max_image_bytes = 8 * 1024 * 1024
    max_video_bytes = 300 * 1024 * 1024
    needs_media = "image"
    required_settings = ("ig_user_id", "media_base_url")

    def _container(self, media, caption: str | None, carousel_item: bool = False) -> str:
        data: dict[str, Any] = {}
        if media.kind == "video":
            data.update(media_type="REELS" if not carousel_item else "VIDEO", video_url=self.media_url(media))
        else:
            data.update(image_url=self.media_url(media))
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
        return self.recent_matches(str(self.setting("ig_user_id")), "media", "caption", "permalink", "timestamp",
                                   part.text)

    def check(self) -> dict[str, Any]:
        me = self.call("get_object", str(self.setting("ig_user_id")), fields="id,username")
        return {"account": f"@{me.get('username', me['id'])}", "expires_at": self.token_expiry()}
