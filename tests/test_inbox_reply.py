"""Answering (#11): `inbox reply ID` writes a content file with in_reply_to:, which passes
the same gate as any post and is published as a native reply on the network."""
from __future__ import annotations

import json
from pathlib import Path
from datetime import datetime, timedelta, timezone

import frontmatter
import pytest
from click.testing import CliRunner

from bot import cli
from schedule.channels import make_channel
from schedule.content import read_item
from schedule.inbox import store
from schedule.ledger import Ledger
from schedule.model import Incoming
from schedule.plan import approval_missing
from tests.helpers import make_variant
from tests.servers import channel_tables, credentials_env, graph


def _message(project, channel="mastodon", remote_id="109500", language="en", flags=()):
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    incoming = Incoming(remote_id, "mention", "Pryd mae'r llyfrgell ar agor?", datetime.now(timezone.utc),
                        author="@dai@example.social")
    message_id = store.record(ledger, channel, channel, incoming, language=language, flags=list(flags))[0]
    ledger.close()
    return message_id


@pytest.fixture
def mastodon_project(project):
    project.write_config(channels='[channels.mastodon]\nnetwork = "mastodon"\ninstance = "https://m.example"\n'
                                  '[channels.log]\nnetwork = "log"\n', default_channels='["mastodon"]')
    return project


def test_reply_writes_a_content_file_that_validates(mastodon_project):
    project = mastodon_project
    message_id = _message(project, language="cy", flags=["welsh"])
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "inbox", "reply", str(message_id),
                                      "--text", "Mae'r llyfrgell ar agor o 9 tan 5.", "--json"])
    assert result.exit_code == 0, result.output
    path = json.loads(result.output)["path"]
    post = frontmatter.load(path)
    assert post["in_reply_to"] == "mastodon:109500" and post["channels"] == ["mastodon"]
    assert post["lang"] == "cy"                      # a Welsh message is answered in Welsh
    assert post.content == "Mae'r llyfrgell ar agor o 9 tan 5."
    assert path.startswith(str(project.content / "replies"))
    checked = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate", path])
    assert checked.exit_code == 0, checked.output
    item = read_item(Path(path), project.config())
    assert item.extra["in_reply_to"] == "mastodon:109500"


@pytest.mark.parametrize("front, message", [
    ("in_reply_to: mastodon:1\nchannels: [mastodon, log]", "set channels: [mastodon]"),
    ("in_reply_to: 12345\nchannels: [mastodon]", "must be \"CHANNEL:REMOTE_ID\""),
    ("in_reply_to: twitter:1\nchannels: [mastodon]", "names channel 'twitter'"),
    ("in_reply_to: log:1\nchannels: [log]", "cannot post replies on"),
])
def test_a_bad_in_reply_to_is_one_clear_line(mastodon_project, front, message):
    project = mastodon_project
    project.post("replies/bad.md", f"publish_at: 2030-01-01T09:00\n{front}", "Thanks for asking.")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate"])
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if "in_reply_to" in line)
    assert "replies/bad.md:3: error" in line and message in line, result.output


def test_reply_approval_holds_a_reply_until_it_is_signed_off(mastodon_project):
    project = mastodon_project
    project.write_config(channels='[channels.mastodon]\nnetwork = "mastodon"\ninstance = "https://m.example"\n',
                         default_channels='["mastodon"]', extra="[inbox]\nreply_approval = true\n")
    path = project.post("replies/r.md", "publish_at: 2030-01-01T09:00\nin_reply_to: mastodon:1\n"
                                        "channels: [mastodon]", "Thanks.")
    config = project.config()
    assert "approved_by" in approval_missing(read_item(path, config), config)
    post = project.post("post.md", "publish_at: 2030-01-01T09:00", "Not a reply.")
    assert approval_missing(read_item(post, config), config) is None   # ordinary posts are unchanged
    signed = project.post("replies/s.md", "publish_at: 2030-01-01T09:00\nin_reply_to: mastodon:1\n"
                                          "channels: [mastodon]\napproved_by: Priya", "Thanks.")
    assert approval_missing(read_item(signed, config), config) is None


def test_facebook_reply_is_a_comment_on_the_comment_and_found_after_a_crash(project, monkeypatch):
    server = graph.Server().start()
    try:
        for key, value in credentials_env("facebook").items():
            monkeypatch.setenv(key, value)
        project.write_config(channels=channel_tables({"facebook": server.url}), default_channels='["facebook"]')
        channel = make_channel(project.config().channels["facebook"])
        post = channel.publish(make_variant(channel, ["Road closed."]), key="p")
        question = server.resident_comment(post.remote_id, "For how long?")
        variant = make_variant(channel, ["Until Friday."])
        variant.extra["in_reply_to"] = f"facebook:{question['id']}"
        answer = channel.publish(variant, key="r")
        made = server.objects[answer.remote_id]
        assert (made["parent"], made["from"]["id"], made["message"]) == (question["id"], graph.PAGE_ID,
                                                                         "Until Friday.")
        assert not [o for o in server.objects.values() if o["kind"] == "post" and o["message"] == "Until Friday."]
        assert channel.find_existing(variant, 0, variant.parts[0]).remote_id == answer.remote_id
    finally:
        server.stop()


def test_a_reply_is_found_after_a_crash_not_sent_twice(project, monkeypatch):
    """Recovery asks the network before resending: a posted reply (which replies to the
    resident's status, not to nothing) is recognised as this delivery's."""
    from tests.servers import mastodon

    server = mastodon.Server().start()
    try:
        for key, value in credentials_env("mastodon").items():
            monkeypatch.setenv(key, value)
        project.write_config(channels=channel_tables({"mastodon": server.url}), default_channels='["mastodon"]')
        channel = make_channel(project.config().channels["mastodon"])
        question = server.resident_status("@council is the tip open?")
        variant = make_variant(channel, ["Yes, until 4pm."])
        variant.extra["in_reply_to"] = f"mastodon:{question['id']}"
        sent = channel.publish(variant, key="reply-key")
        assert server.statuses[sent.remote_id]["in_reply_to_id"] == question["id"]
        since = datetime.now(timezone.utc) - timedelta(minutes=5)
        assert channel.find_existing(variant, 0, variant.parts[0], since=since).remote_id == sent.remote_id
    finally:
        server.stop()


def test_a_reply_committed_hours_after_it_was_written_still_goes_out(mastodon_project):
    # A reply is written now and committed (perhaps signed off) later: it must not be
    # "missed" because its writing time passed, nor warned about as if it were stale.
    from schedule.plan import reconcile, wanted

    project = mastodon_project
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "inbox", "reply",
                                      str(_message(project)), "--text", "Thanks, it opens at 9.", "--json"])
    path = Path(json.loads(result.output)["path"])
    checked = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate", "--json", str(path)])
    assert json.loads(checked.stdout) == [], checked.stdout
    config = project.config()
    item = read_item(path, config)
    later = datetime.now(timezone.utc) + timedelta(hours=3)
    ((_, state, _reason),) = reconcile(wanted([item], config, later), [], config, later).add
    assert state == "scheduled"
