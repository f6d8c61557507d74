"""The ledger: schema versions, atomic state changes with their events, read-only use."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from schedule.errors import BotError
from schedule.ledger import Ledger, open_ledger
from schedule.ledger_schema import MIGRATIONS, SCHEMA_VERSION

WHEN = datetime(2027, 1, 14, 10, 0, tzinfo=timezone.utc)


def test_schema_is_versioned_and_wal(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    assert ledger.get_meta("schema_version") == str(SCHEMA_VERSION) == str(len(MIGRATIONS))
    assert ledger.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ledger.close()
    again = Ledger(tmp_path / "l.db")               # re-opening does not re-run migrations
    assert again.get_meta("schema_version") == str(SCHEMA_VERSION)


def test_newer_schema_is_refused(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    ledger.set_meta(schema_version=99)
    ledger.close()
    with pytest.raises(BotError, match="newer civicpost"):
        Ledger(tmp_path / "l.db")


def test_transition_is_compare_and_set_with_one_event(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    delivery = ledger.add("bins", "log", "log", WHEN)
    assert ledger.transition(delivery, "publishing", expect=["scheduled"], attempts=1)
    assert not ledger.transition(delivery, "publishing", expect=["scheduled"])
    assert ledger.get(delivery)["state"] == "publishing" and ledger.get(delivery)["attempts"] == 1
    kinds = [(e["kind"], e["from_state"], e["to_state"]) for e in ledger.events(delivery)]
    assert kinds == [("planned", None, "scheduled"), ("publishing", "scheduled", "publishing")]


def test_one_delivery_per_item_channel_time(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    ledger.add("bins", "log", "log", WHEN)
    with pytest.raises(BotError):
        ledger.add("bins", "log", "log", WHEN)
    assert len(ledger.deliveries()) == 1 and len(ledger.events()) == 1      # rolled back together


def test_parts_are_recorded_in_order(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    delivery = ledger.add("road", "x", "x", WHEN)
    ledger.record_part(delivery, 1, "222", "https://x.com/c/status/222", {"cid": "b"})
    ledger.record_part(delivery, 0, "111", "https://x.com/c/status/111")
    assert [(p["idx"], p["remote_id"]) for p in ledger.parts(delivery)] == [(0, "111"), (1, "222")]
    assert ledger.parts(delivery)[1]["extra"] == {"cid": "b"}


def test_other_connections_are_noticed_through_data_version(tmp_path):
    daemon = Ledger(tmp_path / "l.db")
    before = daemon.data_version()
    operator = Ledger(tmp_path / "l.db")
    operator.set_meta(paused="1")
    assert daemon.data_version() != before and daemon.get_meta("paused") == "1"


def test_read_only_open_never_creates_a_ledger(tmp_path):
    assert open_ledger(tmp_path / "none.db", timezone.utc, readonly=True) is None
    assert not (tmp_path / "none.db").exists()


def test_write_failure_is_a_bot_error_and_changes_nothing(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    delivery = ledger.add("bins", "log", "log", WHEN)
    ledger.db.execute("PRAGMA max_page_count = 1")    # the database cannot grow: like a full disk
    with pytest.raises(BotError, match="disk is full|full"):
        for n in range(200):
            ledger.event("note", delivery, detail="x" * 4000)
    ledger.db.execute("PRAGMA max_page_count = 1073741823")
    assert ledger.get(delivery)["state"] == "scheduled"
    assert isinstance(ledger.db.conn, sqlite3.Connection)
