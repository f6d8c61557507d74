"""Direct messages (#11): read where the network allows it and `direct = true` for the
channel (off by default), kind "direct", and answered privately, never as a public post.
Wire formats: X's from tweepy's cassette test_manage_and_lookup_direct_messages.yaml (GET
/2/dm_events, POST /2/dm_conversations/:id/messages -> {"data": {"dm_conversation_id",
"dm_event_id"}}); Mastodon's from docs.joinmastodon.org (a status with visibility "direct"
is "visible only to mentioned users", and reaches them as a "mention" notification)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from schedule.channels import make_channel
from schedule.inbox import store
from schedule.inbox.fetch import Poller
from schedule.ledger import Ledger
from tests.helpers import make_variant
from tests.servers import channel_tables, credentials_env, mastodon, x


def _setup(project, monkeypatch, network, server, direct=True):
    for key, value in credentials_env(network).items():
        monkeypatch.setenv(key, value)
    inbox = f"[inbox.channels.{network}]\ndirect = true\n" if direct else ""
    project.write_config(channels=channel_tables({network: server.url}), default_channels=f'["{network}"]',
                         extra=inbox)
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    return Poller(config, ledger), ledger, make_channel(config.channels[network])


def _reply(channel, remote_id, text):
    variant = make_variant(channel, [text])
    variant.extra["in_reply_to"] = f"{channel.name}:{remote_id}"
    return variant


# ----- X -------------------------------------------------------------------------------------
@pytest.fixture
def x_server():
    server = x.Server().start()
    yield server
    server.stop()


def test_x_direct_messages_are_off_by_default(project, monkeypatch, x_server):
    poller, ledger, _ = _setup(project, monkeypatch, "x", x_server, direct=False)
    x_server.resident_dm("My council tax account number is 12345678, can you check it?")
    [result] = poller.run()
    assert result["new"] == 0 and not x_server.calls("GET", r"/dm_events$")


def test_x_direct_messages_are_read_incrementally_and_answered_privately(project, monkeypatch, x_server):
    poller, ledger, channel = _setup(project, monkeypatch, "x", x_server)
    question = x_server.resident_dm("My council tax account number is 12345678, can you check it?")
    [result] = poller.run()
    assert result["new"] == 1 and result["errors"] == []
    remote_id = f"dm:{question['dm_conversation_id']}:{question['id']}"
    row = store.by_remote(ledger, "x", remote_id)
    assert (row["kind"], row["author"], row["state"]) == ("direct", "@resident", "new")
    assert store.get_cursor(ledger, "x", "direct") == question["id"]
    # The reply goes into that conversation as a direct message: no tweet is made.
    sent = channel.publish(_reply(channel, remote_id, "Thanks, we have passed this to the council tax team."),
                           key="r")
    assert x_server.tweets == {} and not x_server.calls("POST", r"^/2/tweets$")
    [dm] = x_server.calls("POST", r"/2/dm_conversations/.*/messages$")
    assert dm.path == f"/2/dm_conversations/{question['dm_conversation_id']}/messages"
    assert dm.json() == {"text": "Thanks, we have passed this to the council tax team."}
    assert sent.remote_id.startswith(f"dm:{question['dm_conversation_id']}:")
    # After a crash the reply is found in the conversation, not sent twice.
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    variant = _reply(channel, remote_id, "Thanks, we have passed this to the council tax team.")
    assert channel.find_existing(variant, 0, variant.parts[0], since=since).remote_id == sent.remote_id
    # The next poll reads only what is newer, and the council's message answers the resident.
    store.set_cursor(ledger, "x", "polled_at", None)
    x_server.clear()
    [result] = poller.run()
    assert result["answered"] == 1
    assert store.by_remote(ledger, "x", remote_id)["state"] == "answered"
    assert len(x_server.calls("GET", r"^/2/dm_events$")) == 1


def test_x_without_the_dm_permission_is_reported_once(project, monkeypatch, x_server):
    poller, ledger, channel = _setup(project, monkeypatch, "x", x_server)
    x_server.dm_allowed = False
    for _ in range(2):
        store.set_cursor(ledger, "x", "polled_at", None)
        [result] = poller.run()
        assert any("direct" in e and "403" in e for e in result["errors"]), result
    assert len([e for e in store.events(ledger, kind="no-access") if '"direct"' in (e["detail"] or "")]) == 1
    assert "Direct Messages permission" in channel.direct_access()


# ----- Mastodon --------------------------------------------------------------------------------
@pytest.fixture
def mastodon_server():
    server = mastodon.Server().start()
    yield server
    server.stop()


def test_mastodon_direct_messages_are_kept_apart_from_mentions(project, monkeypatch, mastodon_server):
    poller, ledger, _ = _setup(project, monkeypatch, "mastodon", mastodon_server)
    private = mastodon.resident_direct(mastodon_server, "@council my neighbour is being abused, please help")
    public = mastodon_server.resident_status("@council the bins were not collected")
    [result] = poller.run()
    assert result["new"] == 2 and result["errors"] == []
    assert store.by_remote(ledger, "mastodon", private["id"])["kind"] == "direct"
    assert store.by_remote(ledger, "mastodon", public["id"])["kind"] == "mention"
    assert store.get_cursor(ledger, "mastodon", "direct") and store.get_cursor(ledger, "mastodon", "mentions")


def test_mastodon_direct_messages_are_not_stored_when_direct_is_off(project, monkeypatch, mastodon_server):
    poller, ledger, _ = _setup(project, monkeypatch, "mastodon", mastodon_server, direct=False)
    private = mastodon.resident_direct(mastodon_server, "@council my address is 1 Hope St")
    mastodon_server.resident_status("@council the bins were not collected")
    [result] = poller.run()
    assert result["new"] == 1 and store.by_remote(ledger, "mastodon", private["id"]) is None


def test_a_reply_to_a_mastodon_direct_message_is_direct_and_mentions_only_that_person(
        project, monkeypatch, mastodon_server):
    poller, ledger, channel = _setup(project, monkeypatch, "mastodon", mastodon_server)
    private = mastodon.resident_direct(mastodon_server, "@council my address is 1 Hope St, the bin was missed")
    poller.run()
    sent = channel.publish(_reply(channel, private["id"], "Sorry, the crew will come back tomorrow."), key="r")
    made = mastodon_server.statuses[sent.remote_id]
    assert made["visibility"] == "direct"                      # never public, never unlisted
    assert made["in_reply_to_id"] == private["id"]
    form = mastodon_server.calls("POST", r"^/api/v1/statuses$")[-1].form()
    assert form["status"] == "@resident@example.social Sorry, the crew will come back tomorrow."
    # Past Mastodon's one-hour Idempotency-Key, recovery reads the account back: the direct
    # reply is recognised although it starts with the mention civicpost added.
    variant = _reply(channel, private["id"], "Sorry, the crew will come back tomorrow.")
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert channel.find_existing(variant, 0, variant.parts[0], since=since).remote_id == sent.remote_id
    # The council's direct reply, read back under the message, answers it.
    store.set_cursor(ledger, "mastodon", "polled_at", None)
    [result] = poller.run()
    assert result["answered"] == 1
    assert store.by_remote(ledger, "mastodon", private["id"])["state"] == "answered"


def test_a_private_reply_that_mentions_someone_else_is_refused_not_sent(project, monkeypatch, mastodon_server):
    from schedule.errors import Rejected

    _, _, channel = _setup(project, monkeypatch, "mastodon", mastodon_server)
    private = mastodon.resident_direct(mastodon_server, "@council my neighbour at no. 3 is being abused")
    with pytest.raises(Rejected, match="@neighbour@example.social"):
        channel.publish(_reply(channel, private["id"], "@resident we will contact @neighbour@example.social"),
                        key="r")
    assert not mastodon_server.calls("POST", r"^/api/v1/statuses$")


def test_a_reply_to_a_public_mention_stays_public(project, monkeypatch, mastodon_server):
    _, _, channel = _setup(project, monkeypatch, "mastodon", mastodon_server)
    public = mastodon_server.resident_status("@council is the tip open?")
    sent = channel.publish(_reply(channel, public["id"], "Yes, until 4pm."), key="r")
    assert mastodon_server.statuses[sent.remote_id]["visibility"] == "public"
    assert mastodon_server.calls("POST", r"^/api/v1/statuses$")[-1].form()["status"] == "Yes, until 4pm."


# ----- Facebook Page and Instagram (the Page's conversations) ----------------------------------
@pytest.fixture
def graph_server():
    from tests.servers import graph

    server = graph.Server().start()
    yield server
    server.stop()


@pytest.mark.parametrize("network, platform", [("facebook", "messenger"), ("instagram", "instagram")])
def test_meta_direct_messages_are_read_and_answered_with_the_send_api(project, monkeypatch, graph_server,
                                                                      network, platform):
    from tests.servers import graph

    for key, value in credentials_env(network).items():
        monkeypatch.setenv(key, value)
    project.write_config(channels=channel_tables({network: graph_server.url}, instagram={"page_id": graph.PAGE_ID}),
                         default_channels=f'["{network}"]', extra=f"[inbox.channels.{network}]\ndirect = true\n")
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    poller, channel = Poller(config, ledger), make_channel(config.channels[network])
    question = graph_server.resident_message("Can I get a replacement blue bin?", name="Ann", platform=platform)
    graph_server.resident_message("Wrong network", name="Bob", platform="instagram" if platform == "messenger"
                                  else "messenger")
    [result] = poller.run()
    assert result["new"] == 1, result
    call = graph_server.calls("GET", r"/conversations$")[-1]
    assert call.query["platform"] == [platform]
    person = str(7000000 + len("Ann"))
    remote_id = f"dm:{person}:{question['id']}"
    row = store.by_remote(ledger, network, remote_id)
    assert (row["kind"], row["author"], row["text"]) == ("direct", "Ann", "Can I get a replacement blue bin?")
    sent = channel.publish(_reply(channel, remote_id, "Yes: order one at example.gov.uk/bins"), key="r")
    [send] = graph_server.calls("POST", r"/messages$")
    form = send.form()
    assert json.loads(form["recipient"]) == {"id": person} and form["messaging_type"] == "RESPONSE"
    assert json.loads(form["message"]) == {"text": "Yes: order one at example.gov.uk/bins"}
    assert not graph_server.calls("POST", r"/comments$") and not graph_server.calls("POST", r"/feed$")
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    variant = _reply(channel, remote_id, "Yes: order one at example.gov.uk/bins")
    assert channel.find_existing(variant, 0, variant.parts[0], since=since).remote_id == sent.remote_id
    store.set_cursor(ledger, network, "polled_at", None)
    [result] = poller.run()
    assert result["answered"] == 1
    assert store.by_remote(ledger, network, remote_id)["state"] == "answered"


def test_channels_check_says_whether_the_token_can_read_direct_messages(project, monkeypatch, graph_server,
                                                                        mastodon_server):
    """Meta: the token's own scopes (debug_token) against pages_messaging; the double's
    token has pages_manage_posts and pages_read_engagement only.  Mastodon: the same
    notifications read as mentions."""
    from click.testing import CliRunner

    from bot import cli
    from tests.servers import graph

    for key, value in {**credentials_env("facebook"), **credentials_env("mastodon")}.items():
        monkeypatch.setenv(key, value)
    project.write_config(channels=channel_tables({"facebook": graph_server.url, "mastodon": mastodon_server.url}),
                         default_channels='["facebook"]')
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "channels", "check", "--json"])
    assert result.exit_code == 0, result.output
    direct = {r["channel"]: r["inbox_direct"] for r in json.loads(result.output)}
    assert direct == {"facebook": "missing permission pages_messaging (App Review)", "mastodon": "ok"}
    text = CliRunner().invoke(cli, ["--config", str(project.config_path), "channels", "check"]).output
    assert "direct messages: missing permission pages_messaging" in text


def test_inbox_reply_to_an_x_direct_message_writes_a_file_that_validates(project, monkeypatch, x_server):
    """`inbox reply ID` for a direct message: in_reply_to names the DM, validate accepts it
    (X can answer privately), and the publisher sends it as a DM (tested above)."""
    import frontmatter
    from click.testing import CliRunner

    from bot import cli

    poller, ledger, _ = _setup(project, monkeypatch, "x", x_server)
    question = x_server.resident_dm("When is the next green bin collection?")
    poller.run()
    row = store.by_remote(ledger, "x", f"dm:{question['dm_conversation_id']}:{question['id']}")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "inbox", "reply", str(row["id"]),
                                      "--text", "Next Tuesday.", "--json"])
    assert result.exit_code == 0, result.output
    path = json.loads(result.output)["path"]
    assert frontmatter.load(path)["in_reply_to"] == f"x:{row['remote_id']}"
    checked = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate", path])
    assert checked.exit_code == 0, checked.output


def test_the_daemons_publisher_sends_a_reply_to_an_x_dm_as_a_dm(project, monkeypatch):
    """End to end: the reply content file (in_reply_to: the DM) through the publisher, as
    the daemon runs it: posted and recorded, as a direct message, with no tweet at all."""
    from tests.test_delivery import NOW, World

    servers = {"mastodon": mastodon.Server().start(), "x": x.Server().start()}
    try:
        world = World(project, monkeypatch, servers)
        question = servers["x"].resident_dm("Can I pay my parking fine in instalments?")
        target = f"dm:{question['dm_conversation_id']}:{question['id']}"
        project.post("replies/fine.md", f"publish_at: {NOW.isoformat()}\nchannels: [x]\nin_reply_to: 'x:{target}'",
                     "Yes: call 01234 567890 and ask for a payment plan.")
        item = world.item("replies/fine")
        delivery = world.ledger.add(item.id, "x", "x", NOW, item_digest=item.digest, source=item.rel)
        assert world.publisher.run(delivery) == "posted"
        assert servers["x"].tweets == {}
        [sent] = [e for e in servers["x"].dm_events if e["sender_id"] == x.USER["id"]]
        assert sent["dm_conversation_id"] == question["dm_conversation_id"]
        assert world.state(delivery)["remote_id"] == f"dm:{question['dm_conversation_id']}:{sent['id']}"
    finally:
        for server in servers.values():
            server.stop()
