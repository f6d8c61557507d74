"""`bot.py queue`: every planned delivery from now on, in time order, with its state."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from click.testing import CliRunner

from bot import cli
from schedule.ledger import Ledger

FIELDS = {"item", "channel", "planned_at", "posted_at", "state", "remote_id", "url", "attempts", "error"}


def queue(project):
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "queue", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_planned_deliveries_in_time_order_with_the_documented_fields(project):
    project.write_config(channels='[channels.log]\nnetwork = "log"\n[channels.second]\nnetwork = "log"\n')
    project.post("b.md", "publish_at: 2030-01-15T10:00\nchannels: [log, second]")
    project.post("a.md", "publish_at: 2030-01-14T10:00")
    project.post("draft.md", "publish_at: 2030-01-13T10:00\ndraft: true")
    project.post("old.md", "publish_at: 2020-01-13T10:00")
    rows = queue(project)
    assert [(r["item"], r["channel"]) for r in rows] == [("a", "log"), ("b", "log"), ("b", "second")]
    assert FIELDS <= set(rows[0])
    assert rows[0]["planned_at"] == "2030-01-14T10:00:00+00:00" and rows[0]["state"] == "scheduled"
    assert rows[0]["posted_at"] is None and rows[0]["attempts"] == 0


def test_repeats_expand_and_keep_local_time(project):
    project.post("bins.md", 'publish_at: 2030-03-25T18:00\nrepeat: "0 18 * * MON"\nuntil: 2030-04-08')
    rows = queue(project)
    assert [r["planned_at"] for r in rows] == ["2030-03-25T18:00:00+00:00", "2030-04-01T18:00:00+01:00",
                                               "2030-04-08T18:00:00+01:00"]


def test_ledger_state_is_shown_when_the_daemon_has_run(project):
    project.post("a.md", "publish_at: 2030-01-14T10:00")
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    delivery = ledger.add("a", "log", "log", datetime(2030, 1, 14, 10, tzinfo=timezone.utc))
    ledger.transition(delivery, "held", reason="posting is paused")
    (row,) = queue(project)
    assert row["state"] == "held" and row["id"] == delivery


def test_unapproved_items_are_queued_as_blocked_when_approval_is_required(project):
    """Issue 10 §2: a file with an error (here: sign-off required and missing, or not from an
    approver) is shown as blocked with the reason, never silently left out of the queue, and
    never sent (the gate's `approval` error)."""
    project.write_config(extra="[approval]\nrequired = true\napprovers = [\"Tom Hughes\"]\n")
    project.post("ok.md", "publish_at: 2030-01-14T10:00\napproved_by: Tom Hughes")
    project.post("no.md", "publish_at: 2030-01-14T10:00")
    project.post("who.md", "publish_at: 2030-01-14T10:00\napproved_by: Somebody Else")
    rows = {r["item"]: r for r in queue(project)}
    assert sorted(rows) == ["no", "ok", "who"]
    assert not rows["ok"]["blocked"]
    assert "approved_by" in rows["no"]["blocked"] and "approvers" in rows["who"]["blocked"]


# ----- the table people read (#10 §4) ------------------------------------------------
def table(project, *args):
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "queue", *args],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


TWO_CHANNELS = '[channels.log]\nnetwork = "log"\n[channels.council_facebook_page]\nnetwork = "log"\n'


def test_table_fits_80_columns_with_one_row_per_item_and_its_channels(project):
    project.write_config(channels=TWO_CHANNELS, default_channels='["log", "council_facebook_page"]')
    long_id = "2030/consultations/household-waste-and-recycling-strategy-2030-to-2040"
    project.post("long.md", f"id: {long_id}\npublish_at: 2030-01-14T10:00")
    project.post("b.md", "publish_at: 2030-01-15T10:00")
    out = table(project)
    assert max(len(line) for line in out.splitlines()) <= 80, out
    # One row per item and time: the time is printed once, the channels one line each.
    assert out.count("Mon 14 Jan 2030 10:00 GMT") == 1 and out.count("Tue 15 Jan 2030 10:00 GMT") == 1
    row = out[out.index("Tue 15 Jan 2030"):].splitlines()
    assert "council_facebook_page" in row[0] and " log " in row[1] + " " and "Tue" not in row[1]


def test_times_are_local_with_the_zone_abbreviation(project):
    # 28 March 2027 is the day the clocks go forward in the UK (GMT -> BST at 01:00 GMT).
    project.post("a.md", "publish_at: 2027-03-28T09:00\nchannels: [log]")
    project.post("b.md", "publish_at: 2027-03-27T09:00\nchannels: [log]")
    out = table(project, "--until", "2027-04-01")
    assert "Sat 27 Mar 2027 09:00 GMT" in out and "Sun 28 Mar 2027 09:00 BST" in out


