"""Reporting and records (#11): office-hours response times, the report and its page,
export --inbox, retention, erasure requests and the daily digest."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from bot import cli
from schedule.alerts import Alerter
from schedule.inbox import records, report, store, triage
from schedule.ledger import Ledger
from schedule.model import Incoming

LONDON = ZoneInfo("Europe/London")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_office_hours_skip_nights_weekends_and_bank_holidays():
    nine_to_five = (datetime.strptime("09:00", "%H:%M").time(), datetime.strptime("17:00", "%H:%M").time())
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=LONDON)
    monday = datetime(2026, 11, 30, 9, 30, tzinfo=LONDON)
    assert report.office_seconds(friday, monday, LONDON, nine_to_five) == 3600
    # Mon 31 Aug 2026 is the Summer bank holiday in England and Wales (gov.uk/bank-holidays).
    before = datetime(2026, 8, 28, 16, 30, tzinfo=LONDON)
    after = datetime(2026, 9, 1, 9, 30, tzinfo=LONDON)
    assert report.office_seconds(before, after, LONDON, nine_to_five) == 3600


def _answered(ledger, number, asked: datetime, office_hours_later: float | None, flags=(), item="bins"):
    incoming = Incoming(f"m{number}", "reply", f"Question {number}", asked, author=f"@r{number}",
                        conversation="p1", parent_id="p1")
    message_id = store.record(ledger, "mastodon", "mastodon", incoming, flags=list(flags),
                              delivery={"id": 1, "item": item})[0]
    if office_hours_later is not None:
        reply = Incoming(f"c{number}", "reply", "Answer", asked + timedelta(hours=office_hours_later),
                         parent_id=f"m{number}", conversation="p1", own=True)
        reply_id = store.record(ledger, "mastodon", "mastodon", reply)[0]
        triage.answered_by(ledger, store.message(ledger, reply_id))
    return message_id


@pytest.fixture
def filled(project):
    project.write_config(channels='[channels.mastodon]\nnetwork = "mastodon"\ninstance = "https://m.example"\n',
                         default_channels='["mastodon"]', extra='[inbox]\ntarget_hours = 8\n')
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)        # answers the same day: office = clock hours
    _answered(ledger, 1, monday, 1)
    _answered(ledger, 2, monday, 2, flags=["complaint"])
    _answered(ledger, 3, monday - timedelta(days=7), 7.5, flags=["foi"], item="tip")
    _answered(ledger, 4, datetime(2026, 11, 24, 9, 0, tzinfo=LONDON), None, flags=["foi", "welsh"], item="tip")
    yield config, ledger
    ledger.close()


def test_report_median_p90_target_share_volumes_and_oldest(filled):
    config, ledger = filled
    now = datetime(2026, 11, 24, 12, 0, tzinfo=LONDON)
    [result] = report.report(config, now=now)
    # Waits of 1, 2 and 7.5 office hours.  p90 by linear interpolation between closest
    # ranks (Hyndman & Fan type 7, as Excel's PERCENTILE.INC): 2 + 0.8 * (7.5 - 2) = 6.4.
    assert result["first_response_office_hours"] == {"median": 2.0, "p90": 6.4}
    assert result["answered_within_target"] == 1.0
    assert result["by_item"] == {"bins": 2, "tip": 2} and result["by_flag"] == {"foi": 2, "complaint": 1,
                                                                               "welsh": 1}
    assert result["oldest_unanswered"]["author"] == "@r4"
    assert result["oldest_unanswered"]["office_hours_waiting"] == 3.0
    assert result["states"] == {"answered": 3, "new": 1}


def test_report_command_json_and_html(project, filled, tmp_path):
    page = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "inbox", "report", "--json",
                                      "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["messages"] == 4
    assert "<svg" in page.read_text() and "Messages by flag" in page.read_text()


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"), reason="chromium not installed")
def test_report_page_renders_in_headless_chromium(filled, tmp_path):
    config, _ = filled
    page = tmp_path / "report.html"
    page.write_text(report.to_html(report.report(config)), encoding="utf-8")
    done = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Messages by item" in done.stdout and "<rect" in done.stdout
    assert "CONSOLE" not in done.stderr and "Uncaught" not in done.stderr


def test_export_inbox_json_and_csv(project, filled):
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "export", "--inbox", "--format", "json"])
    rows = json.loads(result.output)
    assert len(rows) == 7                                  # residents' messages and the council's replies
    first = next(r for r in rows if r["remote_id"] == "m1")
    assert first["versions"][0]["text"] == "Question 1" and [e["kind"] for e in first["events"]] == \
        ["received", "answered"]
    csv_text = CliRunner().invoke(cli, ["--config", str(project.config_path), "export", "--inbox"]).output
    assert csv_text.splitlines()[0].startswith("id,network,channel,remote_id") and "Question 4" in csv_text


def test_retention_erases_text_and_author_but_keeps_counts(project, filled):
    config, ledger = filled
    project.write_config(channels='[channels.mastodon]\nnetwork = "mastodon"\ninstance = "https://m.example"\n',
                         default_channels='["mastodon"]', extra='[inbox]\nretention_days = 3\n')
    config = project.config()
    erased = records.apply_retention(config, ledger, now=datetime(2026, 11, 25, 12, 0, tzinfo=LONDON))
    assert erased == 2                                     # message 3 and its answer, 9 days old
    old = store.by_remote(ledger, "mastodon", "m3")
    assert (old["text"], old["author"], old["first_response_seconds"]) == ("[erased]", "[erased]", 7.5 * 3600)
    assert store.versions(ledger, old["id"])[0]["text"] == "[erased]"
    assert store.events(ledger, old["id"])[-1]["kind"] == "erased"
    assert store.by_remote(ledger, "mastodon", "m1")["text"] == "Question 1"
    assert report.report(config)[0]["messages"] == 4       # counts kept


def test_forget_an_author(project, filled):
    config, ledger = filled
    target = store.by_remote(ledger, "mastodon", "m2")["id"]
    store.change(ledger, target, "hiding", actor="sam", detail={"text": "Question 2"})
    Alerter((), ledger, sender=lambda *a: True).send(f"inbox-urgent:{target}", "URGENT", "Question 2")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "inbox", "forget", "--author", "r2",
                                      "--reason", "SAR-2026-14", "--json"])
    assert json.loads(result.output) == {"author": "r2", "erased": 1}
    row = store.by_remote(ledger, "mastodon", "m2")
    assert row["text"] == "[erased]" and store.events(ledger, row["id"])[-1]["reason"] == "SAR-2026-14"
    # No copy of the text is left: not the record kept before hiding, not the urgent alert.
    assert store.events(ledger, row["id"], kind="hiding")[0]["detail"] is None
    assert ledger.events(kind="alert")[0]["detail"] is None


def test_digest_once_a_day_with_foi_near_due(project, filled):
    config, ledger = filled
    project.write_config(channels='[channels.mastodon]\nnetwork = "mastodon"\ninstance = "https://m.example"\n',
                         default_channels='["mastodon"]', extra='[inbox]\ndigest_at = "08:30"\n')
    config = project.config()
    sent = []
    alerter = Alerter((), ledger, sender=lambda title, body: sent.append((title, body)) or True)
    row = store.by_remote(ledger, "mastodon", "m4")
    early = datetime(2026, 12, 15, 8, 0, tzinfo=LONDON)
    assert not records.send_digest(config, ledger, alerter, now=early)
    # Message 4 came on Tue 24 Nov 2026: its FOI date is 20 working days on, 22 Dec 2026.
    assert triage.foi_due(datetime(2026, 11, 24, 9, 0, tzinfo=LONDON), LONDON).isoformat() == "2026-12-22"
    store.change(ledger, row["id"], "flagged", actor="test", foi_due="2026-12-22")
    later = datetime(2026, 12, 15, 9, 0, tzinfo=LONDON)
    assert records.send_digest(config, ledger, alerter, now=later)
    assert not records.send_digest(config, ledger, alerter, now=later + timedelta(hours=2))
    [(title, body)] = sent
    assert "1 waiting" in title and "FOI due 2026-12-22: message" in body
