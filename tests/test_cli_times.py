"""Times as people read them (#10 §4): local, with the zone's abbreviation, one helper for
every view; exports in ISO 8601 with offset and no microseconds; clock-change errors
name the nearest real time.  Expected values are from the UK rules (Summer Time Order:
clocks go forward at 01:00 GMT on the last Sunday in March, back at 01:00 GMT on the last
Sunday in October), not from our own output."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from bot import cli
from schedule.timeutil import human, iso_seconds

LONDON = ZoneInfo("Europe/London")


def test_human_has_the_zone_abbreviation_either_side_of_the_change():
    assert human(datetime(2027, 3, 28, 0, 30, tzinfo=timezone.utc), LONDON) == "Sun 28 Mar 2027 00:30 GMT"
    assert human(datetime(2027, 3, 28, 1, 30, tzinfo=timezone.utc), LONDON) == "Sun 28 Mar 2027 02:30 BST"
    assert human("2027-10-31T00:30:00+00:00", LONDON) == "Sun 31 Oct 2027 01:30 BST"
    assert human("2027-10-31T01:30:00+00:00", LONDON) == "Sun 31 Oct 2027 01:30 GMT"
    assert human("2027-10-31T01:30:00.654321+00:00", LONDON, date=False) == "01:30 GMT"


def test_iso_seconds_keeps_the_offset_and_drops_microseconds():
    assert iso_seconds("2027-07-01T08:00:00.123456+00:00", LONDON) == "2027-07-01T09:00:00+01:00"


def test_clock_change_gap_error_suggests_the_nearest_real_time(project):
    # 01:30 on 28 March 2027 does not exist in London: at 01:00 GMT the clocks read 02:00 BST.
    project.post("gap.md", "publish_at: 2027-03-28T01:30")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate", "--json"])
    (problem,) = [p for p in json.loads(result.stdout) if p["code"] == "time-gap"]
    assert "the nearest real time is Sun 28 Mar 2027 02:00 BST" in problem["message"]


def test_clock_change_overlap_error_names_both_times(project):
    # 01:30 on 31 October 2027 happens twice in London: at 01:30 BST, and an hour later at 01:30 GMT.
    project.post("twice.md", "publish_at: 2027-10-31T01:30")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate", "--json"])
    (problem,) = [p for p in json.loads(result.stdout) if p["code"] == "time-ambiguous"]
    assert "first Sun 31 Oct 2027 01:30 BST, then Sun 31 Oct 2027 01:30 GMT" in problem["message"]


def test_preview_shows_local_time_with_zone(project):
    project.post("summer.md", "publish_at: 2030-07-01T09:30", "The summer fair is on.")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "preview"], env={"COLUMNS": "120"})
    assert "Mon 01 Jul 2030 09:30 BST" in result.stdout, result.stdout
    (item,) = json.loads(CliRunner().invoke(cli, ["--config", str(project.config_path), "preview", "--json"]).stdout)
    assert item["publish_at"] == "2030-07-01T09:30:00+01:00"


def test_history_shows_local_time_with_zone(project):
    from schedule.ledger import Ledger

    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    done = ledger.add("fair", "log", "log", datetime(2030, 7, 1, 8, 30, tzinfo=timezone.utc))
    ledger.transition(done, "posted", posted_at="2030-07-01T08:30:01.999999+00:00")
    ledger.close()
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "history"], env={"COLUMNS": "200"})
    assert result.stdout.count("Mon 01 Jul 2030 09:30 BST") == 2, result.stdout
    (row,) = json.loads(CliRunner().invoke(cli, ["--config", str(project.config_path), "history", "--json"]).stdout)
    assert row["posted_at"] == "2030-07-01T09:30:01+01:00"


def test_alerts_name_the_local_time_with_zone():
    from schedule.alerts import delivery_alert

    _, body = delivery_alert({"id": 7, "item": "fair", "channel": "log", "planned_at": "2030-07-01T08:30:00+00:00"},
                             "failed", "boom", LONDON)
    assert "Planned: Mon 01 Jul 2030 09:30 BST" in body
