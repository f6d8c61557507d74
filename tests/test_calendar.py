"""`bot.py calendar`: an iCalendar file and an accessible page, checked in a real browser."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from bot import cli
from schedule.ledger import Ledger

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def make(project, tmp_path):
    project.post("pool.md", "title: Pool opens\npublish_at: 2030-01-14T10:00", "The pool opens.")
    project.post("bins.md", "title: Bin day\npublish_at: 2030-01-15T18:00", "Bins out tonight.")
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    held = ledger.add("bins", "log", "log", datetime(2030, 1, 15, 18, tzinfo=timezone.utc))
    ledger.transition(held, "held", reason="blackout: Pre-election period")
    ics, page = tmp_path / "out.ics", tmp_path / "out.html"
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "calendar", "--ics", str(ics),
                                      "--html", str(page)])
    assert result.exit_code == 0, result.output
    return ics, page


def test_ics_has_one_event_per_item_time_with_channels_and_state(project, tmp_path):
    from icalendar import Calendar

    ics, _ = make(project, tmp_path)
    events = {str(e["summary"]): e for e in Calendar.from_ical(ics.read_bytes()).walk("VEVENT")}
    assert set(events) == {"Pool opens (log)", "⚠ Bin day (log)"}
    pool = events["Pool opens (log)"]
    assert pool.decoded("dtstart") == datetime(2030, 1, 14, 10, tzinfo=timezone.utc)
    assert "log: scheduled" in str(pool["description"]) and str(pool["status"]) == "CONFIRMED"
    assert str(events["⚠ Bin day (log)"]["status"]) == "TENTATIVE"


def test_page_marks_attention_in_words_not_only_colour(project, tmp_path):
    _, page = make(project, tmp_path)
    text = page.read_text()
    assert '<html lang="en-GB">' in text and 'name="viewport"' in text and "<script" not in text
    assert "Needs attention." in text and '<span class="state attention">held</span>' in text
    assert "1 need attention" in text


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_palette_meets_wcag_aa_contrast():
    from schedule.calendar_view import STYLE

    colours = dict(re.findall(r"--([\w-]+): (#[0-9a-f]{6})", STYLE))
    pairs = [("ink", "#ffffff"), ("muted", "#ffffff"), ("alert", "#ffffff"), ("ink", colours["alert-bg"]),
             ("alert", colours["alert-bg"]), ("ink", colours["focus"])]
    for fg, bg in pairs:
        assert contrast(colours[fg], bg) >= 4.5, (fg, bg)
    assert contrast("#1d70b8", "#ffffff") >= 4.5          # links


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"), reason="chromium not installed (.ci/browser-install.sh)")
def test_page_loads_in_headless_chromium_without_console_errors(project, tmp_path):
    assert CHROMIUM, "CI must have chromium: .ci/browser-install.sh"
    _, page = make(project, tmp_path)
    done = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", "--window-size=390,844", f"--user-data-dir={tmp_path / 'profile'}",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Pool opens" in done.stdout and "Bin day" in done.stdout
    assert "CONSOLE" not in done.stderr and "Uncaught" not in done.stderr


def test_ics_carries_a_vtimezone_for_every_tzid_and_utc_uids(project, tmp_path):
    """RFC 5545 §3.6.5: "a VTIMEZONE calendar component MUST be present" for each TZID
    used.  A summer time must read 09:30 in Europe/London (BST, UTC+1)."""
    from icalendar import Calendar

    project.post("summer.md", "title: Summer fair\npublish_at: 2030-07-01T09:30", "The fair is on.")
    ics = tmp_path / "out.ics"
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "calendar", "--ics", str(ics)])
    assert result.exit_code == 0, result.output
    calendar = Calendar.from_ical(ics.read_bytes())
    (zone,) = calendar.walk("VTIMEZONE")
    assert str(zone["tzid"]) == "Europe/London"
    names = {str(c["tzname"]) for c in zone.walk() if c.name in ("STANDARD", "DAYLIGHT")}
    assert names == {"GMT", "BST"}
    (event,) = calendar.walk("VEVENT")
    assert event["dtstart"].params["TZID"] == "Europe/London"
    assert b"DTSTART;TZID=Europe/London:20300701T093000" in ics.read_bytes()
    # The UID's Z time is UTC (08:30Z), whatever zone the machine running it is in.
    assert str(event["uid"]) == "summer-20300701T083000Z@civicpost"


def test_page_times_say_their_zone(project, tmp_path):
    project.post("summer.md", "title: Summer fair\npublish_at: 2030-07-01T09:30", "The fair is on.")
    project.post("winter.md", "title: Winter fair\npublish_at: 2030-12-01T09:30", "The fair is on.")
    page = tmp_path / "out.html"
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "calendar", "--html", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert '<span class="time">09:30 BST</span> Summer fair' in text
    assert '<span class="time">09:30 GMT</span> Winter fair' in text


def test_bilingual_titles_in_the_calendar(project, tmp_path):
    project.write_config(extra='[languages]\nrequired = ["cy", "en"]\nfirst = "cy"\n')
    project.post("market.md", "title: Christmas market\ntitle_cy: Marchnad Nadolig\nlang: en\n"
                 "publish_at: 2030-12-05T09:00\nbody_cy: Mae'r farchnad yn ôl.", "The market is back.")
    page = tmp_path / "out.html"
    CliRunner().invoke(cli, ["--config", str(project.config_path), "calendar", "--html", str(page)])
    assert "Marchnad Nadolig / Christmas market" in page.read_text()


def test_blocked_needs_attention_on_the_page(project, tmp_path):
    project.post("pool.md", "title: Pool opens\npublish_at: 2030-01-14T10:00", "The pool opens.")
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    ledger.add("pool", "log", "log", datetime(2030, 1, 14, 10, tzinfo=timezone.utc), state="blocked")
    ledger.close()
    page = tmp_path / "out.html"
    CliRunner().invoke(cli, ["--config", str(project.config_path), "calendar", "--html", str(page)])
    assert '<span class="state attention">blocked</span>' in page.read_text()
