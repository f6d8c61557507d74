"""The inbox on Bluesky (#11): the real PDS, a second account that replies and mentions,
and app.bsky.* reads proxied by the PDS to the project's test AppView
(tests/servers/appview.py), which indexes that same PDS."""
from __future__ import annotations

import pytest

from schedule.channels.bluesky import BlueskyChannel
from schedule.config import ChannelConfig
from schedule.inbox import store
from schedule.inbox.fetch import Poller
from schedule.ledger import Ledger
from schedule.timeutil import to_utc_key, utcnow
from tests.helpers import make_variant
from tests.servers import appview, pds

pytestmark = [pytest.mark.pds, pytest.mark.slow]


@pytest.fixture(scope="module")
def network():
    reason = pds.unavailable()
    if reason:
        if __import__("os").environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    view = appview.Server().start()
    server = pds.PDS(extra_env=view.pds_env())
    view.pds_url = server.url
    server.account("council-inbox.test", "council-pass")
    server.account("resident-inbox.test", "resident-pass")
    yield server, view
    server.stop()
    view.stop()


def _channel(monkeypatch, server, name, handle, password):
    monkeypatch.setenv(f"CIVICPOST_{name.upper()}_APP_PASSWORD", password)
    return BlueskyChannel(ChannelConfig(name=name, network="bluesky", api_base=server.url,
                                        settings={"handle": handle}))


def test_replies_mentions_and_the_councils_own_reply(project, monkeypatch, network):
    from atproto import models

    server, view = network
    project.write_config(channels=f'[channels.bluesky]\nnetwork = "bluesky"\nhandle = "council-inbox.test"\n'
                                  f'api_base = "{server.url}"\n', default_channels='["bluesky"]')
    council = _channel(monkeypatch, server, "bluesky", "council-inbox.test", "council-pass")
    resident = _channel(monkeypatch, server, "resident", "resident-inbox.test", "resident-pass")
    posted = council.publish(make_variant(council, ["Library hours change from 1 December."]), key="lib")
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    ledger.add("library", "bluesky", "bluesky", utcnow(), state="posted", remote_id=posted.remote_id,
               url=posted.url, posted_at=to_utc_key(utcnow()), text="Library hours change from 1 December.")

    ref = models.ComAtprotoRepoStrongRef.Main(uri=posted.extra["uri"], cid=posted.extra["cid"])
    reply = resident.client().send_post("Will it still open on Saturdays?", profile_identify=resident._did(),
                                        reply_to=models.AppBskyFeedPost.ReplyRef(parent=ref, root=ref))
    mention = resident.publish(make_variant(resident, ["@council-inbox.test the lift at the library is broken"]),
                               key="m")
    poller = Poller(config, ledger)
    [result] = poller.run()
    assert result["errors"] == [] and result["new"] == 2, result
    row = store.by_remote(ledger, "bluesky", reply.uri)
    assert (row["kind"], row["item"], row["author"], row["text"]) == \
        ("reply", "library", "@resident-inbox.test", "Will it still open on Saturdays?")
    assert store.by_remote(ledger, "bluesky", mention.remote_id)["kind"] == "mention"
    assert view.calls("GET", r"listNotifications$")               # read through the PDS's proxy
    assert store.get_cursor(ledger, "bluesky", "mentions")

    # The council replies as `inbox reply` does (in_reply_to: on the variant), on the real
    # PDS: the record's reply refs are the resident's post (parent) and the thread's root.
    variant = make_variant(council, ["Yes, 9am to 1pm."])
    variant.extra["in_reply_to"] = f"bluesky:{reply.uri}"
    answer = council.publish(variant, key="answer")
    record = council.client().com.atproto.repo.get_record(
        {"repo": council._did(), "collection": "app.bsky.feed.post", "rkey": answer.remote_id.rsplit("/", 1)[1]})
    assert (record.value.reply.parent.uri, record.value.reply.parent.cid) == (reply.uri, reply.cid)
    assert (record.value.reply.root.uri, record.value.reply.root.cid) == (ref.uri, ref.cid)
    store.set_cursor(ledger, "bluesky", "polled_at", None)
    [result] = poller.run()
    assert result["answered"] == 1, result
    assert store.by_remote(ledger, "bluesky", reply.uri)["state"] == "answered"

    # Nothing new: the notifications' high-water mark stops paging at once.
    store.set_cursor(ledger, "bluesky", "polled_at", None)
    [result] = poller.run()
    assert result["new"] == 0

    # The resident deletes the reply: the ledger keeps its text, marked deleted.
    resident.client().delete_post(reply.uri)
    store.set_cursor(ledger, "bluesky", "polled_at", None)
    [result] = poller.run()
    assert result["deleted"] == 1
    gone = store.by_remote(ledger, "bluesky", reply.uri)
    assert gone["deleted"] and gone["text"] == "Will it still open on Saturdays?"


