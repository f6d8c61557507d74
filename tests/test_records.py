"""Issue 10 §6, secrets and records and one place for each rule: the ledger is private,
alert de-duplication has an index, ICS UIDs are true UTC, and an item's own grace_minutes
is used by every rule that asks "too late?" (planner, publisher, resume, credentials)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from bot import cli
from schedule.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent


def test_the_ledger_and_its_wal_files_are_readable_by_their_owner_only(tmp_path):
    old = os.umask(0o022)                    # a shell's usual umask: files would be 0644
    try:
        ledger = Ledger(tmp_path / "var" / "civicpost.db")
        ledger.add("a", "log", "log", datetime(2030, 1, 1, tzinfo=timezone.utc))
        files = [tmp_path / "var" / n for n in ("civicpost.db", "civicpost.db-wal", "civicpost.db-shm")]
        assert all(f.exists() for f in files)
        assert {stat.S_IMODE(f.stat().st_mode) & 0o077 for f in files} == {0}, \
            [oct(f.stat().st_mode) for f in files]
        ledger.close()
    finally:
        os.umask(old)


def test_an_old_world_readable_ledger_is_made_private(tmp_path):
    path = tmp_path / "civicpost.db"
    Ledger(path).close()
    path.chmod(0o644)
    Ledger(path).close()
    assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0


def test_alert_de_duplication_uses_an_index(tmp_path):
    ledger = Ledger(tmp_path / "civicpost.db")
    # The Alerter's own query (schedule/alerts.py _already).
    plan = ledger.db.execute("EXPLAIN QUERY PLAN SELECT kind FROM events WHERE reason = ? AND kind IN ('alert', "
                             "'alert-cleared') ORDER BY id DESC LIMIT 1", ["k"]).fetchall()
    detail = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX events_alert" in detail and "SCAN events" not in detail, detail
    assert int(ledger.get_meta("schema_version")) >= 2      # the migration with the index ran (later ones may follow)


def test_ics_uids_are_utc_whatever_the_machine_zone(project, tmp_path):
    """RFC 5545 §3.3.5: a trailing Z means UTC.  09:00 in London in July is 08:00Z."""
    project.post("fete.md", "publish_at: 2030-07-14T09:00", "Summer fete on Saturday.")
    out = tmp_path / "cal.ics"
    env = {**os.environ, "TZ": "America/New_York"}
    subprocess.run([sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "calendar",
                    "--ics", str(out)], check=True, env=env, capture_output=True)
    text = out.read_bytes().decode()
    assert "UID:fete-20300714T080000Z@civicpost" in text, text


def _held(project, grace: int | None, minutes_late: int) -> tuple[Ledger, int]:
    front = f"publish_at: 2030-01-01T09:00" + (f"\ngrace_minutes: {grace}" if grace is not None else "")
    project.post("late.md", front, "Bins go out on Tuesday.")
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    planned = datetime.now(timezone.utc) - timedelta(minutes=minutes_late)
    delivery = ledger.add("late", "log", "log", planned, state="held", hold_reason="posting is paused")
    ledger.set_meta(paused="1")
    return ledger, delivery


def test_resume_uses_the_items_own_grace(project):
    # grace_minutes: 120 and 60 minutes late: within the item's grace, so it goes out.
    ledger, delivery = _held(project, 120, 60)
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "resume", "--yes"])
    assert result.exit_code == 0, result.output
    assert ledger.get(delivery)["state"] == "scheduled"


def test_resume_keeps_holding_past_the_items_shorter_grace(project):
    # grace_minutes: 5 and 10 minutes late: past the item's grace (though inside the default 15).
    ledger, delivery = _held(project, 5, 10)
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "resume", "--yes"])
    assert result.exit_code == 0, result.output
    assert ledger.get(delivery)["state"] == "held"


def test_resume_lists_what_it_will_do_by_the_items_own_grace(project):
    # The list shown before asking follows the same grace rule as resume itself (too_late):
    # 10 minutes late with grace_minutes: 5 stays held, though inside the default 15.
    ledger, delivery = _held(project, 5, 10)
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "resume"], input="n\n")
    assert "AT ONCE" not in result.output and f"  {delivery}  " in result.output.split("Staying held")[1]
    assert ledger.get(delivery)["state"] == "held"


def test_credentials_recheck_uses_the_items_own_grace(project):
    from schedule.daemon import Daemon

    project.post("late.md", "publish_at: 2030-01-01T09:00\ngrace_minutes: 120", "Bins go out on Tuesday.")
    daemon = Daemon(project.config_path)
    daemon.items = {i.id: i for i in daemon.scanner.scan().items}
    planned = datetime.now(timezone.utc) - timedelta(minutes=60)
    delivery = daemon.ledger.add("late", "log", "log", planned, state="held",
                                 hold_reason="credentials for log are failing: 401")
    daemon.publisher.bad_auth["log"] = "401"
    daemon._recheck_credentials()                   # the log channel's check() works again
    assert daemon.ledger.get(delivery)["state"] == "scheduled"
