"""Listing the inbox (#11, #13): pages and counts read by SQL are the full listing cut into
pieces, and the lean listing path gives exactly `public_message`'s shape."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from schedule.inbox import store
from schedule.inbox.commands import list_messages, public_message
from schedule.ledger import Ledger
from schedule.localtimes import LocalTimes
from schedule.model import Incoming

START = datetime(2026, 10, 24, 23, 0, tzinfo=timezone.utc)     # the clocks go back on 25 Oct 2026 (gov.uk)


@pytest.fixture
def filled(project):
    project.write_config(channels='[channels.m]\nnetwork = "mastodon"\ninstance = "https://m.example"\n'
                                  '[channels.n]\nnetwork = "mastodon"\ninstance = "https://n.example"\n',
                         default_channels='["m"]')
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    with ledger.transaction():
        for number in range(240):
            # Every 97 seconds across the change to GMT; some share a second (the id orders them).
            when = START + timedelta(seconds=97 * (number // 2), microseconds=0 if number % 3 else 250000)
            flags = ["foi"] if number % 7 == 0 else ["complaint", "urgent"] if number % 5 == 0 else []
            store.record(ledger, "m" if number % 4 else "n", "mastodon",
                         Incoming(str(number), "mention" if number % 6 == 0 else "reply", f"Message {number}",
                                  when, author=f"@r{number % 13}", own=number % 11 == 0), flags=flags)
    for message_id, state in ((3, "assigned"), (8, "closed"), (15, "answered")):
        store.change(ledger, message_id, "triage", actor="test", to_state=state, assignee="Ann", tags=["bins"])
    ledger.close()
    return config


FILTERS = [{}, {"state": "new"}, {"state": "assigned"}, {"channel": "n"}, {"flag": "foi"}, {"flag": "urgent"},
           {"since": START + timedelta(hours=2)}, {"channel": "m", "flag": "complaint"}, {"own": True}]


@pytest.mark.parametrize("narrow", FILTERS)
def test_pages_by_offset_and_by_the_last_row_are_the_full_listing(filled, narrow):
    ledger = Ledger(filled.database, filled.timezone)
    try:
        full = store.messages(ledger, **narrow)
        assert store.count(ledger, **narrow) == len(full)
        by_offset = [row for start in range(0, len(full) + 7, 7)
                     for row in store.messages(ledger, limit=7, offset=start, **narrow)]
        assert by_offset == full
        by_key, last = [], None
        while True:
            page = store.messages(ledger, limit=7, before=last, **narrow)
            if not page:
                break
            by_key += page
            last = (page[-1]["created_at"], page[-1]["id"])
        assert by_key == full
        assert [row[0] for row in store.listed(ledger, **narrow)] == [row["id"] for row in full]
    finally:
        ledger.close()


def test_flag_filter_matches_the_whole_word_only(filled):
    ledger = Ledger(filled.database, filled.timezone)
    try:
        store.change(ledger, 2, "tag", actor="test", flags=["foi-like"])
        foi = store.messages(ledger, flag="foi")
        assert foi and all("foi" in row["flags"] for row in foi) and 2 not in {row["id"] for row in foi}
    finally:
        ledger.close()


def test_counts_by_state_are_the_listing_counted(filled):
    ledger = Ledger(filled.database, filled.timezone)
    try:
        full = store.messages(ledger)
        counted = store.count_by_state(ledger)
        assert counted == {state: sum(r["state"] == state for r in full) for state in store.STATES}
        assert counted["assigned"] == 1 and counted["closed"] == 1 and counted["answered"] == 1
        assert store.count_by_state(ledger, channel="n")["new"] == sum(
            r["state"] == "new" and r["channel"] == "n" for r in full)
    finally:
        ledger.close()


@pytest.mark.parametrize("limit", [0, 5])
def test_the_lean_listing_is_public_message_of_every_row(filled, limit):
    listed = list_messages(filled, limit=limit)
    ledger = Ledger(filled.database, filled.timezone)
    try:
        expected = [public_message(row, filled.timezone) for row in store.messages(ledger, limit=limit or None)]
    finally:
        ledger.close()
    assert listed == expected and len(listed) == (limit or 240 - 22)
    # Times across the change: 00:59 BST on 25 Oct is 23:59 UTC; 01:00 GMT follows 01:59 BST.
    shown = {row["created_at"][-6:] for row in listed}
    assert shown == ({"+01:00", "+00:00"} if not limit else shown)


@pytest.mark.parametrize("zone", ["Europe/London", "Australia/Lord_Howe", "America/St_Johns", "Europe/Dublin",
                                  "Asia/Kathmandu", "America/Los_Angeles", "Pacific/Kiritimati"])
def test_local_times_are_zoneinfo_s_own(zone):
    """The definition is `fromisoformat(key).astimezone(tz).isoformat()`; Lord Howe's clocks
    move by half an hour and Dublin's 1916 offset (Dublin Mean Time, -0:25:21) has seconds;
    Los Angeles (-8:00) and Kiritimati (+14:00) move the date across a new year and 29 February."""
    tz = ZoneInfo(zone)
    local = LocalTimes(tz)
    starts = [datetime(2026, 3, 29, tzinfo=timezone.utc), datetime(2026, 10, 25, tzinfo=timezone.utc),
              datetime(2026, 4, 4, 14, tzinfo=timezone.utc), datetime(2026, 10, 3, 15, tzinfo=timezone.utc),
              datetime(1916, 10, 1, tzinfo=timezone.utc), datetime(1916, 5, 21, tzinfo=timezone.utc),
              datetime(2026, 12, 31, 21, tzinfo=timezone.utc), datetime(2028, 2, 28, 21, tzinfo=timezone.utc)]
    for start in starts:
        for seconds in range(0, 6 * 3600, 13):
            moment = start + timedelta(seconds=seconds, microseconds=0 if seconds % 2 else seconds)
            key = moment.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            assert local(key) == datetime.fromisoformat(key).astimezone(tz).isoformat(), key
    other = "2026-10-25T01:30:00+00:00"                  # not to_utc_key's shape: the definition itself
    assert local(None) is None and local(other) == datetime.fromisoformat(other).astimezone(tz).isoformat()


def test_what_a_report_reads_is_the_listing_cut_to_its_dates(filled):
    since, until = START + timedelta(hours=1), START + timedelta(hours=2, minutes=30)
    ledger = Ledger(filled.database, filled.timezone)
    try:
        full = store.messages(ledger)
        expected = [{k: row[k] for k in store.REPORTED} for row in full
                    if store.to_utc_key(since) <= row["created_at"] < store.to_utc_key(until)]
        assert store.reported(ledger, since=since, until=until) == expected and expected
        assert store.reported(ledger) == [{k: row[k] for k in store.REPORTED} for row in full]
    finally:
        ledger.close()


def counted_from_the_listing(config, since=None, until=None, now=None):
    """`inbox report` as it was written before its counts moved into SQL (#13: the Reports
    page over 100,000 messages): Counters over the whole listing.  The new one must give the
    same figures in the same order."""
    from collections import Counter

    from schedule.inbox import report

    hours, target = report.office_hours(config), report.DEFAULT_TARGET_HOURS
    ledger = Ledger(config.database, config.timezone)
    try:
        rows = store.messages(ledger, since=since)
    finally:
        ledger.close()
    if until is not None:
        rows = [r for r in rows if r["created_at"] < store.to_utc_key(until)]
    out = []
    for channel in sorted({r["channel"] for r in rows}):
        mine = [r for r in rows if r["channel"] == channel]
        waits = [report.office_seconds(datetime.fromisoformat(r["created_at"]), datetime.fromisoformat(
            r["answered_at"]), config.timezone, hours) / 3600 for r in mine if r["answered_at"]]
        waiting = sorted((r for r in mine if r["state"] in store.OPEN_STATES), key=lambda r: r["created_at"])
        oldest = waiting[0] if waiting else None
        out.append({
            "channel": channel, "messages": len(mine), "states": dict(Counter(r["state"] for r in mine)),
            "first_response_office_hours": {"median": report._round(report._quantile(waits, 0.5)),
                                            "p90": report._round(report._quantile(waits, 0.9))},
            "target_hours": target,
            "answered_within_target": round(sum(w <= target for w in waits) / len(waits), 3) if waits else None,
            "by_item": dict(Counter(r["item"] or "(not a reply to a post)" for r in mine).most_common()),
            "by_flag": dict(Counter(f for r in mine for f in r["flags"]).most_common()),
            "oldest_unanswered": None if oldest is None else {
                "id": oldest["id"], "created_at": datetime.fromisoformat(oldest["created_at"]).astimezone(
                    config.timezone).isoformat(), "author": oldest["author"],
                "office_hours_waiting": report._round(report.office_seconds(
                    datetime.fromisoformat(oldest["created_at"]), now, config.timezone, hours) / 3600)}})
    return out


@pytest.mark.parametrize("since, until", [(None, None), (START + timedelta(hours=1), START + timedelta(hours=3))])
def test_the_report_counted_by_sql_is_the_report_counted_over_the_listing(filled, since, until):
    from schedule.inbox import report

    ledger = Ledger(filled.database, filled.timezone)
    with ledger.transaction():
        for number, message_id in enumerate(range(5, 200, 9)):
            row = store.message(ledger, message_id)
            if row["own"]:
                continue
            answered = datetime.fromisoformat(row["created_at"]) + timedelta(hours=2 + number * 7)
            store.change(ledger, message_id, "answered", actor="test", to_state="answered",
                         answered_at=store.to_utc_key(answered))
        for message_id in range(2, 240, 17):              # replies to posts: items with equal counts
            ledger.db.execute("UPDATE inbox_messages SET item = ? WHERE id = ?", [f"item-{message_id % 3}", message_id])
    ledger.close()
    now = START + timedelta(days=3)
    expected = counted_from_the_listing(filled, since, until, now)
    got = report.report(filled, since, until, now=now)
    assert got == expected
    assert [list(c["by_item"]) for c in got] == [list(c["by_item"]) for c in expected]       # same order too
    assert [list(c["by_flag"]) for c in got] == [list(c["by_flag"]) for c in expected]
    assert [list(c["states"]) for c in got] == [list(c["states"]) for c in expected]
    assert any(c["first_response_office_hours"]["median"] for c in got)


def test_the_report_kept_between_requests_is_recounted_after_an_erasure_and_a_change(filled):
    """#13: the Reports page keeps the counts while the inbox is unchanged; an erasure
    (records.forget, as the GDPR right to erasure asks) or a triage change must show at once,
    the figures equal to a recount over the listing."""
    from schedule.inbox import records, report

    now = START + timedelta(days=3)
    first = report.report(filled, now=now)
    assert first == counted_from_the_listing(filled, now=now)
    oldest = first[0]["oldest_unanswered"]
    assert oldest["author"] != records.ERASED
    assert records.forget(filled, oldest["author"], actor="test") > 0
    erased = report.report(filled, now=now)
    assert erased == counted_from_the_listing(filled, now=now)
    assert erased[0]["oldest_unanswered"]["author"] == records.ERASED
    ledger = Ledger(filled.database, filled.timezone)
    store.change(ledger, oldest["id"], "answered", actor="test", to_state="answered",
                 answered_at=store.to_utc_key(START + timedelta(days=1)))
    ledger.close()
    answered = report.report(filled, now=now)
    assert answered == counted_from_the_listing(filled, now=now)
    assert answered[0]["oldest_unanswered"]["id"] != oldest["id"]


def test_the_digest_read_by_sql_is_the_digest_over_the_listing(filled):
    """#13: the daily digest reads only the waiting flagged and FOI messages; its text is
    what it was when it filtered the whole listing (written out here as it was)."""
    from datetime import date

    from schedule.inbox import records

    ledger = Ledger(filled.database, filled.timezone)
    try:
        with ledger.transaction():
            for message_id in range(1, 240, 10):      # FOI deadlines, some near, some far (20 working days)
                ledger.db.execute("UPDATE inbox_messages SET foi_due = ? WHERE id = ?",
                                  [(date(2026, 10, 26) + timedelta(days=message_id % 40)).isoformat(), message_id])
        now = START + timedelta(days=1)
        local = now.astimezone(filled.timezone)
        waiting = [r for r in store.messages(ledger) if r["state"] in store.OPEN_STATES]
        flagged = [r for r in waiting if r["flags"]]
        foi = [r for r in waiting if r["foi_due"] and records.working_days_until(
            local.date(), date.fromisoformat(r["foi_due"])) <= 5]
        lines = [f"{len(waiting)} message(s) waiting for an answer; {len(flagged)} flagged."]
        lines += [f"FOI due {r['foi_due']}: message {r['id']} from {r['author']} on {r['channel']}"
                  for r in sorted(foi, key=lambda r: r["foi_due"])]
        lines += [f"[{', '.join(r['flags'])}] message {r['id']} from {r['author']} on {r['channel']}: "
                  f"{(r['text'] or '')[:100]}" for r in flagged[:20]]
        lines.append("python bot.py inbox --state new")
        expected = (f"civicpost inbox: {len(waiting)} waiting, {len(foi)} FOI near due", "\n".join(lines))
        assert foi and len(flagged) > 20
        assert records.digest(filled, ledger, now=now) == expected
    finally:
        ledger.close()


def test_the_report_is_counted_again_in_the_background_when_the_inbox_changes(filled):
    """#13: beside the web page, keep_warm recounts the whole-period report as soon as the
    inbox's change stamp moves, so a visit finds the counts kept for the current stamp."""
    import threading
    import time

    from schedule.inbox import records, report

    stop = threading.Event()
    worker = threading.Thread(target=report.keep_warm, args=(filled, stop, 0.05), daemon=True)
    worker.start()

    def kept_stamp():
        ledger = Ledger(filled.database, filled.timezone)
        try:
            current = store.change_stamp(ledger)
        finally:
            ledger.close()
        with report._kept_lock:
            return [v[0] for k, v in report._kept_facts.items() if k[0] == str(filled.database) and k[1:] == (None, None)
                    and v[0] == current]

    try:
        deadline = time.monotonic() + 10
        while not kept_stamp() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kept_stamp(), "the report was not counted ahead of the page"
        author = report.report(filled)[0]["oldest_unanswered"]["author"]
        records.forget(filled, author, actor="test")                   # the stamp moves
        deadline = time.monotonic() + 10
        while not kept_stamp() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kept_stamp(), "the report was not counted again after the inbox changed"
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
