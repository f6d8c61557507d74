"""The pages read only their window (#13): what a narrowed read shows is exactly what the
full read shows inside that window, and a kept gate verdict is judged again whenever the
file, its page sign-off or the templates change (the gate stays the one check)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from schedule.ledger import Ledger
from schedule.listing import history, queue
from schedule.operator import status
from schedule.verdicts import Verdicts
from schedule.web import pages
from schedule.web.content import Content

UTC = timezone.utc
NOW = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2030, 1, day, hour, tzinfo=UTC)


@pytest.fixture
def planned(project):
    """Items before, inside and after a week, a weekly repeat across it, an item the gate
    blocks, and ledger rows of every kind the queue shows (overdue open ones, a posted one,
    one whose file is gone)."""
    project.write_config(extra='[approval]\nrequired = true\napprovers = ["Tom Hughes"]\n',
                         channels='[channels.log]\nnetwork = "log"\n[channels.second]\nnetwork = "log"\n',
                         default_channels='["log", "second"]')
    ok = "approved_by: Tom Hughes\n"
    project.post("inside.md", f"publish_at: 2030-01-14T10:00\n{ok}")
    project.post("edge.md", f"publish_at: 2030-01-13T00:00\n{ok}")
    project.post("after.md", f"publish_at: 2030-01-25T10:00\n{ok}")
    project.post("past.md", f"publish_at: 2030-01-05T10:00\n{ok}")
    project.post("overdue.md", f"publish_at: 2030-01-09T10:00\n{ok}")
    project.post("weekly.md", f'publish_at: 2030-01-06T09:00\nrepeat: "0 9 * * SUN"\nuntil: 2030-02-10\n{ok}')
    project.post("unsigned.md", "publish_at: 2030-01-15T10:00")
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    held = ledger.add("overdue", "log", "log", at(9))
    ledger.transition(held, "held", reason="posting is paused")
    ledger.add("inside", "log", "log", at(14))
    gone = ledger.add("removed", "log", "log", at(16))
    posted = ledger.add("posted-early", "second", "log", at(17))
    ledger.transition(posted, "posted", posted_at="2030-01-10T09:00:00.000000+00:00", remote_id="1")
    ledger.add("past", "log", "log", at(5))
    ledger.close()
    return config, gone


WINDOWS = [(None, at(11, 12)), (at(13, 0), at(20, 0)), (at(1, 0), at(13, 0)), (at(12, 0), None),
           (at(9, 0), at(9, 23)), (at(26, 0), datetime(2030, 3, 1, tzinfo=UTC))]


@pytest.mark.parametrize("since, until", WINDOWS)
def test_a_window_of_the_queue_is_the_full_queue_cut_to_it(planned, since, until):
    config, _ = planned
    everything = queue(config, NOW)
    expected = [r for r in everything if (since is None or datetime.fromisoformat(r["planned_at"]) >= since)
                and (until is None or datetime.fromisoformat(r["planned_at"]) < until)]
    assert queue(config, NOW, since=since, until=until) == expected
    # ... and the same through kept verdicts, asked twice (the second answer from the cache).
    verdicts = Verdicts(config)
    assert queue(config, NOW, since=since, until=until, verdicts=verdicts) == expected
    assert queue(config, NOW, since=since, until=until, verdicts=verdicts) == expected


def test_the_window_holds_the_rows_that_make_it_interesting(planned):
    config, gone = planned
    rows = queue(config, NOW, since=at(9, 0), until=at(20, 0))
    seen = {(r["item"], r["channel"]): r for r in rows}
    assert seen[("overdue", "log")]["state"] == "held"              # overdue, still open
    assert seen[("removed", "log")]["id"] == gone                    # only the ledger remembers it
    assert seen[("posted-early", "second")]["state"] == "posted"
    assert "approval is required" in seen[("unsigned", "log")]["blocked"]     # the gate's error
    assert ("past", "log") not in seen and ("after", "log") not in seen


@pytest.mark.parametrize("item", ["inside", "weekly", "overdue", "removed", "week*", "nothing"])
def test_one_item_read_by_id_is_the_full_queue_cut_to_it(planned, item):
    config, _ = planned
    from fnmatch import fnmatchcase
    expected = [r for r in queue(config, NOW) if fnmatchcase(r["item"], item)]
    assert queue(config, NOW, item=item) == expected


def test_history_until_is_the_full_history_cut_to_it(planned):
    config, _ = planned
    ledger = Ledger(config.database, config.timezone)
    first = ledger.add("threaded", "log", "log", at(3))
    ledger.record_part(first, 0, "t-0", "https://example.org/t/0")
    ledger.record_part(first, 1, "t-1", "https://example.org/t/1")
    ledger.transition(first, "posted", posted_at="2030-01-03T10:00:01.000000+00:00", remote_id="t-0")
    late = ledger.add("late", "log", "log", at(4))
    ledger.transition(late, "failed", error="refused")
    ledger.close()
    full = history(config)
    assert [r["item"] for r in full] == ["threaded", "late", "posted-early"]
    assert full[0]["parts"] == [{"remote_id": "t-0", "url": "https://example.org/t/0"},
                                {"remote_id": "t-1", "url": "https://example.org/t/1"}]
    assert history(config, until=at(4)) == full[:1]
    assert history(config, since=at(4), until=at(17)) == full[1:2]


def test_status_lists_the_next_ten_in_time_order(project):
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    for day in range(24, 10, -1):                   # added latest first: the order is the time's
        ledger.add(f"n{day}", "log", "log", at(day))
    ledger.close()
    shown = status(config, NOW)["next"]
    assert [r["item"] for r in shown] == [f"n{day}" for day in range(11, 21)]


# ----- kept verdicts ------------------------------------------------------------------
def blocked(config, content, item_id: str) -> str | None:
    (row,) = [r for r in queue(config, NOW, items=content.items, item=item_id, verdicts=content.verdicts)]
    return row["blocked"]


def test_a_kept_verdict_is_judged_again_when_the_file_changes(project):
    project.write_config(extra='[approval]\nrequired = true\napprovers = ["Tom Hughes"]\n')
    path = project.post("notice.md", "publish_at: 2030-01-14T10:00")
    config = project.config()
    content = Content(config, interval=3600, watch=False)
    try:
        assert "approval is required" in blocked(config, content, "notice")
        item = content.by_id["notice"]
        kept = content.verdicts.verdict(item, NOW, {})
        assert content.verdicts.verdict(item, NOW, {}) is kept           # kept, not judged again
        project.post("notice.md", "publish_at: 2030-01-14T10:00\napproved_by: Tom Hughes")
        path.touch()
        content.refresh()
        assert blocked(config, content, "notice") is None
    finally:
        content.stop()


def test_a_kept_verdict_is_judged_again_after_a_page_sign_off(project):
    from schedule.signoff import sign_off

    project.write_config(extra='[approval]\nrequired = true\napprovers = ["Tom Hughes"]\n')
    project.post("notice.md", "publish_at: 2030-01-14T10:00")
    config = project.config()
    Ledger(config.database, config.timezone).close()
    content = Content(config, interval=3600, watch=False)
    try:
        assert "approval is required" in blocked(config, content, "notice")
        item = content.fresh("notice")
        sign_off(config, item, item.digest, "Tom Hughes", "read it")       # the file is unchanged
        assert blocked(config, content, "notice") is None
    finally:
        content.stop()


def test_a_kept_verdict_is_judged_again_when_a_template_changes(project):
    project.post("notice.md", "publish_at: 2030-01-14T10:00")
    config = project.config()
    content = Content(config, interval=3600, watch=False)
    try:
        assert blocked(config, content, "notice") is None
        template = project.root / "templates" / "default.txt.j2"
        # StrictUndefined: a misspelt field is the template error the gate reports.
        template.write_text(template.read_text() + "{{ no_such_field }}\n")
        assert "no_such_field" in blocked(config, content, "notice")
    finally:
        content.stop()


@pytest.mark.parametrize("later", [timedelta(0), timedelta(days=3), timedelta(days=40)])
def test_a_kept_verdict_has_the_errors_the_gate_finds_later(planned, later):
    """Kept verdicts are not judged again as time passes: their errors must not depend on it."""
    from schedule.gate import decide
    from schedule.render import Renderer
    from schedule.scanner import ContentScanner

    config, _ = planned
    verdicts = Verdicts(config)
    for item in ContentScanner(config).scan().items:
        kept = verdicts.verdict(item, NOW, {})
        fresh = decide(item, config, Renderer(config), NOW + later, advice=False, signoffs={})
        assert kept.errors() == fresh.errors(), item.id


def test_preview_page_still_finds_an_id_another_file_has(project):
    project.post("a.md", "id: notice\npublish_at: 2030-01-14T10:00")
    project.post("b.md", "id: notice\npublish_at: 2030-01-15T10:00")
    config = project.config()
    content = Content(config, interval=3600, watch=False)
    try:
        item_id = next(iter(content.by_id))
        shown = pages.preview_page(config, content, item_id, now=NOW)
        assert "duplicate-id" in json.dumps(shown)
    finally:
        content.stop()


def test_calendar_week_is_the_same_through_its_window(planned):
    """The Calendar page's rows: the window read equals the old whole-ledger read cut to the week."""
    config, _ = planned
    content = Content(config, interval=3600, watch=False)
    try:
        page = pages.calendar_page(config, content, "week", "2030-01-14", now=NOW)
        shown = [(e.item, ch, row["planned_at"]) for day in page["days"].values() for e in day
                 for ch, row in e.channels.items()]
        begin, end = page["begin"], page["end"] + timedelta(days=1)
        rows = history(config) + queue(config, NOW)
        expected = {(r["item"], r["channel"], r["planned_at"]) for r in rows      # a posted row is in both
                    if begin <= datetime.fromisoformat(r["planned_at"]) < end}
        assert len(shown) == len(set(shown)) and set(shown) == expected and shown
    finally:
        content.stop()
