"""The inbox's polling (#11), end to end: a real post on a network's test double, real
replies and mentions, schedule/inbox/fetch.py through the channel's client library, and
the ledger.  Mastodon's wire format: tests/servers/mastodon.py (from Mastodon's API docs)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schedule.inbox import store
from schedule.inbox.fetch import Poller
from schedule.ledger import Ledger
from schedule.timeutil import to_utc_key
from tests.helpers import make_variant
from tests.servers import channel_tables, credentials_env
from tests.servers.mastodon import Server as MastodonServer


@pytest.fixture
def mastodon(project, monkeypatch):
    server = MastodonServer().start()
    for key, value in credentials_env("mastodon").items():
        monkeypatch.setenv(key, value)
    project.write_config(channels=channel_tables({"mastodon": server.url}), default_channels='["mastodon"]',
                         extra="[inbox]\npoll_minutes = 5\n")
    yield server
    server.stop()


def _posted(project, ledger, text="Bins go out on Tuesday this week.", item="bins", days_ago=1.0):
    """Publish a real status on the test server and record it as the ledger's posted delivery."""
    from schedule.channels import make_channel

    config = project.config()
    channel = make_channel(config.channels["mastodon"])
    receipt = channel.publish(make_variant(channel, [text]), key=f"{item}-key")
    posted_at = datetime.now(timezone.utc) - timedelta(days=days_ago)
    ledger.add(item, "mastodon", "mastodon", posted_at, state="posted", remote_id=receipt.remote_id,
               url=receipt.url, posted_at=to_utc_key(posted_at), text=text)
    return receipt.remote_id


def _poller(project):
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    return Poller(config, ledger), ledger


def test_replies_under_the_councils_post_are_stored_with_the_item(project, mastodon):
    poller, ledger = _poller(project)
    post = _posted(project, ledger)
    reply = mastodon.resident_status("Is the Tuesday collection still on after the bank holiday?", post)
    [result] = poller.run()
    assert result["new"] == 1
    [row] = store.messages(ledger)
    assert (row["remote_id"], row["item"], row["state"], row["kind"]) == (reply["id"], "bins", "new", "reply")
    assert row["author"] == "@resident@example.social"
    assert row["text"] == "Is the Tuesday collection still on after the bank holiday?"
    assert row["conversation"] == post and row["parent_remote_id"] == post
    # A second pass finds nothing new and stores nothing twice.
    [again] = poller.run()
    assert again["new"] == 0 and len(store.messages(ledger)) == 1
    assert [e["kind"] for e in store.events(ledger, row["id"])] == ["received"]


def test_a_post_older_than_lookback_days_is_not_read(project, mastodon):
    poller, ledger = _poller(project)
    post = _posted(project, ledger, days_ago=15)         # lookback_days defaults to 14 (issue 11)
    mastodon.resident_status("Late reply", post, mention=False)
    poller.run()
    assert mastodon.calls("GET", r"/context$") == []
    assert store.messages(ledger) == []


def test_the_councils_own_reply_answers_the_message_with_first_response_time(project, mastodon):
    poller, ledger = _poller(project)
    post = _posted(project, ledger)
    question = mastodon.resident_status("When does the tip open?", post)
    poller.run()
    # The council answers in the Mastodon app (not through civicpost): its account's status.
    answer = mastodon.resident_status("9am to 5pm, every day.", question["id"], acct="council")
    [result] = poller.run()
    assert result["answered"] == 1
    [row] = store.messages(ledger)
    assert row["state"] == "answered" and row["answered_by"] == answer["id"]
    asked = datetime.fromisoformat(question["created_at"].replace("Z", "+00:00"))
    replied = datetime.fromisoformat(answer["created_at"].replace("Z", "+00:00"))
    assert row["first_response_seconds"] == int((replied - asked).total_seconds())
    [own] = store.messages(ledger, own=True, state="own")
    assert own["remote_id"] == answer["id"]


def test_an_edit_is_kept_as_a_version_and_a_deletion_keeps_the_text(project, mastodon):
    poller, ledger = _poller(project)
    post = _posted(project, ledger)
    reply = mastodon.resident_status("The bin on Mill Lane was missed", post)
    poller.run()
    mastodon.edit_status(reply["id"], "The bins on Mill Lane were missed again")
    [result] = poller.run()
    assert result["edited"] == 1
    [row] = store.messages(ledger)
    assert row["text"] == "The bins on Mill Lane were missed again" and row["edited_at"]
    assert [v["text"] for v in store.versions(ledger, row["id"])] == [
        "The bin on Mill Lane was missed", "The bins on Mill Lane were missed again"]
    mastodon.delete_status(reply["id"])
    [result] = poller.run()
    assert result["deleted"] == 1
    row = store.message(ledger, row["id"])
    assert row["deleted"] and row["text"] == "The bins on Mill Lane were missed again"


