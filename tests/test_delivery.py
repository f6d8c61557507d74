"""A delivery's journey through the publisher and the ledger, against the networks' test
servers: retries with backoff, rate limits, auth holds, permanent failures, thread
resumption and recovery after a crash."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schedule.alerts import Alerter
from schedule.scanner import ContentScanner
from schedule.ledger import Ledger
from schedule.network_check import SAME_KEY
from schedule.publisher import Publisher
from schedule.render import Renderer
from tests.servers import channel_tables, mastodon, x


class World:
    """A project, its ledger and a publisher wired to real channels and test servers."""

    def __init__(self, project, monkeypatch, servers: dict, extra: str = ""):
        self.project = project
        self.servers = servers
        channels = channel_tables({name: server.url for name, server in servers.items()})
        project.write_config(channels=channels, default_channels=str(list(servers)).replace("'", '"'),
                             extra="[schedule]\nretry_base_seconds = 0.1\nretry_max_seconds = 0.2\n" + extra)
        monkeypatch.setenv("CIVICPOST_MASTODON_ACCESS_TOKEN", mastodon.TOKEN)
        for field in ("consumer_key", "consumer_secret", "access_token", "access_token_secret"):
            monkeypatch.setenv(f"CIVICPOST_X_{field.upper()}", f"x-{field}-value")
        self.config = project.config()
        self.ledger = Ledger(self.config.database, self.config.timezone)
        self.alerts: list[tuple[str, str]] = []
        self.alerter = Alerter((), self.ledger, sender=lambda title, body: self.alerts.append((title, body)) or True)
        self.scanner = ContentScanner(self.config)
        self.renderer = Renderer(self.config)
        self.publisher = Publisher(self.config, self.ledger, self.renderer, self.alerter, self.item)

    def item(self, item_id):
        return {i.id: i for i in self.scanner.scan().items}.get(item_id)

    def plan(self, rel: str, body: str, when: datetime, channel: str) -> int:
        self.project.post(rel, f"publish_at: {when.isoformat()}\nchannels: [{channel}]", body)
        item = self.item(rel.removesuffix(".md"))
        return self.ledger.add(item.id, channel, channel, when, item_digest=item.digest, source=item.rel)

    def state(self, delivery_id: int) -> dict:
        return self.ledger.get(delivery_id)


@pytest.fixture
def servers():
    started = {"mastodon": mastodon.Server().start(), "x": x.Server().start()}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def world(project, monkeypatch, servers):
    return World(project, monkeypatch, servers)


NOW = datetime.now(timezone.utc) + timedelta(minutes=5)     # "due" for the publisher; grace is 15 minutes


def test_transient_failure_is_retried_with_the_same_idempotency_key(world, servers):
    delivery = world.plan("a.md", "Library hours change next week.", NOW, "mastodon")
    servers["mastodon"].inject("5xx", match="POST /api/v1/statuses")
    assert world.publisher.run(delivery) == "retrying"
    row = world.state(delivery)
    assert row["attempts"] == 1 and "503" in row["error"] and row["next_attempt_at"]
    assert world.publisher.run(delivery) == "posted"
    keys = {r.header("Idempotency-Key") for r in servers["mastodon"].calls("POST", "statuses$")}
    assert keys == {f"civicpost-{delivery}:0"}
    assert len(servers["mastodon"].statuses) == 1
    kinds = [e["to_state"] for e in world.ledger.events(delivery)]
    assert kinds == ["scheduled", "publishing", "retrying", "publishing", "posted"]


def test_rate_limit_reset_sets_the_next_attempt(world, servers):
    delivery = world.plan("a.md", "Parking charges update.", NOW, "x")
    world.ledger.update(delivery, retry_until="2999-01-01T00:00:00+00:00")
    servers["x"].inject("429", match="POST /2/tweets")
    assert world.publisher.run(delivery) == "retrying"
    next_at = datetime.fromisoformat(world.state(delivery)["next_attempt_at"])
    assert timedelta(seconds=50) < next_at - datetime.now(timezone.utc) < timedelta(seconds=70)


def test_retries_stop_at_retry_until_and_alert(world, servers):
    import time

    delivery = world.plan("a.md", "Road gritting tonight.", NOW, "mastodon")
    world.ledger.update(delivery, retry_until=(datetime.now(timezone.utc) + timedelta(seconds=0.5)).isoformat())
    servers["mastodon"].inject("5xx", times=100, match="POST /api/v1/statuses")
    states = []
    while not states or states[-1] == "retrying":
        states.append(world.publisher.run(delivery))
        time.sleep(0.12)
    assert states[-1] == "failed" and len(states) > 1
    assert "gave up" in world.state(delivery)["error"]
    assert world.alerts and "failed" in world.alerts[0][0] and "Road gritting" not in world.alerts[0][1]


def test_permanent_rejection_fails_at_once(world, servers):
    delivery = world.plan("a.md", "Duplicate notice.", NOW, "x")
    servers["x"].inject("duplicate", match="POST /2/tweets")
    assert world.publisher.run(delivery) == "failed"
    assert "duplicate content" in world.state(delivery)["error"]
    assert len(servers["x"].calls("POST", "/2/tweets")) == 1


def test_auth_error_fails_alerts_and_holds_the_channel(world, servers):
    first = world.plan("a.md", "Bin day moves.", NOW, "mastodon")
    second = world.plan("b.md", "Another notice.", NOW, "mastodon")
    servers["mastodon"].token = "rotated"                 # our token no longer works
    assert world.publisher.run(first) == "failed"
    assert world.publisher.run(second) == "held"
    assert "credentials" in world.state(second)["hold_reason"]
    titles = [t for t, _ in world.alerts]
    assert any("bad credentials" in t for t in titles) and any("held" in t for t in titles)
    assert world.ledger.get_meta("auth_failed:mastodon")


def test_thread_resumes_from_the_failed_part(world, servers):
    delivery = world.plan("t.md", "Part one.\n---8<---\nPart two.\n---8<---\nPart three.", NOW, "x")
    servers["x"].inject("5xx", match="POST /2/tweets", after=1)
    assert world.publisher.run(delivery) == "retrying"
    assert [p["idx"] for p in world.ledger.parts(delivery)] == [0]
    world.project.post("t.md", f"publish_at: {NOW.isoformat()}\nchannels: [x]", "Edited after the first part.")
    assert world.publisher.run(delivery) == "posted"
    texts = [t["text"] for t in sorted(servers["x"].tweets.values(), key=lambda t: int(t["id"]))]
    assert texts == ["Part one.", "Part two.", "Part three."]         # the edit does not change a thread half out
    parts = world.ledger.parts(delivery)
    assert servers["x"].tweets[parts[2]["remote_id"]]["in_reply_to_tweet_id"] == parts[1]["remote_id"]


def test_recovery_finds_a_post_that_went_out_before_the_crash(world, servers):
    delivery = world.plan("a.md", "Council tax bills are on their way.", NOW, "x")
    world.ledger.transition(delivery, "publishing", attempts=1, parts_text='["Council tax bills are on their way."]',
                            media="[]", idem_key=f"civicpost-{delivery}")
    world.renderer.channel("x").publish(world.publisher.recorded_variant(world.state(delivery),
                                                                        world.renderer.channel("x"), None), "k")
    assert world.publisher.recover(world.state(delivery)) == "posted"
    assert world.state(delivery)["remote_id"] in servers["x"].tweets
    assert len(servers["x"].tweets) == 1


def test_recovery_retries_when_the_network_does_not_have_it(world, servers):
    delivery = world.plan("a.md", "Never reached X.", NOW, "x")
    world.ledger.transition(delivery, "publishing", attempts=1, parts_text='["Never reached X."]', media="[]",
                            idem_key=f"civicpost-{delivery}", retry_until="2999-01-01T00:00:00+00:00")
    assert world.publisher.recover(world.state(delivery)) == "retrying"
    assert world.publisher.run(delivery) == "posted"
    assert len(servers["x"].tweets) == 1


def test_recovery_is_uncertain_when_the_network_cannot_be_checked(world, servers):
    delivery = world.plan("a.md", "Cannot tell.", NOW, "x")
    world.ledger.transition(delivery, "publishing", attempts=1, parts_text='["Cannot tell."]', media="[]",
                            idem_key=f"civicpost-{delivery}")
    servers["x"].inject("5xx", times=5)
    assert world.publisher.recover(world.state(delivery)) == "uncertain"
    assert "check the account by hand" in world.state(delivery)["error"]
    assert any("uncertain" in t for t, _ in world.alerts)
    assert world.publisher.run(delivery) == "uncertain"            # never re-posted automatically
    assert servers["x"].tweets == {}


def test_mastodon_recovery_resends_with_the_same_key(world, servers):
    delivery = world.plan("a.md", "Idempotent.", NOW, "mastodon")
    world.ledger.transition(delivery, "publishing", attempts=1, parts_text='["Idempotent."]', media="[]",
                            idem_key=f"civicpost-{delivery}", retry_until="2999-01-01T00:00:00+00:00",
                            detail=SAME_KEY)                     # sent by this civicpost, under its key
    channel = world.renderer.channel("mastodon")
    channel.publish(world.publisher.recorded_variant(world.state(delivery), channel, None), f"civicpost-{delivery}")
    assert world.publisher.recover(world.state(delivery)) == "retrying"
    assert world.publisher.run(delivery) == "posted"
    assert len(servers["mastodon"].statuses) == 1


# ----- issue 9: the ambiguous cases ----------------------------------------------------
# The shipped weekly reminder (content/bin-collection-reminder.md): the same text every week.
BIN_TEXT = ("Reminder: put your bins out tonight for collection tomorrow morning. Check which bin goes out this "
            "week on our website.")


def settle(world, delivery: int, runs: int = 15) -> list[str]:
    """Run the delivery's job again after each retry, as the daemon would."""
    import time

    states = []
    while len(states) < runs and (not states or states[-1] in ("retrying", "scheduled")):
        states.append(world.publisher.run(delivery))
        time.sleep(0.3)
    return states


