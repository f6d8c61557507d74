"""LinkedIn specifics against the test server: a video through the Videos API in parts."""
from __future__ import annotations

import pytest

from schedule.errors import Rejected
from tests.helpers import make_variant, tiny_mp4, video


@pytest.fixture
def linkedin(open_harness):
    return open_harness("linkedin")


def test_video_is_uploaded_in_parts_finalised_and_waited_for(linkedin, tmp_path):
    server = linkedin.server
    server.video_part_bytes = 40                    # the 88-byte test video in three parts
    server.video_polls_before_available = 2
    clip = tiny_mp4(tmp_path / "meeting.mp4")
    variant = make_variant(linkedin.channel, ["Highlights of full council."], media=(video(clip),),
                           title="Full council highlights")
    assert linkedin.channel.validate(variant) == []
    receipt = linkedin.channel.publish(variant, key="k-video")
    (urn,) = server.videos
    stored = server.videos[urn]
    parts = stored["parts"]
    assert len(parts) == 3 and b"".join(parts[n][0] for n in sorted(parts)) == clip.read_bytes()
    assert stored["status"] == "AVAILABLE" and stored["polls"] == 3
    assert linkedin.post(receipt)["content"] == {"media": {"id": urn, "title": "Full council highlights"}}
    assert len(server.calls("GET", r"^/rest/videos/")) == 3     # polled until AVAILABLE, then posted


def test_video_that_fails_processing_is_rejected_and_not_posted(linkedin, tmp_path):
    server = linkedin.server
    server.video_processing_fails = True
    clip = tiny_mp4(tmp_path / "meeting.mp4")
    with pytest.raises(Rejected, match="could not process the video"):
        linkedin.channel.publish(make_variant(linkedin.channel, ["Highlights."], media=(video(clip),)), key="k")
    assert server.posts == {}


def test_webvtt_captions_go_up_as_srt(linkedin, tmp_path):
    clip = tiny_mp4(tmp_path / "meeting.mp4")
    vtt = tmp_path / "meeting.vtt"
    vtt.write_text("WEBVTT\n\n00:00.000 --> 00:02.500\nWelcome to full council.\n")
    linkedin.channel.publish(make_variant(linkedin.channel, ["Highlights."], media=(video(clip, captions=vtt),)),
                             key="k")
    (stored,) = linkedin.server.videos.values()
    assert stored["captions"].decode() == "1\n00:00:00,000 --> 00:00:02,500\nWelcome to full council.\n"


def test_no_captions_no_captions_upload(linkedin, tmp_path):
    clip = tiny_mp4(tmp_path / "meeting.mp4")
    linkedin.channel.publish(make_variant(linkedin.channel, ["Highlights."], media=(video(clip),)), key="k")
    (stored,) = linkedin.server.videos.values()
    assert stored["captions"] is None and linkedin.server.calls("PUT", r"^/captions-upload/") == []
