"""`bot.py export`: the FOI / archive record, from a real daemon-written ledger."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

from click.testing import CliRunner

from bot import cli
from schedule.ledger import Ledger


def ledger_with_history(project) -> Ledger:
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    posted = ledger.add("pool", "log", "log", datetime(2027, 1, 14, 10, tzinfo=timezone.utc), author="Priya Shah",
                        approved_by="Tom Hughes", commit_sha="abc123", source="content/pool.md")
    ledger.transition(posted, "publishing", text="The pool opens.", media='[{"rel": "media/pool.png", '
                      '"alt": "The new pool", "path": "/x", "kind": "image", "mime": "image/png", "size": 1}]')
    ledger.transition(posted, "posted", remote_id="log:1", url=None, posted_at="2027-01-14T10:00:02+00:00")
    cancelled = ledger.add("old", "log", "log", datetime(2026, 12, 1, 10, tzinfo=timezone.utc))
    ledger.transition(cancelled, "cancelled", actor="priya", reason="Event postponed")
    return ledger


def run(project, *args):
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "export", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_json_export_has_text_people_and_events(project):
    ledger_with_history(project)
    rows = json.loads(run(project, "--format", "json"))
    pool = next(r for r in rows if r["item"] == "pool")
    assert pool["text"] == "The pool opens." and pool["media"] == [{"path": "media/pool.png", "alt": "The new pool"}]
    assert (pool["author"], pool["approved_by"], pool["commit_sha"]) == ("Priya Shah", "Tom Hughes", "abc123")
    assert pool["planned_at"] == "2027-01-14T10:00:00+00:00" and pool["state"] == "posted"
    assert [e["kind"] for e in pool["events"]] == ["planned", "publishing", "posted"]
    old = next(r for r in rows if r["item"] == "old")
    assert old["events"][-1]["by"] == "priya" and old["events"][-1]["reason"] == "Event postponed"


def test_csv_export_and_date_range(project, tmp_path):
    ledger_with_history(project)
    out = tmp_path / "foi.csv"
    run(project, "--format", "csv", "--since", "2027-01-01", "--output", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r["item"] for r in rows] == ["pool"]
    assert rows[0]["media"] == "media/pool.png (alt: The new pool)" and "posted by daemon" in rows[0]["events"]


def test_export_without_a_ledger_is_empty(project):
    assert json.loads(run(project, "--format", "json")) == []


def test_csv_opens_in_excel_with_welsh_accents(project, tmp_path):
    """Excel reads a CSV as UTF-8 only when it starts with the UTF-8 byte order mark
    EF BB BF (Microsoft: "Opening CSV UTF-8 files correctly in Excel"); without it, "ŵ"
    (U+0175, UTF-8 C5 B5) shows as "Åµ"."""
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    posted = ledger.add("marchnad", "log", "log", datetime(2027, 1, 14, 10, tzinfo=timezone.utc))
    ledger.transition(posted, "publishing", text="Dewch i'r farchnad: mae'n ŵyl i bawb ar y sgŵar.")
    ledger.transition(posted, "posted", remote_id="log:1", posted_at="2027-01-14T10:00:02.654321+00:00")
    ledger.close()
    out = tmp_path / "foi.csv"
    run(project, "--output", str(out))
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfid,item,")
    assert "ŵyl i bawb ar y sgŵar".encode("utf-8") in data and b"\xc5\xb5" in data
    (row,) = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    assert row["text"] == "Dewch i'r farchnad: mae'n ŵyl i bawb ar y sgŵar."
    # ISO 8601 with the offset, to the second: no microseconds in an export.
    assert row["posted_at"] == "2027-01-14T10:00:02+00:00"
    assert all(len(at) == 25 for at in (e.split(" ", 1)[0] for e in row["events"].split(" | ")))
    json_rows = json.loads(run(project, "--format", "json"))
    assert not run(project, "--format", "json").startswith("\ufeff")
    assert json_rows[0]["posted_at"] == "2027-01-14T10:00:02+00:00"
    assert all("." not in e["at"] and e["at"].endswith("+00:00") for e in json_rows[0]["events"])