def already_tweeted(server, text: str, when: datetime) -> str:
    """A tweet already on the account, made at ``when`` (last week's reminder)."""
    tweet_id = str(int(when.timestamp() * 1000) << 22)
    server.tweets[tweet_id] = {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id],
                               "in_reply_to_tweet_id": None, "media_ids": [], "made": when.timestamp(),
                               "created_at": when.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    return tweet_id


def crashed_in_publishing(world, delivery: int, text: str) -> None:
    """The row as a crash leaves it: `publishing` committed, then the process died."""
    world.ledger.transition(delivery, "publishing", attempts=1, parts_text=f'["{text}"]', media="[]",
                            idem_key=f"civicpost-{delivery}", retry_until="2999-01-01T00:00:00+00:00")


def test_a_lost_answer_then_a_duplicate_refusal_finds_the_live_tweet(world, servers):
    """X made the tweet, its gateway answered 503; X's timeline lags, so the first look finds
    nothing and the resend is refused as a duplicate: that tweet is ours, found, not `failed`."""
    servers["x"].listing_lag = 1.0
    delivery = world.plan("a.md", "Swimming pool closed for repairs on Monday.", NOW, "x")
    servers["x"].inject("created_then_5xx", match=r"^POST /2/tweets$")
    states = settle(world, delivery)
    assert states[-1] == "posted", (states, world.state(delivery)["error"])
    assert len(servers["x"].tweets) == 1
    assert world.state(delivery)["remote_id"] in servers["x"].tweets
    assert len(servers["x"].calls("POST", r"^/2/tweets$")) >= 2          # the resend X refused happened


