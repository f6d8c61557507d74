"""A call that fails once the post exists (issue 9 §1, issue 10 §7): Instagram's and
Threads' permalink lookup, YouTube's thumbnail and captions uploads.  The post is recorded
(`posted`, its remote id) and the missing step is reported as a warning; the create call
is never made a second time."""
from __future__ import annotations

import pytest

from tests.channels.deliveries import Deliveries
from tests.helpers import image, tiny_mp4, tiny_png, video


def fail_after(server, created: str, then: str) -> None:
    """Once the request matching ``created`` arrives, every request matching ``then`` gets a 5xx."""
    def hook(request) -> None:
        if request.method == "POST" and request.path.endswith(created):
            server.inject("5xx", times=10, match=then)
    server.on_request.append(hook)


@pytest.mark.parametrize("network, publish_path, kind", [
    ("instagram", "/media_publish", "ig_media"),
    ("threads", "/threads_publish", "thread"),
])
def test_a_failed_permalink_lookup_keeps_the_post_and_never_publishes_again(open_harness, tmp_path, network,
                                                                            publish_path, kind):
    harness = open_harness(network)
    world = Deliveries(harness, tmp_path)
    text = "The leisure centre reopens on Monday."
    delivery = world.plan([text])
    fail_after(harness.server, publish_path, r"^GET /v[\d.]+/\d+$")      # GET /{media-id}?fields=permalink
    assert world.run_until_settled(delivery) == "posted"
    made = [o for o in harness.server.objects.values() if o["kind"] == kind]
    assert len(made) == 1
    assert len(harness.server.calls("POST", publish_path + "$")) == 1
    row = world.row(delivery)
    assert row["remote_id"] == made[0]["id"]
    warnings = [e for e in world.events(delivery) if e["kind"] == "warning"]
    assert warnings and "permalink lookup failed" in warnings[0]["reason"]
    assert any("posted with a warning" in title for title, _ in world.alerts)


@pytest.mark.parametrize("step, path, fault", [
    ("thumbnail upload", r"^POST /upload/youtube/v3/thumbnails/set$", "5xx"),
    ("captions upload", r"^POST /upload/youtube/v3/captions$", "5xx"),
    ("captions upload", r"^POST /upload/youtube/v3/captions$", "quota"),      # a 403: refused, not transient
])
def test_a_failed_thumbnail_or_captions_upload_keeps_the_video(open_harness, tmp_path, step, path, fault):
    harness = open_harness("youtube")
    world = Deliveries(harness, tmp_path)
    captions = tmp_path / "clip.vtt"
    captions.write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n", encoding="utf-8")
    clip = video(tiny_mp4(tmp_path / "clip.mp4"), captions=captions)
    thumbnail = image(tiny_png(tmp_path / "thumb.png"))
    text = "Watch the council meeting highlights."
    delivery = world.plan([text], media=(clip, thumbnail))
    harness.server.inject(fault, times=10, match=path)
    assert world.run_until_settled(delivery) == "posted"
    assert harness.count_posts_with(text) == 1
    assert len(harness.server.calls("POST", r"^/upload/youtube/v3/videos$")) == 1     # one upload session
    row = world.row(delivery)
    assert row["remote_id"] in harness.server.videos
    warnings = [e["reason"] for e in world.events(delivery) if e["kind"] == "warning"]
    assert warnings and f"{step} failed" in warnings[0]
    assert any("posted with a warning" in title for title, _ in world.alerts)