def test_filters_item_channel_until(project):
    project.write_config(channels=TWO_CHANNELS)
    project.post("bins.md", 'id: bins/weekly\npublish_at: 2030-03-04T18:00\nrepeat: "0 18 * * MON"\nuntil: 2030-03-25\n'
                 "channels: [log, council_facebook_page]")
    project.post("pool.md", "publish_at: 2030-03-05T10:00\nchannels: [log]")
    args = ["--config", str(project.config_path), "queue", "--json"]
    run = lambda *a: json.loads(CliRunner().invoke(cli, [*args, *a]).stdout)      # noqa: E731
    assert {r["item"] for r in run("--item", "bins/*")} == {"bins/weekly"}
    assert {r["item"] for r in run("--item", "pool")} == {"pool"}
    assert {r["channel"] for r in run("--channel", "council_facebook_page")} == {"council_facebook_page"}
    until = run("--until", "2030-03-12")           # exclusive: Monday 11 March 18:00 is in, 18 March is not
    assert sorted({r["planned_at"][:10] for r in until}) == ["2030-03-04", "2030-03-05", "2030-03-11"]
    assert "pool" not in table(project, "--item", "bins/*")


def test_table_shows_the_ids_cancel_takes_and_says_why_one_is_blank(project):
    project.write_config(channels=TWO_CHANNELS)
    project.post("a.md", "publish_at: 2030-01-14T10:00\nchannels: [log, council_facebook_page]")
    out = table(project)
    assert "A blank id: not in the ledger yet" in out and "`cancel ID`" in out
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    first = ledger.add("a", "log", "log", datetime(2030, 1, 14, 10, tzinfo=timezone.utc))
    second = ledger.add("a", "council_facebook_page", "log", datetime(2030, 1, 14, 10, tzinfo=timezone.utc))
    ledger.close()
    out = table(project)
    lines = out[out.index("Mon 14 Jan 2030"):].splitlines()
    # channels in name order: council_facebook_page, then log
    assert lines[0].split()[-3:] == ["council_facebook_page", str(second), "scheduled"]
    assert lines[1].split() == ["log", str(first), "scheduled"]
    assert "A blank id" not in out
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "cancel", str(second)])
    assert result.exit_code == 0 and f"cancelled {second}" in result.stdout


def test_blocked_deliveries_are_shown_as_blocked(project):
    """`blocked`: the file has an error, so its deliveries wait for a fix (issue #10 §2)."""
    project.post("a.md", "publish_at: 2030-01-14T10:00")
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    blocked = ledger.add("a", "log", "log", datetime(2030, 1, 14, 10, tzinfo=timezone.utc), state="blocked")
    # Still blocked after its time: it waits for a person, so it stays in view (like held).
    project.post("late.md", "publish_at: 2020-01-14T10:00")
    overdue = ledger.add("late", "log", "log", datetime(2020, 1, 14, 10, tzinfo=timezone.utc), state="blocked")
    ledger.close()
    assert [(r["id"], r["state"]) for r in queue(project)] == [(overdue, "blocked"), (blocked, "blocked")]
    assert table(project).count("blocked") == 2


def test_ids_and_errors_are_shown_as_text_not_markup(project):
    project.post("a.md", "id: budget-[draft]-results\npublish_at: 2030-01-14T10:00")
    assert "budget-[draft]-results" in table(project)


def test_a_delivery_the_gate_stops_is_shown_as_blocked_in_the_table(project):
    """Issue 10 §1/§2: `queue` shows what the daemon's own check (schedule/gate.py) stops as
    blocked, with the reason, though the ledger has no row for it yet."""
    project.image()
    project.post("pool.md", "publish_at: 2030-01-20T09:00\nmedia: [{path: media/pool.png}]", "Pool opens.")
    project.post("bins.md", "publish_at: 2030-01-21T09:00", "Bins go out on Tuesday.")
    rows = {r["item"]: r for r in queue(project)}
    assert rows["pool"]["state"] == "scheduled" and "has no alt text" in rows["pool"]["blocked"]
    # a row: Sun 20 Jan 2030 09:00 GMT  pool  log  blocked
    lines = {line.split()[6]: line for line in table(project).splitlines() if line.split()[6:7] in (["pool"], ["bins"])}
    assert lines["pool"].split()[-1] == "blocked" and lines["bins"].split()[-1] == "scheduled"
    assert "will not be sent" in table(project)


def test_a_filtered_queue_runs_the_gate_only_on_the_items_it_lists(project, monkeypatch):
    """Issue 10 §1 made `queue` run the daemon's gate (render and check) on every item, which
    took 10 s on 20,000 items; `queue --item`, `--channel` and `--until` need only the items
    they list.  The gate itself is the real one, counted."""
    import schedule.listing as listing

    project.write_config(channels='[channels.log]\nnetwork = "log"\n[channels.second]\nnetwork = "log"\n')
    for n in range(5):
        project.post(f"n{n}.md", f"publish_at: 2030-01-1{n + 1}T10:00\nchannels: [log]")
    project.post("pool.md", "publish_at: 2030-02-01T10:00\nchannels: [second]")
    seen = []
    real = listing.decide

    def counted(item, *args, **kwargs):
        seen.append(item.id)
        return real(item, *args, **kwargs)

    monkeypatch.setattr(listing, "decide", counted)
    for args in (["--item", "n3"], ["--channel", "second"], ["--until", "2030-01-12"]):
        seen.clear()
        result = CliRunner().invoke(cli, ["--config", str(project.config_path), "queue", "--json", *args])
        listed = {row["item"] for row in json.loads(result.stdout)}
        assert listed and set(seen) == listed, (args, seen, listed)