def test_recovery_never_takes_last_weeks_identical_post(world, servers):
    servers["x"].reject_duplicates = False        # X accepts the same text a week later
    last_week = already_tweeted(servers["x"], BIN_TEXT, datetime.now(timezone.utc) - timedelta(days=7))
    delivery = world.plan("bins.md", BIN_TEXT, NOW, "x")
    crashed_in_publishing(world, delivery, BIN_TEXT)                     # died before the request went out
    assert world.publisher.recover(world.state(delivery)) == "retrying"
    assert world.publisher.run(delivery) == "posted"
    assert world.state(delivery)["remote_id"] not in (None, last_week)
    assert len(servers["x"].tweets) == 2                                 # last week's, and this week's


def test_recovery_never_takes_a_post_recorded_for_another_delivery(world, servers):
    servers["x"].reject_duplicates = False
    first = world.plan("bins.md", BIN_TEXT, NOW, "x")
    assert world.publisher.run(first) == "posted"
    taken = world.state(first)["remote_id"]
    # The same text again minutes later (within the clock-skew margin), interrupted before sending.
    second = world.plan("bins-again.md", BIN_TEXT, NOW + timedelta(minutes=1), "x")
    crashed_in_publishing(world, second, BIN_TEXT)
    assert world.publisher.recover(world.state(second)) == "retrying"
    assert world.publisher.run(second) == "posted"
    assert world.state(second)["remote_id"] != taken
    assert len(servers["x"].tweets) == 2


