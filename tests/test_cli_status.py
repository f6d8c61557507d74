"""`bot.py status`: "needs attention" comes from the ledger and names every state that
waits for a person (blocked, held) or ended badly (failed, missed, uncertain)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from bot import cli
from schedule.ledger import Ledger


def status(project, *args):
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "status", *args],
                                env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_needs_attention_lists_blocked_failed_uncertain_held_from_the_ledger(project):
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    when = datetime(2030, 1, 14, 10, tzinfo=timezone.utc)
    ids = {}
    for state in ("blocked", "failed", "uncertain", "held", "missed"):
        ids[state] = ledger.add(f"item-{state}", "log", "log", when, state=state,
                                error=f"why {state}" if state != "held" else None,
                                hold_reason="posting is paused" if state == "held" else None)
    ids["fine"] = ledger.add("item-fine", "log", "log", when)
    ledger.close()
    attention = {a["state"]: a for a in json.loads(status(project, "--json"))["attention"]}
    assert set(attention) == {"blocked", "failed", "uncertain", "held", "missed"}
    assert attention["held"]["error"] == "posting is paused" and attention["failed"]["error"] == "why failed"
    out = status(project)
    section = out[out.index("Needs attention"):out.index("Next")]
    shown = {line.split()[1]: line for line in section.splitlines() if line.startswith("│ ") and
             line.split()[1].isdigit()}
    assert set(shown) == {str(ids[s]) for s in ("blocked", "failed", "uncertain", "held", "missed")}
    for state in ("blocked", "failed", "uncertain", "held", "missed"):
        assert f" {state} " in shown[str(ids[state])]
    assert "Mon 14 Jan 2030 10:00 GMT" in section


def test_an_old_hold_still_needs_attention_but_an_old_failure_drops_off(project):
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    when = datetime(2020, 1, 14, 10, tzinfo=timezone.utc)
    ledger.add("long-held", "log", "log", when, state="held", hold_reason="blackout: Pre-election period")
    ledger.add("old-failure", "log", "log", when, state="failed")
    ledger.db.execute("UPDATE deliveries SET updated_at = ?",
                      [(datetime.now(timezone.utc) - timedelta(days=30)).isoformat()])
    ledger.close()
    assert [a["item"] for a in json.loads(status(project, "--json"))["attention"]] == ["long-held"]


def test_times_are_local_with_zone_and_json_to_the_second(project):
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    ledger.add("summer", "log", "log", datetime(2030, 7, 1, 8, 30, tzinfo=timezone.utc))
    ledger.set_meta(last_rescan="2030-07-01T08:00:00.123456+00:00")
    ledger.close()
    out = status(project)
    assert "Mon 01 Jul 2030 09:30 BST" in out and "last rescan Mon 01 Jul 2030 09:00 BST" in out
    data = json.loads(status(project, "--json"))
    assert data["last_rescan"] == "2030-07-01T09:00:00+01:00"
    assert data["next"][0]["planned_at"] == "2030-07-01T09:30:00+01:00"
