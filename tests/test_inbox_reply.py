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


def test_an_x_reply_is_found_after_a_crash_not_sent_twice(project, monkeypatch):
    """The same read-back on X: the reply is create_tweet(in_reply_to_tweet_id=the resident's
    tweet), so in GET /2/users/:id/tweets its referenced_tweets (X API v2 reference: type
    "replied_to") name the resident's tweet, and that is what makes it this delivery's.
    A second, identical answer to another resident's question is not ours."""
    from tests.servers import x

    server = x.Server().start()
    try:
        for key, value in credentials_env("x").items():
            monkeypatch.setenv(key, value)
        project.write_config(channels=channel_tables({"x": server.url}), default_channels='["x"]')
        channel = make_channel(project.config().channels["x"])
        question = server.resident_tweet("@BlackburnCouncil is the tip open?")
        other = server.resident_tweet("@BlackburnCouncil tip open today?", username="neighbour")
        variant = make_variant(channel, ["Yes, until 4pm."])
        variant.extra["in_reply_to"] = f"x:{question['id']}"
        since = datetime.now(timezone.utc) - timedelta(minutes=5)
        # Before anything is sent the network certainly has no such reply: None, so it is sent.
        assert channel.find_existing(variant, 0, variant.parts[0], since=since) is None
        sent = channel.publish(variant, key="reply-key")
        assert server.tweets[sent.remote_id]["in_reply_to_tweet_id"] == question["id"]
        found = channel.find_existing(variant, 0, variant.parts[0], since=since)
        assert found is not None and found.remote_id == sent.remote_id
        # The same words answering the other resident are not this delivery's reply.
        elsewhere = make_variant(channel, ["Yes, until 4pm."])
        elsewhere.extra["in_reply_to"] = f"x:{other['id']}"
        assert channel.find_existing(elsewhere, 0, elsewhere.parts[0], since=since) is None
    finally:
        server.stop()


def test_an_x_reply_whose_answer_was_lost_is_found_by_the_publisher_not_resent(project, monkeypatch):
    """End to end through the publisher: X made the reply but the answer never came back
    (the connection dropped).  The next attempt reads the account back and records that
    tweet; X's duplicate refusal is turned off so a resend would show as a second tweet."""
    from tests.test_delivery import NOW, World, settle
    from tests.servers import mastodon, x

    servers = {"mastodon": mastodon.Server().start(), "x": x.Server().start()}
    try:
        world = World(project, monkeypatch, servers)
        servers["x"].reject_duplicates = False
        question = servers["x"].resident_tweet("@BlackburnCouncil is the tip open?")
        project.post("replies/tip.md", f"publish_at: {NOW.isoformat()}\nchannels: [x]\n"
                                       f"in_reply_to: 'x:{question['id']}'", "Yes, until 4pm.")
        item = world.item("replies/tip")
        delivery = world.ledger.add(item.id, "x", "x", NOW, item_digest=item.digest, source=item.rel)
        servers["x"].inject("created_then_drop", match=r"^POST /2/tweets$")
        assert settle(world, delivery)[-1] == "posted"
        made = list(servers["x"].tweets.values())
        assert len(made) == 1 and made[0]["in_reply_to_tweet_id"] == question["id"]
        assert world.state(delivery)["remote_id"] == made[0]["id"]
    finally:
        for server in servers.values():
            server.stop()


# Welsh Language Standards (No. 1) Regulations 2015, standard 1: "If you receive
# correspondence from a person in Welsh you must reply in Welsh (if an answer is required),
# unless the person has indicated that there is no need to reply in Welsh."
ENGLISH = "Thanks, the library is open from 9 until 5 every weekday."
WELSH = "Diolch, mae'r llyfrgell ar agor o naw tan bump bob dydd o'r wythnos."


