"""The inbox store's newer queries (#11: direct messages answered by conversation, the
sweep's list of live messages) on both back ends: SQLite and a real PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from schedule.inbox import store, triage
from schedule.model import Incoming

NOW = datetime(2027, 1, 14, 10, 0, tzinfo=timezone.utc)


def test_a_direct_message_is_answered_by_the_next_council_message_in_its_conversation(ledger):
    asked = Incoming("dm:1-2:10", "direct", "Is the tip open?", NOW, author="@resident", conversation="dm:1-2")
    again = Incoming("dm:1-2:11", "direct", "Hello?", NOW + timedelta(minutes=5), author="@resident",
                     conversation="dm:1-2")
    other = Incoming("dm:1-3:12", "direct", "Another person", NOW, author="@other", conversation="dm:1-3")
    for message in (asked, again, other):
        store.record(ledger, "x", "x", message)
    answer = Incoming("dm:1-2:20", "direct", "Yes, until 4pm.", NOW + timedelta(hours=1), own=True,
                      conversation="dm:1-2")
    reply_id = store.record(ledger, "x", "x", answer)[0]
    assert triage.answered_by(ledger, store.message(ledger, reply_id))["remote_id"] == "dm:1-2:10"
    states = {r["remote_id"]: (r["state"], r["first_response_seconds"]) for r in store.messages(ledger)}
    assert states == {"dm:1-2:10": ("answered", 3600), "dm:1-2:11": ("answered", 3300), "dm:1-3:12": ("new", None)}


def test_live_remote_ids_leave_out_deleted_and_old_messages(ledger):
    store.record(ledger, "x", "x", Incoming("1", "reply", "kept", NOW))
    store.record(ledger, "x", "x", Incoming("2", "reply", "old", NOW - timedelta(days=30)))
    store.record(ledger, "x", "x", Incoming("3", "reply", "gone", NOW))
    store.record(ledger, "x", "x", Incoming("3", "reply", "gone", NOW, deleted=True))
    store.record(ledger, "fb", "facebook", Incoming("4", "comment", "other channel", NOW))
    assert store.live_remote_ids(ledger, "x", NOW - timedelta(days=14)) == ["1"]


def test_the_flag_filter_and_the_pages_run_on_both_back_ends(ledger):
    # The flag words are commands.FLAGS; "foi" is one whole element, never part of another.
    store.record(ledger, "x", "x", Incoming("1", "mention", "FOI please", NOW), flags=["foi", "complaint"])
    store.record(ledger, "x", "x", Incoming("2", "mention", "A complaint", NOW + timedelta(minutes=1)),
                 flags=["complaint"])
    store.record(ledger, "x", "x", Incoming("3", "mention", "Thanks", NOW + timedelta(minutes=2)), flags=[])
    assert [r["remote_id"] for r in store.messages(ledger, flag="foi")] == ["1"]
    assert [r["remote_id"] for r in store.messages(ledger, flag="complaint")] == ["2", "1"]
    assert [r["remote_id"] for r in store.messages(ledger, limit=1, offset=1)] == ["2"]
