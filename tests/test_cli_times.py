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


def test_preview_time_is_whole_at_80_columns_with_a_long_id(project):
    """A comms officer's terminal (or a pipe, which rich treats as 80 columns): the planned
    time must not be cut off with an ellipsis ("Sun 03 Jan 2027…")."""
    project.post("leisure-centre-opening-with-a-long-file-name.md",
                 "id: 2027/leisure-centre-opening-and-swimming-timetable\npublish_at: 2030-07-01T09:30",
                 "The leisure centre opens on Monday.")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "preview"], env={"COLUMNS": "80"})
    assert "Mon 01 Jul 2030 09:30 BST" in result.stdout, result.stdout
    assert "2027/leisure-centre-opening-and-swimming-timetable" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


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


def test_past_blackout_and_missed_reasons_read_as_local_time(project):
    """Issue 10 §4: every time a person reads is local with its zone ("Mon 14 Jan 2030 09:00
    GMT"), including validate's warnings and the planner's reason for a missed delivery."""
    from schedule.content import read_item
    from schedule.plan import reconcile, wanted

    project.write_config(extra="[[blackout]]\nstart = 2030-07-01T00:00:00\nend = 2030-07-31T00:00:00\n"
                               'reason = "by-election"\n')
    project.post("late.md", "publish_at: 2020-01-13T09:00")
    project.post("summer.md", "publish_at: 2030-07-01T09:30")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate", "--json"])
    messages = {p["code"]: p["message"] for p in json.loads(result.stdout)}
    assert "publish_at Mon 13 Jan 2020 09:00 GMT has already passed" in messages["past"]
    assert "planned Mon 01 Jul 2030 09:30 BST is inside the blackout" in messages["blackout"]
    config = project.config()
    late = read_item(project.content / "late.md", config)
    now = datetime(2020, 1, 13, 12, 0, tzinfo=timezone.utc)
    ((_, state, reason),) = reconcile(wanted([late], config, now), [], config, now).add
    assert state == "missed" and "planned time Mon 13 Jan 2020 09:00 GMT had already passed" in reason


def test_history_is_readable_at_80_columns(project):
    """Seven side-by-side columns left the item one letter wide at 80 columns (a terminal, a
    pipe, an email); the id, both times and the link must read whole."""
    from schedule.ledger import Ledger

    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    done = ledger.add("summer-fair", "log", "log", datetime(2030, 7, 1, 8, 30, tzinfo=timezone.utc))
    ledger.transition(done, "posted", posted_at="2030-07-01T08:31:00+00:00", url="https://social.example/1")
    ledger.close()
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "history"], env={"COLUMNS": "80"})
    out = result.stdout
    assert "summer-fair" in out and "https://social.example/1" in out.replace("\n", "").replace(" ", ""), out
    assert "Mon 01 Jul 2030 09:30 BST" in out and "Mon 01 Jul 2030 09:31 BST" in out, out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_clock_change_fixes_give_the_configured_zones_own_offsets(project):
    """The fix-it hints wrote London's offsets (+01:00 first, +00:00 second) whatever the
    zone.  In Berlin summer time (CEST, +02:00) ends at 01:00 UTC on the last Sunday in
    October (EU Directive 2000/84/EC), so 02:30 happens at +02:00, then at +01:00; it
    starts at 01:00 UTC on the last Sunday in March, so 02:30 on 28 March 2027 does not exist
    (02:00 CET is followed by 03:00 CEST)."""
    project.write_config(timezone="Europe/Berlin")
    project.post("twice.md", "publish_at: 2027-10-31T02:30")
    project.post("gap.md", "publish_at: 2027-03-28T02:30")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate", "--json"])
    messages = {p["code"]: p["message"] for p in json.loads(result.stdout)}
    assert "2027-10-31T02:30+02:00 (first) or 2027-10-31T02:30+01:00 (second)" in messages["time-ambiguous"]
    assert "the nearest real time is Sun 28 Mar 2027 03:00 CEST" in messages["time-gap"]
    assert "e.g. 2027-03-28T02:30+01:00" in messages["time-gap"]
    project.write_config(timezone="Europe/Berlin", extra="[[blackout]]\nstart = 2027-10-31T02:30:00\n"
                         "end = 2027-11-01T00:00:00\nreason = \"x\"\n")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate"])
    assert "2027-10-31T02:30+02:00 (first) or 2027-10-31T02:30+01:00 (second)" in result.output, result.output
    project.write_config(timezone="Europe/Berlin", extra="[[blackout]]\nstart = 2027-03-28T02:30:00\n"
                         "end = 2027-04-01T00:00:00\nreason = \"x\"\n")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate"])
    assert "e.g. 2027-03-28T03:00, or add the offset, e.g. 2027-03-28T02:30+01:00" in result.output, result.output
