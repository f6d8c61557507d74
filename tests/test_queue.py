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


def test_unapproved_items_are_not_queued_when_approval_is_required(project):
    project.write_config(extra="[approval]\nrequired = true\napprovers = [\"Tom Hughes\"]\n")
    project.post("ok.md", "publish_at: 2030-01-14T10:00\napproved_by: Tom Hughes")
    project.post("no.md", "publish_at: 2030-01-14T10:00")
    project.post("who.md", "publish_at: 2030-01-14T10:00\napproved_by: Somebody Else")
    assert [r["item"] for r in queue(project)] == ["ok"]
