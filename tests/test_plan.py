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
    times = [w.when for w in wanted([bins], config, NOW)]
    assert min(times) > NOW


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


def test_unreadable_file_holds_instead_of_cancelling(project):
    config = project.config()
    w = wanted([item(project, "publish_at: 2030-01-20T10:00:00+00:00")], config, NOW)[0]
    actions = reconcile([], [row(w)], config, NOW, broken_sources={w.item.rel: "not valid YAML"})
    assert actions.cancel == [] and "not valid YAML" in actions.hold[0][1]


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
