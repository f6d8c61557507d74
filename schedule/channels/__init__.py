"""One module per network.  Modules are imported only when a network is used, and
each imports its client library lazily inside methods, so validate/preview stay fast."""
from __future__ import annotations

import importlib

from ..config import ChannelConfig
from .base import Channel

CLASSES = {
    "log": "schedule.channels.log:LogChannel",
    "x": "schedule.channels.x:XChannel",
    "facebook": "schedule.channels.facebook:FacebookChannel",
    "instagram": "schedule.channels.instagram:InstagramChannel",
    "threads": "schedule.channels.threads:ThreadsChannel",
    "youtube": "schedule.channels.youtube:YouTubeChannel",
    "mastodon": "schedule.channels.mastodon:MastodonChannel",
    "bluesky": "schedule.channels.bluesky:BlueskyChannel",
    "linkedin": "schedule.channels.linkedin:LinkedInChannel",
}


def channel_class(network: str) -> type[Channel]:
    module, _, name = CLASSES[network].partition(":")
    return getattr(importlib.import_module(module), name)


def make_channel(config: ChannelConfig, **kwargs) -> Channel:
    return channel_class(config.network)(config, **kwargs)