def test_a_deleted_council_post_skips_quietly(project, mastodon):
    poller, ledger = _poller(project)
    post = _posted(project, ledger)
    mastodon.resident_status("A reply", post)
    poller.run()
    mastodon.statuses.pop(post)              # the council deleted its post in the app
    [result] = poller.run()
    assert result["errors"] == [] and result["deleted"] == 0


def test_mentions_page_forward_from_the_cursor(project, mastodon):
    poller, ledger = _poller(project)
    mastodon.resident_status("@council first", acct="first@example.social")
    poller.run()                             # the first pass reads the newest page and sets the cursor
    cursor = store.get_cursor(ledger, "mastodon", "mentions")
    assert cursor == mastodon.notifications[0]["id"]
    for number in range(45):                 # more than one page of 40 (Mastodon's maximum limit)
        mastodon.resident_status(f"@council question number {number}", acct=f"r{number}@example.social")
    mastodon.clear()
    store.set_cursor(ledger, "mastodon", "polled_at", None)
    [result] = poller.run()
    assert result["new"] == 45
    calls = mastodon.calls("GET", r"/api/v1/notifications$")
    assert calls[0].query["min_id"] == [cursor]           # incremental: only what is newer
    assert len(calls) == 3                                 # 40, then 5, then nothing newer
    assert store.get_cursor(ledger, "mastodon", "mentions") == max(n["id"] for n in mastodon.notifications)
    assert len(store.messages(ledger)) == 46 and {r["kind"] for r in store.messages(ledger)} == {"mention"}


def test_a_429_holds_the_channel_until_its_reset_and_never_raises(project, mastodon):
    poller, ledger = _poller(project)
    mastodon.inject("429", match=r"notifications")
    [result] = poller.run()
    assert result["errors"] and "rate limited" in result["errors"][0]
    until = datetime.fromisoformat(store.get_cursor(ledger, "mastodon", "rate_limited_until"))
    assert until > datetime.now(timezone.utc)
    mastodon.clear()
    [held] = poller.run()
    assert held["skipped"] and mastodon.calls() == []


def test_a_channel_without_access_is_reported_once(project, mastodon):
    sent = []
    from schedule.alerts import Alerter

    poller, ledger = _poller(project)
    poller.alerter = Alerter((), ledger, sender=lambda title, body: sent.append(title) or True)
    mastodon.forbid_notifications = True
    for _ in range(3):
        store.set_cursor(ledger, "mastodon", "polled_at", None)
        [result] = poller.run()
        assert "403" in result["errors"][0]
    assert sent == ["civicpost inbox: mastodon cannot read mentions"]
    assert len(store.events(ledger, kind="no-access")) == 1


def test_an_urgent_message_alerts_at_once_and_only_once(project, mastodon):
    from schedule.alerts import Alerter

    sent = []
    poller, ledger = _poller(project)
    poller.alerter = Alerter((), ledger, sender=lambda title, body: sent.append((title, body)) or True)
    post = _posted(project, ledger)
    status = mastodon.resident_status("My elderly neighbour has not been seen for days and may be in danger", post)
    poller.run()
    store.set_cursor(ledger, "mastodon", "polled_at", None)
    poller.run()
    [(title, body)] = sent
    [row] = store.messages(ledger)
    assert "URGENT" in title and "urgent" in row["flags"] and status["url"] in body
    assert f"inbox show {row['id']}" in body


def test_a_malformed_answer_stores_nothing_moves_no_cursor_and_is_retried(project, mastodon):
    poller, ledger = _poller(project)
    mastodon.resident_status("@council first", acct="first@example.social")
    poller.run()
    cursor = store.get_cursor(ledger, "mastodon", "mentions")
    good = mastodon.resident_status("@council second", acct="second@example.social")
    broken = {**good, "created_at": "last Tuesday"}    # not the ISO 8601 time Mastodon sends
    mastodon.notifications[-1] = {**mastodon.notifications[-1], "status": broken}
    store.set_cursor(ledger, "mastodon", "polled_at", None)
    [result] = poller.run()
    assert "cannot read" in result["errors"][0] and "Traceback" not in result["errors"][0]
    assert store.get_cursor(ledger, "mastodon", "mentions") == cursor
    mastodon.notifications[-1]["status"] = good     # the network answers properly again
    store.set_cursor(ledger, "mastodon", "polled_at", None)
    [result] = poller.run()
    assert result["new"] == 1 and store.by_remote(ledger, "mastodon", good["id"])