def test_a_pds_without_an_appview_is_reported_once(project, monkeypatch):
    reason = pds.unavailable()
    if reason:
        pytest.skip(reason)
    server = pds.shared_pds()                      # the plain PDS: no AppView configured
    server.account("council-noview.test", "noview-pass")
    project.write_config(channels=f'[channels.bluesky]\nnetwork = "bluesky"\nhandle = "council-noview.test"\n'
                                  f'api_base = "{server.url}"\n', default_channels='["bluesky"]')
    monkeypatch.setenv("CIVICPOST_BLUESKY_APP_PASSWORD", "noview-pass")
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    poller = Poller(config, ledger)
    for _ in range(2):
        store.set_cursor(ledger, "bluesky", "polled_at", None)
        [result] = poller.run()
        assert result["errors"] and "No service configured" in result["errors"][0], result
    assert len(store.events(ledger, kind="no-access")) == 1


def test_direct_messages_through_the_pds_chat_proxy(project, monkeypatch, network):
    """chat.bsky.* reads go to the account's PDS with atproto-proxy: DID#bsky_chat; the real
    PDS resolves the DID (did:web, here the test chat service's) and forwards them.  A
    private reply is not sent from civicpost on Bluesky (no idempotency key on sendMessage):
    validate says so; an answer from the Bluesky app is read back and answers the message."""
    from click.testing import CliRunner

    from bot import cli
    from tests.servers import chat

    server, _ = network
    service = chat.Server().start()
    try:
        project.write_config(channels=f'[channels.bluesky]\nnetwork = "bluesky"\nhandle = "council-inbox.test"\n'
                                      f'api_base = "{server.url}"\nchat_service = "{service.did}"\n',
                             default_channels='["bluesky"]', extra="[inbox.channels.bluesky]\ndirect = true\n")
        council = _channel(monkeypatch, server, "bluesky", "council-inbox.test", "council-pass")
        resident = _channel(monkeypatch, server, "resident", "resident-inbox.test", "resident-pass")
        members = [{"did": council._did(), "handle": "council-inbox.test"},
                   {"did": resident._did(), "handle": "resident-inbox.test"}]
        question = service.message(members, resident._did(), "Is my garden waste subscription still active?")
        config = project.config()
        ledger = Ledger(config.database, config.timezone)
        poller = Poller(config, ledger)
        [result] = poller.run()
        assert result["errors"] == [], result       # (the module's PDS also holds earlier tests' mentions)
        assert [m["kind"] for m in store.messages(ledger)].count("direct") == 1
        remote_id = f"dm:{question['convoId']}:{question['id']}"
        row = store.by_remote(ledger, "bluesky", remote_id)
        assert (row["kind"], row["author"]) == ("direct", "@resident-inbox.test")
        [call] = service.calls("GET", r"listConvos$")
        assert call.header("Authorization", "").startswith("Bearer ")      # the PDS's service auth
        project.post("replies/r.md", f"publish_at: 2030-01-01T09:00\nchannels: [bluesky]\n"
                                     f"in_reply_to: 'bluesky:{remote_id}'", "Yes, until March.")
        checked = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate"])
        assert checked.exit_code == 1 and "cannot answer Bluesky direct messages" in checked.output
        service.message(members, council._did(), "Yes, until March.")      # answered in the app
        store.set_cursor(ledger, "bluesky", "polled_at", None)
        [result] = poller.run()
        assert result["answered"] == 1
        assert store.by_remote(ledger, "bluesky", remote_id)["state"] == "answered"
    finally:
        service.stop()
