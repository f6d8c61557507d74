"""The inbox's read calls on X and Facebook (#11), each through its client library (tweepy,
python-facebook-api) against its test double, stored by schedule/inbox/fetch.py."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from schedule.channels import make_channel
from schedule.inbox import store
from schedule.inbox.fetch import Poller
from schedule.ledger import Ledger
from schedule.model import Incoming
from schedule.timeutil import to_utc_key
from tests.helpers import make_variant
from tests.servers import channel_tables, credentials_env, graph, x


def _setup(project, monkeypatch, network, server):
    for key, value in credentials_env(network).items():
        monkeypatch.setenv(key, value)
    project.write_config(channels=channel_tables({network: server.url}), default_channels=f'["{network}"]')
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    return Poller(config, ledger), ledger


def _post(project, ledger, network, text, item="roadworks"):
    channel = make_channel(project.config().channels[network])
    receipt = channel.publish(make_variant(channel, [text]), key=f"{item}-key")
    posted_at = datetime.now(timezone.utc) - timedelta(hours=2)
    ledger.add(item, network, network, posted_at, state="posted", remote_id=receipt.remote_id, url=receipt.url,
               posted_at=to_utc_key(posted_at), text=text)
    return receipt.remote_id


# ----- X ---------------------------------------------------------------------------------
@pytest.fixture
def x_server():
    server = x.Server().start()
    yield server
    server.stop()


def test_x_conversation_replies_mentions_and_own_reply(project, monkeypatch, x_server):
    poller, ledger = _setup(project, monkeypatch, "x", x_server)
    post = _post(project, ledger, "x", "Roadworks on King Street from Monday.")
    question = x_server.resident_tweet("@BlackburnCouncil how long for?", reply_to=post)
    streetlight = x_server.resident_tweet("@BlackburnCouncil the streetlight on Hope St is out", username="neighbour")
    [result] = poller.run()
    assert result["new"] == 2 and result["errors"] == []
    reply = store.by_remote(ledger, "x", question["id"])
    assert (reply["kind"], reply["item"], reply["author"], reply["conversation"]) == \
        ("reply", "roadworks", "@resident", post)
    assert store.get_cursor(ledger, "x", "mentions") == max(t["id"] for t in x_server.others.values())
    # The council answers in X's own app: recognised as its reply, the question answered.
    x_server.resident_tweet("About two weeks.", reply_to=question["id"], username="BlackburnCouncil")
    [result] = poller.run()
    assert result["answered"] == 1
    assert store.by_remote(ledger, "x", question["id"])["state"] == "answered"
    searches = x_server.calls("GET", r"/2/tweets/search/recent$")
    terms = searches[-1].query["query"][0].split(" OR ")
    # The council's post, then open mentions (a council reply may be under them).
    assert terms == [f"conversation_id:{post}", f"conversation_id:{streetlight['id']}"]
    assert searches[-1].query["since_id"] == [question["id"]]       # incremental


def test_x_pages_and_edits(project, monkeypatch, x_server):
    poller, ledger = _setup(project, monkeypatch, "x", x_server)
    x_server.resident_tweet("@BlackburnCouncil hello")
    poller.run()
    for number in range(130):              # two pages of max_results=100
        x_server.resident_tweet(f"@BlackburnCouncil number {number}", username=f"r{number}")
    store.set_cursor(ledger, "x", "polled_at", None)
    [result] = poller.run()
    assert result["new"] == 130
    assert len(x_server.calls("GET", r"/mentions$")) == 3
    first = next(t for t in x_server.others.values() if t["text"] == "@BlackburnCouncil number 7")
    x_server.edit_tweet(first["id"], "@BlackburnCouncil number 7, corrected")
    store.set_cursor(ledger, "x", "polled_at", None)
    [result] = poller.run()
    assert result["edited"] == 1 and result["new"] == 0
    row = store.by_remote(ledger, "x", first["id"])
    assert [v["text"] for v in store.versions(ledger, row["id"])][-1] == "@BlackburnCouncil number 7, corrected"


def test_x_without_the_paid_tier_is_reported_once_and_publishing_is_untouched(project, monkeypatch, x_server):
    poller, ledger = _setup(project, monkeypatch, "x", x_server)
    _post(project, ledger, "x", "Road closed.")
    x_server.enrolled = False
    for _ in range(2):
        store.set_cursor(ledger, "x", "polled_at", None)
        [result] = poller.run()
        assert len(result["errors"]) == 2 and "403" in result["errors"][0]
    reported = store.events(ledger, kind="no-access")
    assert len(reported) == 2                                        # once for replies, once for mentions
    assert all("developer App" in e["detail"] for e in reported)
    assert _post(project, ledger, "x", "Road open again.")             # posting still works


def test_x_rate_limit_uses_the_reset_header(project, monkeypatch, x_server):
    poller, ledger = _setup(project, monkeypatch, "x", x_server)
    x_server.inject("429", match="mentions")
    [result] = poller.run()
    until = datetime.fromisoformat(store.get_cursor(ledger, "x", "rate_limited_until"))
    # The double's x-rate-limit-reset is epoch seconds 60 s ahead (X's documented header).
    assert timedelta(seconds=50) < until - datetime.now(timezone.utc) <= timedelta(seconds=61)


# ----- Facebook Page ---------------------------------------------------------------------
@pytest.fixture
def graph_server():
    server = graph.Server().start()
    yield server
    server.stop()


def test_facebook_comments_pages_since_and_the_pages_own_reply(project, monkeypatch, graph_server):
    poller, ledger = _setup(project, monkeypatch, "facebook", graph_server)
    post = _post(project, ledger, "facebook", "Roadworks on King Street from Monday.")
    base = datetime.now(timezone.utc).timestamp() - 3600
    for number in range(120):              # more than one page of 100
        graph_server.resident_comment(post, f"Comment {number}", name=f"Resident {number}", at=base + number)
    [result] = poller.run()
    assert result["new"] == 120 and result["errors"] == []
    assert len(graph_server.calls("GET", r"/comments$")) == 2
    cursor = store.get_cursor(ledger, "facebook", "replies")
    assert cursor == str(int(base + 119))
    question = graph_server.resident_comment(post, "Will the bus still stop there?", name="Ann")
    graph_server.resident_comment(post, "Yes, at the temporary stop.", reply_to=question["id"], from_page=True)
    graph_server.clear()
    [result] = poller.run()
    assert (result["new"], result["answered"]) == (2, 1)
    call = graph_server.calls("GET", r"/comments$")[0]
    assert call.query["since"] == [cursor] and call.query["filter"] == ["stream"]
    row = store.by_remote(ledger, "facebook", question["id"])
    assert (row["state"], row["author"], row["item"]) == ("answered", "Ann", "roadworks")


def test_facebook_without_permission_reports_once_and_mentions_are_not_read(project, monkeypatch, graph_server):
    poller, ledger = _setup(project, monkeypatch, "facebook", graph_server)
    _post(project, ledger, "facebook", "Road closed.")
    graph_server.can_read_comments = False
    for _ in range(2):
        store.set_cursor(ledger, "facebook", "polled_at", None)
        [result] = poller.run()
        assert "Graph error 10" in result["errors"][0] and result["skipped"] == ["mentions: not supported"]
    kinds = sorted(json.loads(e["detail"])["kind"] for e in store.events(ledger, kind="no-access"))
    assert kinds == ["mentions", "replies"]


# ----- Instagram and Threads (the same Graph double) ---------------------------------------
def test_instagram_comments_replies_deletion_and_native_reply(project, monkeypatch, graph_server):
    from tests.helpers import image

    graph_server.container_polls_before_finished = 0
    poller, ledger = _setup(project, monkeypatch, "instagram", graph_server)
    channel = make_channel(project.config().channels["instagram"])
    picture = image(project.image("pool.png"))
    posted = channel.publish(make_variant(channel, ["The pool reopens."], media=(picture,)), key="ig")
    ledger.add("pool", "instagram", "instagram", datetime.now(timezone.utc), state="posted",
               remote_id=posted.remote_id, posted_at=to_utc_key(datetime.now(timezone.utc)))
    question = graph_server.resident_ig_comment(posted.remote_id, "Is the slide open?", username="swimmer")
    other = graph_server.resident_ig_comment(posted.remote_id, "Great news", username="fan")
    [result] = poller.run()
    assert result["new"] == 2 and result["skipped"] == ["mentions: not supported"]
    variant = make_variant(channel, ["Yes, from 10am."])
    variant.extra["in_reply_to"] = f"instagram:{question['id']}"
    answer = channel.publish(variant, key="ig-reply")
    assert graph_server.objects[answer.remote_id]["parent"] == question["id"]
    graph_server.objects.pop(other["id"])                 # the resident deleted it
    [result] = poller.run(now=datetime.now(timezone.utc) + timedelta(minutes=6))
    assert (result["answered"], result["deleted"]) == (1, 1)
    assert store.by_remote(ledger, "instagram", question["id"])["state"] == "answered"
    assert store.by_remote(ledger, "instagram", other["id"])["text"] == "Great news"
    channel.hide(question["id"])
    assert graph_server.objects[question["id"]]["hidden"] is True


def test_threads_conversation_mentions_and_native_reply(project, monkeypatch, graph_server):
    poller, ledger = _setup(project, monkeypatch, "threads", graph_server)
    post = _post(project, ledger, "threads", "Bin collections move to Wednesday.")
    question = graph_server.resident_thread("Which streets?", reply_to=post)
    nested = graph_server.resident_thread("Mine too?", reply_to=question["id"], username="neighbour")
    mention = graph_server.resident_thread("@blackburncouncil the bins were missed", username="ann")
    [result] = poller.run()
    assert result["new"] == 3 and result["errors"] == []
    assert store.by_remote(ledger, "threads", nested["id"])["parent_remote_id"] == question["id"]
    assert store.by_remote(ledger, "threads", mention["id"])["kind"] == "mention"
    channel = make_channel(project.config().channels["threads"])
    variant = make_variant(channel, ["All streets in Mill Hill."])
    variant.extra["in_reply_to"] = f"threads:{question['id']}"
    answer = channel.publish(variant, key="threads-reply")
    assert graph_server.objects[answer.remote_id]["reply_to_id"] == question["id"]
    [result] = poller.run(now=datetime.now(timezone.utc) + timedelta(minutes=6))
    assert result["answered"] == 1
    assert store.by_remote(ledger, "threads", question["id"])["state"] == "answered"
    channel.hide(nested["id"])
    assert graph_server.objects[nested["id"]]["hidden"] is True


# ----- YouTube -------------------------------------------------------------------------------
def test_youtube_comment_threads_edits_replies_and_native_reply(project, monkeypatch):
    from tests.servers import youtube

    server = youtube.Server().start()
    try:
        poller, ledger = _setup(project, monkeypatch, "youtube", server)
        ledger.add("tour", "youtube", "youtube", datetime.now(timezone.utc), state="posted", remote_id="vid1",
                   posted_at=to_utc_key(datetime.now(timezone.utc)))
        question = server.resident_comment("vid1", "Is the tour accessible by wheelchair?", name="Ann")
        for number in range(7):         # more replies than a thread carries (5): comments.list completes it
            server.resident_comment("vid1", f"Same question {number}", name=f"R{number}", parent=question["id"])
        server.resident_comment("other-video", "Not ours", name="Bob")
        [result] = poller.run()
        assert result["new"] == 8 and result["errors"] == []
        assert server.calls("GET", r"/youtube/v3/comments$")
        server.edit_comment(question["id"], "Is the tour accessible by wheelchair? And guide dogs?")
        channel = make_channel(project.config().channels["youtube"])
        variant = make_variant(channel, ["Yes to both."])
        variant.extra["in_reply_to"] = f"youtube:{question['id']}.999"       # replying to a reply
        assert channel.validate(variant) == []                 # a reply needs no video
        answer = channel.publish(variant, key="yt-reply")
        assert server.comments[answer.remote_id]["snippet"]["parentId"] == question["id"]
        assert channel.find_existing(variant, 0, variant.parts[0]).remote_id == answer.remote_id
        store.set_cursor(ledger, "youtube", "polled_at", None)
        [result] = poller.run()
        assert (result["edited"], result["new"]) == (1, 1)
        row = store.by_remote(ledger, "youtube", question["id"])
        assert row["text"].endswith("And guide dogs?") and row["version"] == 2 and row["state"] == "answered"
        channel.hide(question["id"])                           # held for review: out of public view
        assert server.comments[question["id"]]["snippet"]["moderationStatus"] == "heldForReview"
        server.can_read_comments = False
        store.set_cursor(ledger, "youtube", "polled_at", None)
        [result] = poller.run()
        assert "insufficient" in result["errors"][0]
    finally:
        server.stop()


# ----- LinkedIn ------------------------------------------------------------------------------
def test_linkedin_comments_nested_and_native_reply_as_the_organisation(project, monkeypatch):
    from tests.servers import linkedin

    server = linkedin.Server().start()
    try:
        poller, ledger = _setup(project, monkeypatch, "linkedin", server)
        post = _post(project, ledger, "linkedin", "We are hiring social workers.")
        question = server.resident_comment(post, "Is part-time possible?")
        server.resident_comment(question["$URN"], "I'd like to know too", actor="urn:li:person:resident2",
                                parent=question["$URN"])
        [result] = poller.run()
        assert result["new"] == 2 and result["errors"] == []
        channel = make_channel(project.config().channels["linkedin"])
        variant = make_variant(channel, ["Yes, see the advert for hours."])
        variant.extra["in_reply_to"] = f"linkedin:{question['$URN']}"
        answer = channel.publish(variant, key="li-reply")
        made = server.comments[answer.remote_id]
        assert (made["actor"], made["parentComment"]) == (linkedin.ORG, question["$URN"])
        assert channel.find_existing(variant, 0, variant.parts[0]).remote_id == answer.remote_id
        store.set_cursor(ledger, "linkedin", "polled_at", None)
        [result] = poller.run()
        assert result["answered"] == 1
        server.community_management = False
        store.set_cursor(ledger, "linkedin", "polled_at", None)
        [result] = poller.run()
        assert "ACCESS_DENIED" in result["errors"][0]
    finally:
        server.stop()


# ----- hiding (inbox hide) -----------------------------------------------------------------
def _hide(project, message_id, reason="abusive, house rule 3"):
    from click.testing import CliRunner

    from bot import cli

    return CliRunner().invoke(cli, ["--config", str(project.config_path), "inbox", "hide", str(message_id),
                                    "--reason", reason, "--json"])


def test_hide_on_facebook_records_the_text_first(project, monkeypatch, graph_server):
    poller, ledger = _setup(project, monkeypatch, "facebook", graph_server)
    post = _post(project, ledger, "facebook", "Roadworks on King Street.")
    comment = graph_server.resident_comment(post, "You are all useless idiots", name="Angry")
    poller.run()
    row = store.by_remote(ledger, "facebook", comment["id"])
    result = _hide(project, row["id"])
    assert result.exit_code == 0, result.output
    assert graph_server.objects[comment["id"]]["hidden"] is True
    events = store.events(ledger, row["id"])
    kinds = [e["kind"] for e in events]
    assert kinds[-2:] == ["hiding", "hidden"]
    assert json.loads(events[-2]["detail"])["text"] == "You are all useless idiots"   # on record before the call
    assert json.loads(result.output)["hidden_at"]


def test_hide_on_x_and_a_network_that_cannot(project, monkeypatch, x_server):
    poller, ledger = _setup(project, monkeypatch, "x", x_server)
    post = _post(project, ledger, "x", "Roadworks.")
    reply = x_server.resident_tweet("@BlackburnCouncil rubbish", reply_to=post)
    poller.run()
    row = store.by_remote(ledger, "x", reply["id"])
    assert _hide(project, row["id"]).exit_code == 0
    assert x_server.others[reply["id"]]["hidden"] is True
    # Mastodon cannot hide a reply: one clear line, the text stays on record.
    project.write_config(channels=channel_tables({"x": x_server.url}) +
                         '[channels.m]\nnetwork = "mastodon"\ninstance = "https://m.example"\n',
                         default_channels='["x"]')
    other = store.record(ledger, "m", "mastodon", Incoming("9", "reply", "hello", datetime.now(timezone.utc)))[0]
    failed = _hide(project, other)
    assert failed.exit_code == 1 and "has no way to hide a reply" in failed.output
    assert [e["kind"] for e in store.events(ledger, other)][-2:] == ["hiding", "hide-failed"]


def test_channels_check_reports_inbox_access_without_failing(project, monkeypatch, graph_server):
    from click.testing import CliRunner

    from bot import cli
    from tests.servers import mastodon

    server = mastodon.Server().start()
    try:
        for key, value in {**credentials_env("facebook"), **credentials_env("mastodon")}.items():
            monkeypatch.setenv(key, value)
        project.write_config(channels=channel_tables({"facebook": graph_server.url, "mastodon": server.url}),
                             default_channels='["facebook"]')
        result = CliRunner().invoke(cli, ["--config", str(project.config_path), "channels", "check", "--json"])
        assert result.exit_code == 0, result.output
        inbox = {r["channel"]: r["inbox"] for r in json.loads(result.output)}
        # The double's debug_token grants pages_manage_posts and pages_read_engagement only.
        assert inbox == {"facebook": "missing permission pages_read_user_content (App Review)", "mastodon": "ok"}
        server.forbid_notifications = True
        text = CliRunner().invoke(cli, ["--config", str(project.config_path), "channels", "check"]).output
        assert "mastodon (mastodon): ok" in text and "inbox: cannot read mentions" in text
    finally:
        server.stop()


# ----- edits and deletions that an incremental read cannot show ---------------------------
def _sweep_again(ledger, name):
    """As if [inbox] sweep_minutes (and poll_minutes) had passed since the last poll."""
    store.set_cursor(ledger, name, "polled_at", None)
    store.set_cursor(ledger, name, "swept_at", "2000-01-01T00:00:00+00:00")


def test_facebook_comment_edits_and_deletions_are_seen_by_the_sweep(project, monkeypatch, graph_server):
    """Graph's Comment has no edit time and `since` filters by created_time, so only a read
    without `since` (every sweep_minutes) shows an edit (new text, same id) or a deletion
    (no longer listed): kept as a version, and marked deleted with its text kept."""
    poller, ledger = _setup(project, monkeypatch, "facebook", graph_server)
    post = _post(project, ledger, "facebook", "Roadworks on King Street from Monday.")
    base = datetime.now(timezone.utc).timestamp() - 600
    edited = graph_server.resident_comment(post, "The diversion is confusing", name="Ann", at=base)
    removed = graph_server.resident_comment(post, "You lot are useless", name="Bob", at=base + 1)
    graph_server.resident_comment(post, "Thanks for letting us know", name="Cat", at=base + 2)
    poller.run()
    graph_server.edit_comment(edited["id"], "The diversion signs on Hope St are confusing")
    graph_server.delete_comment(removed["id"])
    store.set_cursor(ledger, "facebook", "polled_at", None)
    [result] = poller.run()                               # an incremental read: nothing to see
    assert (result["edited"], result["deleted"]) == (0, 0)
    assert graph_server.calls("GET", r"/comments$")[-1].query.get("since")
    _sweep_again(ledger, "facebook")
    [result] = poller.run()
    assert (result["edited"], result["deleted"], result["errors"]) == (1, 1, [])
    assert "since" not in graph_server.calls("GET", r"/comments$")[-1].query
    row = store.by_remote(ledger, "facebook", edited["id"])
    assert row["text"] == "The diversion signs on Hope St are confusing" and row["version"] == 2
    assert [v["text"] for v in store.versions(ledger, row["id"])] == ["The diversion is confusing",
                                                                       "The diversion signs on Hope St are confusing"]
    gone = store.by_remote(ledger, "facebook", removed["id"])
    assert gone["deleted"] and gone["text"] == "You lot are useless"


def test_facebook_a_deleted_post_is_skipped_not_reported_as_no_access(project, monkeypatch, graph_server):
    poller, ledger = _setup(project, monkeypatch, "facebook", graph_server)
    post = _post(project, ledger, "facebook", "Road closed.")
    kept = _post(project, ledger, "facebook", "Bins on Tuesday.", item="bins")
    graph_server.resident_comment(kept, "Which bin?")
    graph_server.objects.pop(post)                        # the Page deleted its post
    [result] = poller.run()
    assert result["errors"] == [] and result["new"] == 1
    # (mentions are "not supported" on Facebook Pages: that one is expected)
    assert [json.loads(e["detail"])["kind"] for e in store.events(ledger, kind="no-access")] == ["mentions"]


def test_x_deletions_are_seen_by_the_sweep_and_the_text_is_kept(project, monkeypatch, x_server):
    """X's reads (search, mentions: since_id) never list a deleted tweet; the sweep asks
    GET /2/tweets?ids=... and X answers "resource-not-found" for each deleted one."""
    poller, ledger = _setup(project, monkeypatch, "x", x_server)
    post = _post(project, ledger, "x", "Roadworks on King Street from Monday.")
    rude = x_server.resident_tweet("@BlackburnCouncil useless as ever", reply_to=post)
    kept = x_server.resident_tweet("@BlackburnCouncil thanks for the notice", reply_to=post, username="neighbour")
    poller.run()
    x_server.delete_resident_tweet(rude["id"])
    store.set_cursor(ledger, "x", "polled_at", None)
    [result] = poller.run()
    assert result["deleted"] == 0                         # within sweep_minutes: not asked
    _sweep_again(ledger, "x")
    [result] = poller.run()
    assert result["deleted"] == 1 and result["errors"] == []
    lookups = x_server.calls("GET", r"^/2/tweets$")
    assert sorted(lookups[-1].query["ids"][0].split(",")) == sorted([rude["id"], kept["id"]])
    row = store.by_remote(ledger, "x", rude["id"])
    assert row["deleted"] and row["text"] == "@BlackburnCouncil useless as ever"
    assert not store.by_remote(ledger, "x", kept["id"])["deleted"]


def test_facebook_a_quiet_poll_lists_the_pages_posts_instead_of_reading_each(project, monkeypatch, graph_server):
    """Graph's Post.updated_time moves when someone comments (Post reference), so between
    sweeps only posts updated since the cursor have their comments read: a quiet poll over
    150 posts is two pages of GET /{page-id}/posts, not 150 comment reads."""
    poller, ledger = _setup(project, monkeypatch, "facebook", graph_server)
    posts = [_post(project, ledger, "facebook", f"Notice {number}.", item=f"notice-{number}") for number in range(150)]
    soon = datetime.now(timezone.utc).timestamp() + 5      # after every post was made (whole seconds)
    graph_server.resident_comment(posts[3], "First!", name="Ann", at=soon)
    poller.run()                                          # the first read (a sweep) reads every post
    graph_server.clear()
    store.set_cursor(ledger, "facebook", "polled_at", None)
    [result] = poller.run()
    assert result["new"] == 0 and result["errors"] == []
    assert len(graph_server.calls("GET", r"/posts$")) == 2
    # The post with the newest comment is in the cursor's own second, so it is read again.
    assert [c.path.split("/")[-2] for c in graph_server.calls("GET", r"/comments$")] == [posts[3]]
    late = graph_server.resident_comment(posts[120], "Is this still on?", name="Bob", at=soon + 5)
    graph_server.clear()
    store.set_cursor(ledger, "facebook", "polled_at", None)
    [result] = poller.run()
    assert result["new"] == 1 and store.by_remote(ledger, "facebook", late["id"])["item"] == "notice-120"
    assert sorted(c.path.split("/")[-2] for c in graph_server.calls("GET", r"/comments$")) == \
        sorted([posts[3], posts[120]])                    # (posts[3]: the cursor's second again)


def test_a_sweep_whose_full_read_failed_is_tried_again(project, monkeypatch, graph_server):
    poller, ledger = _setup(project, monkeypatch, "facebook", graph_server)
    post = _post(project, ledger, "facebook", "Roadworks on King Street from Monday.")
    graph_server.resident_comment(post, "How long for?")
    poller.run()
    _sweep_again(ledger, "facebook")
    graph_server.inject("429", match=r"/comments$")
    [result] = poller.run()
    assert "rate limited" in result["errors"][0]
    assert store.get_cursor(ledger, "facebook", "swept_at") == "2000-01-01T00:00:00+00:00"   # not moved
