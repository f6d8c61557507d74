"""The `log` network: writes the post to the log (and so the ledger) and nowhere else.

The shipped example config uses it, so the bot runs end to end with no accounts.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from ..model import Part, Receipt, Variant
from .base import Channel, IMAGE_TYPES, VIDEO_TYPES

log = logging.getLogger("civicpost.log")


class LogChannel(Channel):
    network = "log"
    label = "Log only (no network)"
    max_length = 100_000
    max_images = 10
    max_videos = 1
    mix_media = True
    threads = True
    video_types = VIDEO_TYPES
    image_types = IMAGE_TYPES

    def post_part(self, variant: Variant, index: int, part: Part, parent, root, key: str) -> Receipt:
        media = ", ".join(f"{m.rel} (alt: {m.alt})" for m in variant.media) if index == 0 else ""
        remote_id = f"log:{key}"
        log.info("POST %s [%s] id=%s reply_to=%s part %d/%d: %s%s", variant.item_id, self.name, remote_id,
                 parent.remote_id if parent else "-", index + 1, self.part_count(variant),
                 part.text.replace("\n", "\\n"), f" media: {media}" if media else "")
        return Receipt(remote_id=remote_id)

    def check(self) -> dict:
        return {"account": "log", "expires_at": None, "checked_at": datetime.now(timezone.utc)}
