"""`bot.py ledger copy --to URL`: a year of history into PostgreSQL and back (#12)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from bot import cli
from schedule.database import open_spec

TZ = ZoneInfo("Europe/London")
CHANNELS = ("council_x", "council_fb", "council_mastodon", "council_bsky")
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def a_year_of_history(path) -> None:
    """3 posts a day on 4 channels for 365 days, each planned, published and posted (a few
    failed and retried, threads with parts), in one transaction so it takes a second."""
    ledger = open_spec(path, TZ)
    with ledger.transaction():
        for day in range(365):
            for slot, hour in enumerate((8, 12, 17)):
                item = f"news/{day:03d}-{slot}"
                for channel in CHANNELS:
                    when = START + timedelta(days=day, hours=hour)
                    delivery = ledger.add(item, channel, channel.split("_")[1], when, text=f"Update {day} ✓",
                                          dry_run=False)
                    ledger.transition(delivery, "publishing", expect=["scheduled"], attempts=1)
                    if (day + slot) % 50 == 0:
                        ledger.transition(delivery, "retrying", error="HTTP 503", detail={"status": 503})
                        ledger.transition(delivery, "publishing", expect=["retrying"], attempts=2)
                    ledger.transition(delivery, "posted", expect=["publishing"], remote_id=f"r{delivery}",
                                      url=f"https://example.org/{delivery}")
                    if channel == "council_x" and slot == 0:
                        for idx in range(2):
                            ledger.record_part(delivery, idx, f"r{delivery}-{idx}", None, {"cid": idx})
        ledger.set_meta(paused="1", paused_by="amy", last_rescan="2026-12-31T23:00:00+00:00")
    ledger.close()


def dump(spec) -> dict[str, list]:
    ledger = open_spec(spec, TZ, readonly=True)
    try:
        return {"deliveries": ledger._query("SELECT * FROM deliveries ORDER BY id"),
                "parts": ledger._query("SELECT * FROM parts ORDER BY delivery_id, idx"),
                "events": ledger._query("SELECT * FROM events ORDER BY id"),
                "meta": ledger._query("SELECT * FROM meta ORDER BY key")}
    finally:
        ledger.close()


def test_a_year_of_history_goes_to_postgresql_and_back_row_for_row(project, pg_url, tmp_path):
    project.write_config()
    sqlite_file = project.config().database
    a_year_of_history(sqlite_file)
    original = dump(sqlite_file)
    assert len(original["deliveries"]) == 365 * 3 * 4 and len(original["events"]) > 3 * 365 * 3 * 4

    there = CliRunner().invoke(cli, ["--config", str(project.config_path), "ledger", "copy", "--to", pg_url])
    assert there.exit_code == 0, there.output
    assert f"copied {365 * 12} deliveries" in there.output
    assert dump(pg_url) == original                    # every row, every column, the same ids

    # Point the config at PostgreSQL: the commands now read it, and new rows get new ids.
    project.write_config(extra=f'[database]\nurl = "{pg_url}"\n')
    queue = CliRunner().invoke(cli, ["--config", str(project.config_path), "history", "--json"])
    assert queue.exit_code == 0, queue.output
    ledger = open_spec(pg_url, TZ)
    new = ledger.add("after-the-move", "council_x", "x", START + timedelta(days=400))
    assert new == max(r["id"] for r in original["deliveries"]) + 1
    ledger.close()

    back = tmp_path / "back" / "civicpost.db"
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "ledger", "copy", "--to", str(back)])
    assert result.exit_code == 0, result.output
    returned = dump(back)
    assert returned["events"] == dump(pg_url)["events"]
    assert returned["deliveries"][:-1] == original["deliveries"] and returned["meta"] == original["meta"]
    assert returned["parts"] == original["parts"]


def test_copy_refuses_a_target_in_use_and_a_password_in_the_url(project, pg_url):
    project.write_config()
    ledger = open_spec(project.config().database, TZ)
    ledger.add("bins", "log", "log", START)
    ledger.close()
    other = open_spec(pg_url, TZ)
    other.add("road", "log", "log", START)
    other.close()
    busy = CliRunner().invoke(cli, ["--config", str(project.config_path), "ledger", "copy", "--to", pg_url])
    assert busy.exit_code == 1 and "already has rows in deliveries" in busy.output
    assert "Traceback" not in busy.output and len(busy.output.strip().splitlines()) == 1

    leaked = pg_url.replace("civicpost@", "civicpost:hunter22@")
    refused = CliRunner().invoke(cli, ["--config", str(project.config_path), "ledger", "copy", "--to", leaked])
    assert refused.exit_code == 1 and "holds a password" in refused.output and "PGPASSWORD" in refused.output
    assert "hunter22" not in refused.output


def test_copy_without_a_ledger_says_so(project, tmp_path):
    project.write_config()
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "ledger", "copy", "--to",
                                      str(tmp_path / "x.db")])
    assert result.exit_code == 1 and "there is no ledger at" in result.output
