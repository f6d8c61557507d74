"""YouTube: the token carries the scopes the channel's owner granted (issue 10 §7).

Google's token endpoint narrows a refreshed access token to the scopes the refresh request
names (OAuth 2.0 for web server apps, "Refreshing an access token": `scope` optional, a
subset of the original grant).  civicpost named only youtube.upload, so captions.insert
(which needs youtube, youtube.force-ssl or youtubepartner: Captions: insert, "Authorization")
was refused with 403 insufficientPermissions.  `channels check` reads the token's scopes
from Google's tokeninfo endpoint and says which rights are missing.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot import cli
from schedule.channels.youtube import YouTubeChannel
from schedule.config import ChannelConfig
from schedule.errors import Rejected
from tests.helpers import make_variant, tiny_mp4, video
from tests.servers import channel_tables, credentials_env, youtube
from tests.servers.youtube import FORCE_SSL, UPLOAD


@pytest.fixture
def server():
    server = youtube.Server().start()
    yield server
    server.stop()


@pytest.fixture
def channel(server, monkeypatch):
    for key, value in credentials_env("youtube").items():
        monkeypatch.setenv(key, value)
    return YouTubeChannel(ChannelConfig(name="youtube", network="youtube", api_base=server.url,
                                        settings={"chunk_bytes": 262144}))


def test_captions_upload_with_the_granted_force_ssl_scope(server, channel, tmp_path):
    captions = tmp_path / "clip.vtt"
    captions.write_text("WEBVTT\n\n00:00.000 --> 00:02.000\nWelcome to the council meeting.\n", encoding="utf-8")
    clip = video(tiny_mp4(tmp_path / "clip.mp4"), captions=captions)
    receipt = channel.publish(make_variant(channel, ["Highlights of the meeting."], (clip,)), "k")
    assert server.captions[receipt.remote_id]["language"] == "en"
    token_requests = [r.form() for r in server.calls("POST") if r.path == "/token"]
    assert token_requests and all("scope" not in form for form in token_requests)


def test_the_server_refuses_captions_to_an_upload_only_token(server, channel, tmp_path):
    """Guard for the double: a token holding youtube.upload only cannot insert captions (the
    video stays recorded; the receipt says which step failed and points at channels check)."""
    server.granted = {UPLOAD}
    captions = tmp_path / "clip.vtt"
    captions.write_text("WEBVTT\n\n00:00.000 --> 00:02.000\nHello.\n", encoding="utf-8")
    clip = video(tiny_mp4(tmp_path / "clip.mp4"), captions=captions)
    receipt = channel.publish(make_variant(channel, ["Highlights."], (clip,)), "k")
    assert receipt.remote_id in server.videos and receipt.remote_id not in server.captions
    (warning,) = receipt.extra["warnings"]
    assert "captions upload failed" in warning and "insufficient" in warning and "channels check" in warning


def _check(project, server, monkeypatch) -> tuple[int, dict, str]:
    project.write_config(channels=channel_tables({"youtube": server.url}), default_channels='["youtube"]')
    for key, value in credentials_env("youtube").items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(project.config_path), "channels", "check", "--json"])
    human = runner.invoke(cli, ["--config", str(project.config_path), "channels", "check"])
    (found,) = json.loads(result.stdout)
    return result.exit_code, found, human.output


def test_channels_check_says_when_captions_and_unscheduling_rights_are_missing(project, server, monkeypatch):
    server.granted = {UPLOAD}
    code, found, human = _check(project, server, monkeypatch)
    assert code == 0 and found["ok"]
    assert "upload captions" in found["missing_rights"]
    assert any(right.startswith("un-schedule") for right in found["missing_rights"])
    assert "upload videos" not in found["missing_rights"] and "set thumbnails" not in found["missing_rights"]
    assert "youtube.force-ssl" in found["warning"] and "WARNING" in human and "upload captions" in human


def test_channels_check_is_quiet_when_the_scopes_are_granted(project, server, monkeypatch):
    server.granted = {UPLOAD, FORCE_SSL}
    code, found, human = _check(project, server, monkeypatch)
    assert code == 0 and found["ok"] and found["missing_rights"] == [] and found["warning"] is None
    assert found["account"] == "Blackburn Council"
    assert youtube.CLIENT["refresh_token"] not in human


# ----- the channel's un-schedule / re-schedule calls, against the test server -------------
def _uploaded(server, channel, tmp_path, minutes: int = 60):
    from datetime import datetime, timedelta, timezone

    clip = video(tiny_mp4(tmp_path / "clip.mp4"))
    variant = make_variant(channel, ["Highlights of the meeting."], (clip,), title="Council meeting")
    variant.extra["planned_at"] = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    return variant, channel.publish(variant, "k")


def test_reschedule_after_the_planned_time_makes_the_same_video_public(server, channel, tmp_path):
    from datetime import datetime, timedelta, timezone

    from schedule.model import Receipt

    variant, receipt = _uploaded(server, channel, tmp_path)
    channel.unschedule(receipt.remote_id)
    assert "publishAt" not in server.videos[receipt.remote_id]["status"]
    variant.extra["planned_at"] = datetime.now(timezone.utc) - timedelta(minutes=5)   # released late
    again = channel.publish(variant, "k", done=[Receipt(receipt.remote_id, receipt.url, {})])
    assert again.remote_id == receipt.remote_id and len(server.videos) == 1
    assert server.videos[receipt.remote_id]["status"]["privacyStatus"] == "public"


def test_a_video_already_public_cannot_be_unscheduled(server, channel, tmp_path):
    variant, receipt = _uploaded(server, channel, tmp_path, minutes=30)
    server.advance_clock(31 * 60)                        # YouTube published it
    with pytest.raises(Rejected, match="already public: too late"):
        channel.unschedule(receipt.remote_id)


def test_unscheduling_needs_more_than_the_upload_scope(server, channel, tmp_path):
    server.granted = {UPLOAD}
    variant, receipt = _uploaded(server, channel, tmp_path)
    with pytest.raises(Rejected, match="channels check"):
        channel.unschedule(receipt.remote_id)
