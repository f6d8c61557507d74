"""X specifics against the test server: media through the v2 upload endpoints."""
from __future__ import annotations

import pytest

from schedule.errors import Rejected
from tests.helpers import image, make_variant, tiny_mp4, tiny_png, video


@pytest.fixture
def xh(open_harness):
    return open_harness("x")


def test_video_goes_up_in_chunks_and_waits_for_processing(xh, tmp_path):
    xh.channel.config.settings["media_chunk_bytes"] = 32          # the 88-byte test video in three segments
    clip = tiny_mp4(tmp_path / "meeting.mp4")
    receipt = xh.channel.publish(make_variant(xh.channel, ["Full council highlights."], media=(video(clip),)), key="k")
    (media_id,) = xh.server.tweets[receipt.remote_id]["media_ids"]
    stored = xh.server.media[media_id]
    assert stored["category"] == "tweet_video" and stored["type"] == "video/mp4"
    assert sorted(stored["segments"]) == [0, 1, 2] and stored["bytes"] == clip.read_bytes()
    assert len(xh.server.calls("GET", r"^/2/media/upload$")) == 2              # in_progress, then succeeded
    appends = xh.server.calls("POST", r"/append$")
    assert all(r.header("Authorization", "").startswith("OAuth ") for r in appends)   # signed (OAuth 1.0a)


def test_image_alt_text_goes_to_the_v2_metadata_endpoint(xh, tmp_path):
    picture = image(tiny_png(tmp_path / "pool.png"), alt="The new pool")
    receipt = xh.channel.publish(make_variant(xh.channel, ["The pool opens."], media=(picture,)), key="k")
    (media_id,) = xh.server.tweets[receipt.remote_id]["media_ids"]
    assert xh.server.media[media_id]["category"] == "tweet_image"
    assert xh.server.alt_text[media_id] == "The new pool"
    assert xh.server.calls("POST", r"^/1\.1/") == []                            # nothing on the retired v1.1 API


def test_media_that_x_cannot_process_is_rejected(xh, tmp_path):
    xh.server.processing_error = "Unsupported video"
    clip = tiny_mp4(tmp_path / "meeting.mp4")
    with pytest.raises(Rejected, match="Unsupported video"):
        xh.channel.publish(make_variant(xh.channel, ["Highlights."], media=(video(clip),)), key="k")
    assert xh.server.tweets == {}


def test_a_timeout_lowered_after_the_client_was_made_applies(xh):
    """The daemon lowers a channel's timeout under a cluster's lease (schedule/daemon.py,
    docs/admin.md), possibly after its client exists: the next post must wait no longer."""
    from schedule.errors import Ambiguous

    xh.channel.client()                                  # made with the default timeout (30 s)
    xh.channel.timeout = 0.5
    xh.slow_next_post(3.0)
    with pytest.raises(Ambiguous):
        xh.channel.publish(make_variant(xh.channel, ["Road closure on the High Street."]), key="k-timeout")