def test_a_row_moved_by_someone_else_meanwhile_is_never_reported_posted(world, servers, caplog):
    import logging

    delivery = world.plan("a.md", "Road closed on Friday for resurfacing.", NOW, "x")
    other = Ledger(world.config.database, world.config.timezone)          # another process on the ledger

    def meanwhile(request) -> None:
        if request.method == "POST" and request.path == "/2/tweets":
            other.transition(delivery, "retrying", expect=["publishing"], kind="recovered",
                             reason="another daemon's start-up recovery")

    servers["x"].on_request.append(meanwhile)
    caplog.set_level(logging.INFO)
    assert world.publisher.run(delivery) == "retrying"                   # what the other one made it
    assert not [r for r in caplog.records if r.getMessage().startswith("POSTED")]
    assert world.state(delivery)["state"] == "retrying"
    tweet_id = next(iter(servers["x"].tweets))
    sent = [e for e in world.ledger.events(delivery) if e["kind"] == "sent-after-change"]
    assert sent and tweet_id in sent[0]["detail"]
    assert any("sent after it was changed" in title for title, _ in world.alerts)
    other.close()


def test_a_delivery_that_may_be_live_is_never_silently_missed(world, servers):
    """An ambiguous failure, then the daemon is down past the grace period: not `missed`
    (which says nothing went out) but `uncertain`, with an alert."""
    delivery = world.plan("a.md", "Council tax bills are on their way.", NOW, "x")
    servers["x"].inject("created_then_5xx", match=r"^POST /2/tweets$")
    assert world.publisher.run(delivery) == "retrying"
    assert world.publisher.run(delivery, now=NOW + timedelta(hours=2)) == "uncertain"
    assert "earlier attempt got no answer" in world.state(delivery)["error"]
    assert any("uncertain" in title for title, _ in world.alerts)


def test_a_lost_answer_mid_thread_finishes_the_thread_without_reposting(world, servers):
    delivery = world.plan("t.md", "Part one.\n---8<---\nPart two.\n---8<---\nPart three.", NOW, "x")
    servers["x"].inject("created_then_drop", match=r"^POST /2/tweets$", after=1)     # part two made, answer lost
    assert settle(world, delivery)[-1] == "posted"
    tweets = sorted(servers["x"].tweets.values(), key=lambda t: int(t["id"]))
    assert [t["text"] for t in tweets] == ["Part one.", "Part two.", "Part three."]
    parts = [p["remote_id"] for p in world.ledger.parts(delivery)]
    assert parts == [t["id"] for t in tweets]
    assert [t["in_reply_to_tweet_id"] for t in tweets] == [None, parts[0], parts[1]]


def test_a_mastodon_key_older_than_mastodon_keeps_it_is_not_trusted(world, servers):
    """Mastodon keeps an Idempotency-Key "for up to 1 hour" (docs.joinmastodon.org/methods/
    statuses): past that, the account is read back instead of resending with the key."""
    delivery = world.plan("a.md", "Idempotent, but not for ever.", NOW, "mastodon")
    servers["mastodon"].inject("created_then_5xx", match=r"^POST /api/v1/statuses$")
    assert world.publisher.run(delivery) == "retrying"
    two_hours_ago = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    with world.ledger.transaction():              # the first attempt was two hours ago
        world.ledger.db.execute("UPDATE events SET at = ? WHERE delivery_id = ? AND to_state = 'publishing'",
                                [two_hours_ago, delivery])
    assert world.publisher.run(delivery) == "posted"
    assert len(servers["mastodon"].calls("POST", r"^/api/v1/statuses$")) == 1     # found, not resent
    assert world.state(delivery)["remote_id"] in servers["mastodon"].statuses


def test_after_a_crash_a_duplicate_refusal_of_the_resend_finds_the_tweet(world, servers):
    """Killed just after X made the tweet; X's timeline did not list it yet when the daemon
    came back, so it was resent and refused as a duplicate: that tweet is this delivery's."""
    servers["x"].listing_lag = 1.0
    delivery = world.plan("a.md", "Leisure centre open late on Friday.", NOW, "x")
    crashed_in_publishing(world, delivery, "Leisure centre open late on Friday.")
    world.renderer.channel("x").publish(world.publisher.recorded_variant(world.state(delivery),
                                                                        world.renderer.channel("x"), None), "k")
    assert world.publisher.recover(world.state(delivery)) == "retrying"      # not listed yet
    assert settle(world, delivery)[-1] == "posted"
    assert len(servers["x"].tweets) == 1
    assert world.state(delivery)["remote_id"] in servers["x"].tweets