def _reply_problems(project, body, front=""):
    from schedule.gate import decide
    from schedule.render import Renderer

    path = project.post("replies/r.md", f"publish_at: 2030-01-01T09:00\nin_reply_to: 'mastodon:109500'\n"
                                        f"channels: [mastodon]\n{front}", body)
    config = project.config()
    verdict = decide(read_item(path, config), config, Renderer(config), datetime.now(timezone.utc))
    return [p for p in verdict.problems if p.code == "welsh-reply"]


@pytest.mark.parametrize("language, body, front, expected", [
    ("cy", ENGLISH, "", "error"),                         # Welsh asked, English answer: not sent
    ("cy", WELSH, "", None),
    ("cy", f"{WELSH}\n\n{ENGLISH}", "", None),            # bilingual is fine
    ("cy", ENGLISH, "lang: en\n", "warning"),             # the person said Welsh is not needed
    ("en", ENGLISH, "", None),
    (None, ENGLISH, "lang: cy\n", "error"),               # `inbox reply` wrote lang: cy (no ledger row needed)
    ("cy", "Diolch 👍", "", None),                        # too short to tell: never guessed
])
def test_a_reply_to_a_welsh_message_must_have_welsh_in_it(mastodon_project, language, body, front, expected):
    if language:
        _message(mastodon_project, language=language, flags=["welsh"] if language == "cy" else [])
    problems = _reply_problems(mastodon_project, body, front)
    assert [p.level for p in problems] == ([expected] if expected else [])


def test_validate_and_the_publisher_refuse_an_english_reply_to_welsh(mastodon_project):
    """The gate is the one check: validate reports it, and the publisher's gate blocks it."""
    project = mastodon_project
    _message(project, language="cy", flags=["welsh"])
    path = project.post("replies/r.md", "publish_at: 2030-01-01T09:00\nin_reply_to: 'mastodon:109500'\n"
                                        "channels: [mastodon]", ENGLISH)
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate", str(path)])
    assert result.exit_code == 1
    line = next(row for row in result.output.splitlines() if "Welsh Language Standards" in row)
    assert "replies/r.md:6: error" in line and "in Welsh and English" in line, result.output


def test_the_publisher_does_not_send_an_english_reply_to_welsh(project, monkeypatch):
    from tests.test_delivery import NOW, World
    from tests.servers import mastodon, x

    servers = {"mastodon": mastodon.Server().start(), "x": x.Server().start()}
    try:
        world = World(project, monkeypatch, servers)
        question = servers["mastodon"].resident_status("@council Pryd mae'r llyfrgell ar agor?")
        store.record(world.ledger, "mastodon", "mastodon", Incoming(question["id"], "mention", question["content"],
                     datetime.now(timezone.utc)), language="cy", flags=["welsh"])
        project.post("replies/r.md", f"publish_at: {NOW.isoformat()}\nchannels: [mastodon]\n"
                                     f"in_reply_to: 'mastodon:{question['id']}'", ENGLISH)
        item = world.item("replies/r")
        delivery = world.ledger.add(item.id, "mastodon", "mastodon", NOW, item_digest=item.digest, source=item.rel)
        assert world.publisher.run(delivery) != "posted"
        assert "Welsh Language Standards" in (world.state(delivery)["error"] or "")
        assert not servers["mastodon"].calls("POST", r"^/api/v1/statuses$")
    finally:
        for server in servers.values():
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


def test_two_drafts_in_the_same_second_are_two_items_that_validate(mastodon_project):
    # content.py refuses two files with one id (duplicate-id); a second draft of the same
    # message (the page and the shell at once) must not make both files fail.
    from schedule.inbox.replies import reply_file

    project = mastodon_project
    message_id = _message(project)
    config = project.config()
    paths = [reply_file(config, message_id, text) for text in ("Thanks, it opens at 9.", "Thanks, it opens at 9am.")]
    assert len(set(paths)) == 2
    assert len({frontmatter.load(p)["id"] for p in paths}) == 2
    checked = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate", *map(str, paths)])
    assert checked.exit_code == 0, checked.output
