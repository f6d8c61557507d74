"""Facebook Page, through python-facebook-api (pyfacebook.GraphAPI).

Text and link posts go to /{page_id}/feed; one image to /{page_id}/photos; several
images are uploaded unpublished and attached to one feed post; a video goes to
/{page_id}/videos.  Each photo carries its alt text as ``alt_text_custom`` (the Photo
node's user-provided alternative text; without it Facebook shows its own guess).
"""
from __future__ import annotations

from typing import Any

from .. import counting
from ..model import Part, Receipt, Variant
from .base import IMAGE_TYPES, VIDEO_TYPES
from .graph_common import GraphChannel


class FacebookChannel(GraphChannel):
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
    image_types = IMAGE_TYPES
    video_types = VIDEO_TYPES
    max_image_bytes = 4 * 1024 * 1024
    max_video_bytes = 1024 * 1024 * 1024
    required_settings = ("page_id",)

    def post_part(self, variant: Variant, index: int, part: Part, parent: Receipt | None,
                  root: Receipt | None, key: str) -> Receipt:
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
        return self.recent_matches(str(self.setting("page_id")), "posts", "message", "permalink_url", "created_time",
                                   part.text)

    def check(self) -> dict[str, Any]:
        page = self.call("get_object", str(self.setting("page_id")), fields="id,name")
        return {"account": page.get("name", page["id"]), "expires_at": self.token_expiry()}


def _alt(image) -> dict[str, str]:
    return {"alt_text_custom": image.alt} if image.alt else {}
