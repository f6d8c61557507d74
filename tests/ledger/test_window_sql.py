"""The pages' windowed reads (#13) are plain SQL that both ledgers run alike: what the queue
reads for a window or one item, and the inbox's pages and counts, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schedule.inbox import store
from schedule.listing import SHOWN_STATES, _ledger_rows
from schedule.timeutil import to_utc_key

NOW = datetime(2030, 1, 10, 12, 0, tzinfo=timezone.utc)


def fill(ledger) -> None:
    for day in range(1, 21):
        for item in ("bins", "bins#cy", "bins-extra", "binsa", "library"):
            delivery = ledger.add(item, "log", "log", datetime(2030, 1, day, 10, tzinfo=timezone.utc))
            if day % 4 == 0:
                ledger.transition(delivery, "held", reason="paused")
            elif day % 5 == 0:
                ledger.transition(delivery, "posted", remote_id=f"{item}-{day}")


@pytest.mark.parametrize("since, until, item", [
    (None, NOW + timedelta(days=1), None), (NOW - timedelta(days=3), NOW + timedelta(days=4), None),
    (NOW + timedelta(days=2), None, None), (None, None, "bins"), (NOW, NOW + timedelta(days=5), "bins"),
    (None, None, "library"), (None, None, "bins#cy")])
def test_the_rows_a_window_needs(ledger, since, until, item):
    fill(ledger)
    low = max(NOW, since) if since else NOW

    def wanted(row) -> bool:
        planned = row["planned_at"]
        if since and planned < to_utc_key(since) or until and planned >= to_utc_key(until):
            return False
        if item and row["item"] != item and not row["item"].startswith(item + "#"):
            return False
        return planned >= to_utc_key(low) or row["state"] in SHOWN_STATES

    expected = sorted(r["id"] for r in ledger.deliveries() if wanted(r))
    assert sorted(r["id"] for r in _ledger_rows(ledger, NOW, since, until, item)) == expected and expected


def test_inbox_pages_and_counts(ledger):
    # Rows written with their ids (store.record takes the new id from Ledger._insert, which on
    # PostgreSQL returns one only for deliveries and events: reported, not this test's subject).
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with ledger.transaction():
        for number in range(1, 31):
            ledger.db.execute(
                "INSERT INTO inbox_messages (id, network, channel, remote_id, kind, text, created_at, state, "
                "received_at, updated_at) VALUES (?, 'mastodon', ?, ?, 'reply', ?, ?, ?, ?, ?)",
                [number, "m" if number % 3 else "n", str(number), f"Message {number}",
                 to_utc_key(start + timedelta(minutes=number // 2)), "assigned" if number == 4 else "new",
                 to_utc_key(start), to_utc_key(start)])
    full = store.messages(ledger)
    assert [r["id"] for r in full][:3] == [30, 29, 28]         # newest first, the id breaking ties
    pages = [r for start_at in range(0, 30, 7) for r in store.messages(ledger, limit=7, offset=start_at)]
    assert pages == full
    assert store.messages(ledger, limit=5, before=(full[4]["created_at"], full[4]["id"])) == full[5:10]
    assert [row[0] for row in store.listed(ledger, channel="n")] == [r["id"] for r in full if r["channel"] == "n"]
    assert store.count(ledger) == 30 and store.count(ledger, channel="n") == 10
    assert store.count_by_state(ledger) == {"new": 29, "assigned": 1, "answered": 0, "closed": 0}
