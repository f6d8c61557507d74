"""YouTube specifics: scheduled publishing, resumable chunks, thumbnail, captions, quota."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from schedule.errors import AuthError, RateLimited
from tests.channels import harness_youtube
from tests.helpers import image, make_variant, tiny_mp4, tiny_png, video


@pytest.fixture
def yt(open_harness):
    return open_harness("youtube")


def test_future_video_is_uploaded_private_with_publish_at(yt, tmp_path):
    planned = datetime.now(timezone.utc) + timedelta(hours=2)
    clip = tiny_mp4(tmp_path / "meeting.mp4")
    clip.write_bytes(clip.read_bytes() * 5000)             # ~450 kB: several resumable chunks
    captions = tmp_path / "meeting.vtt"
    captions.write_text("WEBVTT\n\n00:00.000 --> 00:02.000\nWelcome.\n")
    clip_media = video(clip, captions=captions)
    thumb = image(tiny_png(tmp_path / "thumb.png"))
    variant = make_variant(yt.channel, ["Highlights of the full council meeting."], media=(clip_media, thumb),
                           title="Full council highlights")
    variant.extra["planned_at"] = planned
    receipt = yt.channel.publish(variant, key="k-yt")
    uploaded = yt.server.videos[receipt.remote_id]
    assert uploaded["status"]["privacyStatus"] == "private"
    assert uploaded["status"]["publishAt"] == planned.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert uploaded["snippet"]["title"] == "Full council highlights"
    assert uploaded["bytes"] == clip.stat().st_size
    assert len(yt.server.calls("PUT")) > 1
    assert receipt.remote_id in yt.server.thumbnails
    assert yt.server.captions[receipt.remote_id]["language"] == "en"
    assert receipt.url == f"https://www.youtube.com/watch?v={receipt.remote_id}"


def test_quota_exceeded_waits_until_midnight_pacific(yt):
    yt.server.inject("quota", match=r"^POST /upload/youtube/v3/videos$")
    with pytest.raises(RateLimited) as caught:
        yt.channel.publish(make_variant(yt.channel, ["Quota day."]), key="k-quota")
    local = caught.value.retry_at.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (local.hour, local.minute) == (0, 5) and caught.value.retry_at > datetime.now(timezone.utc)


def test_refused_refresh_token_is_an_auth_error(yt, monkeypatch):
    monkeypatch.setenv("CIVICPOST_COUNCIL_YOUTUBE_REFRESH_TOKEN", "1//revoked")
    yt.channel._service = None
    with pytest.raises(AuthError, match="refresh token was refused"):
        yt.channel.check()


def test_lead_time_is_declared():
    assert harness_youtube.YouTubeChannel.lead_time == timedelta(hours=2)
