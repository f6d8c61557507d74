"""The planner's rules, without a clock, a database or a network."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from schedule.content import read_item
from schedule.plan import due_decision, reconcile, wanted
from schedule.timeutil import to_utc_key

NOW = datetime(2030, 1, 14, 10, 0, tzinfo=timezone.utc)


def item(project, front, name="a.md"):
    project.post(name, front)
    return read_item(project.content / name, project.config())


def row(w, state="scheduled", **extra):
    return {"id": 1, "item": w.item.id, "channel": w.channel, "planned_at": to_utc_key(w.when), "state": state,
            "item_digest": w.item.digest, "source": w.item.rel, **extra}


def test_new_deliveries_are_scheduled_or_missed_by_grace(project):
    config = project.config()
    fresh = item(project, "publish_at: 2030-01-14T09:50:00+00:00", "fresh.md")
    stale = item(project, "publish_at: 2030-01-14T09:00:00+00:00", "stale.md")
    actions = reconcile(wanted([fresh, stale], config, NOW), [], config, NOW)
    assert [(w.item.id, state) for w, state, _ in actions.add] == [("fresh", "scheduled"), ("stale", "missed")]


def test_old_repeats_are_history_not_missed(project):
    config = project.config()
    bins = item(project, 'publish_at: 2029-12-02T09:00:00+00:00\nrepeat: "0 9 * * MON"\nuntil: 2030-01-31')
    actions = reconcile(wanted([bins], config, NOW), [], config, NOW)
    assert min(w.when for w, _, _ in actions.add) > NOW
    assert {state for _, state, _ in actions.add} == {"scheduled"}


def test_not_after_drafts_and_skip_remove_deliveries(project):
    config = project.config()
    late = item(project, "publish_at: 2030-01-20T10:00:00+00:00\nnot_after: 2030-01-19", "late.md")
    draft = item(project, "publish_at: 2030-01-20T10:00:00+00:00\ndraft: true", "draft.md")
    skipped = item(project, "publish_at: 2030-01-20T10:00:00+00:00\nlog: {skip: true}", "skip.md")
    assert wanted([late, draft, skipped], config, NOW) == []


def test_deleted_or_moved_items_cancel_open_rows_only(project):
    config = project.config()
    w = wanted([item(project, "publish_at: 2030-01-20T10:00:00+00:00")], config, NOW)[0]
    posted = row(w, "posted", id=2, planned_at="2030-01-01T10:00:00+00:00")
    actions = reconcile([], [row(w), posted], config, NOW)
    assert [r["state"] for r, _ in actions.cancel] == ["scheduled"]
    assert "deleted" in actions.cancel[0][1]


def test_unreadable_file_blocks_instead_of_cancelling(project):
    config = project.config()
    w = wanted([item(project, "publish_at: 2030-01-20T10:00:00+00:00")], config, NOW)[0]
    actions = reconcile([], [row(w)], config, NOW, broken_sources={w.item.rel: "not valid YAML"})
    assert actions.cancel == [] and "not valid YAML" in actions.block[0][1]


def test_edits_are_noticed_before_and_after_posting(project):
    config = project.config()
    w = wanted([item(project, "publish_at: 2030-01-20T10:00:00+00:00")], config, NOW)[0]
    actions = reconcile([w], [row(w, item_digest="old")], config, NOW)
    assert len(actions.edited) == 1 and not actions.add
    actions = reconcile([w], [row(w, "posted", item_digest="old")], config, NOW)
    assert len(actions.edited_after_post) == 1 and not actions.edited


def test_due_decision_rules(project):
    project.write_config(extra="[[blackout]]\nstart = 2030-01-01T00:00:00\nend = 2030-02-01T00:00:00\n"
                               "reason = \"Pre-election\"\nallow_tags = [\"ElectionInfo\"]\n")
    config = project.config()
    news = item(project, "publish_at: 2030-01-14T10:00:00+00:00", "news.md")
    vote = item(project, "publish_at: 2030-01-14T10:00:00+00:00\ntags: [electioninfo]", "vote.md")
    expired = item(project, "publish_at: 2030-01-14T10:00:00+00:00\nnot_after: 2030-01-14T09:59:00+00:00", "x.md")
    assert due_decision(news, NOW, NOW, config, paused=False)[0] == "held"
    assert due_decision(vote, NOW, NOW, config, paused=False) == ("publish", None)
    assert due_decision(vote, NOW, NOW, config, paused=True) == ("held", "posting is paused")
    assert due_decision(vote, NOW - timedelta(minutes=16), NOW, config, paused=False)[0] == "missed"
    assert due_decision(expired, NOW, NOW, config, paused=False)[0] == "missed"
    assert due_decision(None, NOW, NOW, config, paused=False)[0] == "cancelled"


# ----- issue 9.3: what the content wants now is what gets planned ------------------------
def test_a_planner_cancelled_delivery_comes_back_when_the_content_asks_again(project):
    """Draft -> undraft, file gone -> back, time changed -> changed back: the same key is wanted
    again after the planner cancelled it; it is re-opened, not left cancelled forever."""
    config = project.config()
    w = wanted([item(project, "publish_at: 2030-01-20T10:00:00+00:00")], config, NOW)[0]
    cancelled = row(w, "cancelled", id=7)
    actions = reconcile([w], [cancelled], config, NOW, cancelled_by={7: "planner"})
    assert [(r["id"], state) for r, state, _ in actions.reopen] == [(7, "scheduled")]
    assert not actions.add


def test_an_operators_cancel_sticks(project):
    config = project.config()
    w = wanted([item(project, "publish_at: 2030-01-20T10:00:00+00:00")], config, NOW)[0]
    actions = reconcile([w], [row(w, "cancelled", id=7)], config, NOW, cancelled_by={7: "priya"})
    assert not actions.reopen and not actions.add


def test_a_reopened_delivery_past_grace_is_missed(project):
    config = project.config()
    w = wanted([item(project, "publish_at: 2030-01-14T09:00:00+00:00")], config, NOW)[0]   # an hour ago
    actions = reconcile([w], [row(w, "cancelled", id=7)], config, NOW, cancelled_by={7: "daemon"})
    assert [state for _, state, _ in actions.reopen] == ["missed"]


def test_approval_given_after_the_planner_cancelled_brings_it_back(project):
    project.write_config(extra='[approval]\nrequired = true\n')
    config = project.config()
    unapproved = item(project, "publish_at: 2030-01-20T10:00:00+00:00")
    # Planned (so it is seen, and blocked by the gate's `approval` error), not dropped.
    assert [w.item.id for w in wanted([unapproved], config, NOW)] == [unapproved.id]
    approved = item(project, "publish_at: 2030-01-20T10:00:00+00:00\napproved_by: Head of Comms")
    w = wanted([approved], config, NOW)[0]
    actions = reconcile([w], [row(w, "cancelled", id=3, item_digest=unapproved.digest)], config, NOW,
                        cancelled_by={3: "planner"})
    assert [state for _, state, _ in actions.reopen] == ["scheduled"]


# ----- issue 9.5: repeats missed in an outage ----------------------------------------------
def test_repeats_missed_in_an_outage_are_not_cancelled_as_changed(project):
    """The ledger holds scheduled rows for last week's Monday posts (the daemon was down).
    They are still what the content asks for: not 'time or channels changed'."""
    config = project.config()
    bins = item(project, 'publish_at: 2030-01-06T09:00:00+00:00\nrepeat: "0 9 * * MON"\nuntil: 2030-01-31')
    want = wanted([bins], config, NOW)
    past = [w for w in want if w.when < NOW]
    assert past and all(w.history for w in past)
    actions = reconcile(want, [row(w, id=n) for n, w in enumerate(past, 1)], config, NOW)
    assert actions.cancel == []
    assert [w.when for w, _, _ in actions.add] == [w.when for w in want if w.when > NOW]


# ----- issue 9.7: one bad item never stops the planning of the others ----------------------
def test_an_item_that_cannot_be_planned_is_reported_and_the_others_go_on(project):
    from dataclasses import replace

    config = project.config()
    good = item(project, "publish_at: 2030-01-20T10:00:00+00:00", "good.md")
    bad = replace(item(project, 'publish_at: 2030-01-20T10:00:00+00:00\nrepeat: "0 9 * * MON"\nuntil: 2030-02-28',
                       "bad.md"), grace_minutes=float("inf"))       # as an older reader let through
    failures: dict = {}
    want = wanted([bad, good], config, NOW, failures)
    assert [w.item.id for w in want] == ["good"]
    assert list(failures) == [bad.rel] and "OverflowError" in failures[bad.rel]


# ----- issue 10 §2: blocked ----------------------------------------------------------------
def test_errors_block_and_a_fix_unblocks(project):
    from schedule.errors import Problem
    from schedule.plan import blocked_decision

    config = project.config()
    w = wanted([item(project, "publish_at: 2030-01-20T10:00:00+00:00")], config, NOW)[0]
    problem = Problem(w.item.rel, 4, "error", "alt-missing", "media: add alt: text", "log")
    other = Problem(w.item.rel, 4, "error", "too-long", "too long for x", "x")
    new = reconcile([w], [], config, NOW, errors={w.item.id: [problem]})
    assert [state for _, state, _ in new.add] == ["blocked"] and "alt" in new.add[0][2]
    assert [s for _, s, _ in reconcile([w], [], config, NOW, errors={w.item.id: [other]}).add] == ["scheduled"]
    existing = reconcile([w], [row(w)], config, NOW, errors={w.item.id: [problem]})
    assert [r["id"] for r, _ in existing.block] == [1]
    fixed = reconcile([w], [row(w, "blocked")], config, NOW, errors={})
    assert [s for _, s, _ in fixed.unblock] == ["scheduled"]
    planned = w.when
    day = timedelta(hours=24)
    assert blocked_decision(planned, timedelta(minutes=15), planned - 2 * day, day) is None
    assert blocked_decision(planned, timedelta(minutes=15), planned - day, day) == "remind"
    assert blocked_decision(planned, timedelta(minutes=15), planned + timedelta(minutes=16), day) == "missed"
