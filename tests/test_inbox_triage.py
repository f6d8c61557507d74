"""Triage (#11): flags, language, the FOI date, and states with their events."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from schedule.errors import BotError, ConfigError
from schedule.inbox import store, triage
from schedule.ledger import Ledger
from schedule.model import Incoming

LONDON = ZoneInfo("Europe/London")


# ----- the FOI date: 20 working days (ICO: "Time limits for compliance under the FOIA") ----
# The day after receipt is day one; weekends and bank holidays do not count.  Bank holidays
# from gov.uk/bank-holidays (England and Wales): Fri 25 Dec 2026, Mon 28 Dec 2026 (Boxing
# Day, substitute day), Fri 1 Jan 2027.
def test_foi_due_counts_christmas_and_new_year_bank_holidays():
    received = datetime(2026, 12, 21, 10, 0, tzinfo=LONDON)        # a Monday
    assert triage.foi_due(received, LONDON) == date(2027, 1, 21)


def test_foi_due_from_a_weekend_starts_on_the_next_working_day():
    received = datetime(2026, 11, 28, 15, 0, tzinfo=LONDON)        # a Saturday
    assert triage.foi_due(received, LONDON) == date(2026, 12, 29)


def test_foi_due_uses_the_local_date_not_utc():
    # 23:30 UTC on Tue 30 June 2026 is 00:30 BST on Wed 1 July: received on 1 July.
    received = datetime(2026, 6, 30, 23, 30, tzinfo=timezone.utc)
    assert triage.foi_due(received, LONDON) == date(2026, 7, 29)


# ----- flags -----------------------------------------------------------------------------
RULES = triage.DEFAULT_RULES


@pytest.mark.parametrize("text, flag", [
    ("Under the Freedom of Information Act please provide the number of potholes reported in 2026", "foi"),
    ("I want to make a complaint about the missed bins, this is unacceptable", "complaint"),
    ("My elderly neighbour is not safe, I think she is being neglected", "urgent"),
    ("This council is shit", "abusive"),
])
def test_flags_found(text, flag):
    assert flag in triage.flags_for(text, "en", RULES)


@pytest.mark.parametrize("text", [
    "The tinfoil should go in the recycling?",          # "foi" only as a whole word
    "I live in Scunthorpe and love the new park",        # the classic false positive: not abusive
    "Thanks, the bins were collected today",
])
def test_flags_not_found(text):
    assert triage.flags_for(text, "en", RULES) == []


def test_welsh_is_detected_offline_and_flagged():
    # A plain Welsh question ("When will the recycling bins be collected this week?").
    text = "Pryd fydd y biniau ailgylchu yn cael eu casglu yr wythnos hon?"
    assert triage.detect_language(text) == "cy"
    assert triage.detect_language("When will the recycling bins be collected this week?") == "en"
    assert triage.detect_language("👍🙏 @council https://example.org") is None
    assert "welsh" in triage.flags_for(text, "cy", RULES)


def test_a_huge_welsh_message_is_still_welsh():
    # A Welsh question followed by a long pasted tail (a 200,000-character comment): the
    # language is told from its opening, as a reader would.
    text = "Pryd fydd y biniau ailgylchu yn cael eu casglu yr wythnos hon? " * 20 + "0123456789 " * 18_200
    assert len(text) > 200_000
    assert triage.detect_language(text) == "cy"


def test_flag_rules_come_from_config(project):
    project.write_config(extra='[inbox.flags]\ncomplaint_words = ["potholes again"]\n')
    rules = triage.rules(project.config())
    assert triage.flags_for("Potholes   again on Bank Street", "en", rules) == ["complaint"]
    assert triage.flags_for("This is unacceptable", "en", rules) == []     # the default list was replaced


def test_a_bad_flag_rule_is_one_clear_error(project):
    project.write_config(extra='[inbox.flags]\ncomplaint_word = ["x"]\n')
    with pytest.raises(ConfigError, match=r"complaint_word is not a flag rule; use one of foi_words"):
        triage.rules(project.config())


# ----- states and events ------------------------------------------------------------------
def _message(ledger, text="Is the tip open on Monday?", remote_id="m1", own=False, parent=None, when=None):
    incoming = Incoming(remote_id, "reply", text, when or datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc),
                        author="@resident", parent_id=parent, conversation="post1", own=own)
    return store.record(ledger, "mastodon", "mastodon", incoming)[0]


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    yield ledger
    ledger.close()


def test_new_assigned_answered_with_events(ledger):
    message_id = _message(ledger)
    triage.assign(ledger, message_id, "Priya", actor="sam")
    triage.tag(ledger, message_id, "Bins", actor="sam")
    triage.note(ledger, message_id, "Checked with waste team", actor="sam")
    reply_id = _message(ledger, "Yes, 8am to 4pm.", "c1", own=True, parent="m1",
                        when=datetime(2026, 11, 2, 10, 30, tzinfo=timezone.utc))
    assert triage.answered_by(ledger, store.message(ledger, reply_id))
    row = store.message(ledger, message_id)
    assert (row["state"], row["assignee"], row["tags"], row["first_response_seconds"]) == \
        ("answered", "Priya", ["bins"], 90 * 60)
    events = [(e["kind"], e["from_state"], e["to_state"], e["actor"]) for e in store.events(ledger, message_id)]
    assert events == [("received", None, "new", "inbox"), ("assigned", "new", "assigned", "sam"),
                      ("tagged", "assigned", "assigned", "sam"), ("note", None, None, "sam"),
                      ("answered", "assigned", "answered", "inbox")]
    assert store.notes(ledger, message_id)[0]["text"] == "Checked with waste team"


def test_close_needs_a_reason_and_is_recorded(ledger):
    message_id = _message(ledger)
    with pytest.raises(BotError, match="give --reason"):
        triage.close(ledger, message_id, " ", actor="sam")
    triage.close(ledger, message_id, "thanks only, no reply needed", actor="sam")
    last = store.events(ledger, message_id)[-1]
    assert (last["kind"], last["to_state"], last["reason"]) == ("closed", "closed", "thanks only, no reply needed")


def test_a_reply_after_closing_does_not_reopen_or_answer(ledger):
    message_id = _message(ledger)
    triage.close(ledger, message_id, "spam", actor="sam")
    reply_id = _message(ledger, "ok", "c1", own=True, parent="m1")
    assert triage.answered_by(ledger, store.message(ledger, reply_id)) is None
    assert store.message(ledger, message_id)["state"] == "closed"


def test_huge_empty_rtl_and_emoji_texts_are_kept_exactly(ledger):
    texts = ["", "x" * 200_000, "مرحبا، متى يتم جمع القمامة؟", "🗑️👍🏽 bins? 🇬🇧", "a\u200db\u202ec"]
    for number, text in enumerate(texts):
        message_id = _message(ledger, text, f"m{number}")
        assert store.message(ledger, message_id)["text"] == text
        assert isinstance(triage.flags_for(text, triage.detect_language(text), RULES), list)
