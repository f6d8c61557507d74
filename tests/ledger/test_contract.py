"""One contract for every ledger back end (#12), as APScheduler runs one job-store suite
over every store: each test runs on SQLite and on a real PostgreSQL 15.

What the daemon relies on: a state change and its event land together or not at all;
``transition`` is a compare-and-set that says False when someone else moved the row (two
connections, not just two threads); the schema is versioned and a newer one refused;
other connections' changes are noticed (SQLite's data_version, PostgreSQL's NOTIFY); a
write that cannot land is a BotError and changes nothing.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from schedule.errors import BotError
from schedule.ledger import STATES
from schedule.ledger_schema import MIGRATIONS, SCHEMA_VERSION

WHEN = datetime(2027, 1, 14, 10, 0, tzinfo=timezone.utc)


def test_schema_is_versioned_and_reopening_does_not_migrate_again(spec, open_ledger_at):
    ledger = open_ledger_at(spec)
    assert ledger.get_meta("schema_version") == str(SCHEMA_VERSION) == str(len(MIGRATIONS))
    assert {"deliveries", "parts", "events", "meta"} <= set(ledger.db.table_names())
    delivery = ledger.add("bins", "log", "log", WHEN)
    ledger.close()
    again = open_ledger_at(spec)
    assert again.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert again.get(delivery)["item"] == "bins"          # nothing re-created under the data


def test_newer_schema_is_refused(spec, open_ledger_at):
    ledger = open_ledger_at(spec)
    ledger.set_meta(schema_version=len(MIGRATIONS) + 1)
    ledger.close()
    with pytest.raises(BotError, match="newer civicpost"):
        open_ledger_at(spec)


def test_read_only_open_never_creates_a_ledger(spec, open_ledger_at):
    assert open_ledger_at(spec, readonly=True) is None
    open_ledger_at(spec).add("bins", "log", "log", WHEN)
    reader = open_ledger_at(spec, readonly=True)
    assert [r["item"] for r in reader.deliveries()] == ["bins"]
    with pytest.raises(BotError):
        reader.add("road", "log", "log", WHEN)            # read-only means read-only on both


def test_transition_is_compare_and_set_with_one_event(ledger):
    delivery = ledger.add("bins", "log", "log", WHEN)
    assert ledger.transition(delivery, "publishing", expect=["scheduled"], attempts=1)
    assert not ledger.transition(delivery, "publishing", expect=["scheduled"])
    row = ledger.get(delivery)
    assert row["state"] == "publishing" and row["attempts"] == 1
    kinds = [(e["kind"], e["from_state"], e["to_state"]) for e in ledger.events(delivery)]
    assert kinds == [("planned", None, "scheduled"), ("publishing", "scheduled", "publishing")]
    assert not ledger.transition(delivery + 1000, "posted")      # no such row: nothing, no event
    assert len(ledger.events()) == 2


def test_a_failed_add_leaves_neither_row_nor_event(ledger):
    ledger.add("bins", "log", "log", WHEN)
    with pytest.raises(BotError):
        ledger.add("bins", "log", "log", WHEN)            # (item, channel, planned_at) is unique
    assert len(ledger.deliveries()) == 1 and len(ledger.events()) == 1


def test_an_error_inside_a_transaction_rolls_back_the_state_and_its_event(ledger):
    delivery = ledger.add("bins", "log", "log", WHEN)
    with pytest.raises(RuntimeError):
        with ledger.transaction():
            ledger.transition(delivery, "publishing", expect=["scheduled"])
            ledger.set_meta(paused="1")
            raise RuntimeError("the process fails between two writes")
    assert ledger.get(delivery)["state"] == "scheduled"
    assert ledger.get_meta("paused") is None
    assert [e["kind"] for e in ledger.events(delivery)] == ["planned"]


def test_queries_fields_and_parts(ledger):
    first = ledger.add("bins", "x", "x", WHEN, text="Bins on Friday", dry_run=True)
    later = ledger.add("road", "x", "x", WHEN + timedelta(hours=2))
    ledger.update(later, kind="rendered", reason="new text", text="Road shut", detail={"chars": 9})
    assert [r["id"] for r in ledger.deliveries(states=["scheduled"], since=WHEN, until=WHEN + timedelta(hours=1))] \
        == [first]
    assert ledger.get(first)["dry_run"] == 1 and ledger.get(later)["text"] == "Road shut"
    assert [r["id"] for r in ledger.open_due_before(WHEN + timedelta(minutes=1))] == [first]
    assert ledger.next_open()["item"] == "bins"
    assert ledger.events(later, kind="rendered")[0]["detail"] == '{"chars": 9}'
    ledger.record_part(first, 1, "222", "https://x.com/c/status/222", {"cid": "b"})
    ledger.record_part(first, 0, "111", "https://x.com/c/status/111")
    ledger.record_part(first, 1, "223", "https://x.com/c/status/223", {"cid": "c"})    # re-recorded: replaced
    assert [(p["idx"], p["remote_id"]) for p in ledger.parts(first)] == [(0, "111"), (1, "223")]
    assert ledger.parts(first)[1]["extra"] == {"cid": "c"}
    public = ledger.as_public(ledger.get(first))
    assert public["planned_at"] == "2027-01-14T10:00:00+00:00" and public["dry_run"] is True


def test_meta_and_the_sql_other_modules_run(ledger):
    """Modules such as alerts, tokens and the inbox store run SQLite-style SQL through
    ``db.execute`` / ``_query`` / ``_insert``: '?' placeholders, LIKE with a literal '%'."""
    ledger.set_meta(**{"auth_failed:x": "401", "auth_failed:fb": None, "paused": "1"})
    rows = ledger.db.execute("SELECT key, value FROM meta WHERE key LIKE 'auth_failed:%' AND value IS NOT NULL")
    assert [tuple(r) for r in rows] == [("auth_failed:x", "401")]
    assert ledger.db.execute("SELECT value FROM meta WHERE key = ?", ["paused"]).fetchone()[0] == "1"
    assert ledger.get_meta("nothing", "default") == "default"
    delivery = ledger._insert("deliveries", {"item": "who?", "channel": "log", "planned_at": "2027", "state": "held",
                                             "released": True})
    assert ledger._query("SELECT item, released FROM deliveries WHERE id = ? AND item LIKE '%?'", [delivery]) \
        == [{"item": "who?", "released": 1}]
    ledger.event("alert", reason="ledger-write", detail={"n": 1})
    assert ledger.db.execute("SELECT kind FROM events WHERE reason = ? AND kind IN ('alert', 'alert-cleared') "
                             "ORDER BY id DESC LIMIT 1", ["ledger-write"]).fetchone()[0] == "alert"


def test_remote_ids_of_other_deliveries(ledger):
    first = ledger.add("bins", "x", "x", WHEN)
    second = ledger.add("road", "x", "x", WHEN)
    ledger.transition(first, "posted", remote_id="111")
    ledger.record_part(first, 1, "112", None)
    ledger.transition(second, "posted", remote_id="222")
    assert ledger.remote_ids() == {"111", "112", "222"}
    assert ledger.remote_ids(exclude=first) == {"222"}


def test_who_cancelled_and_alert_keys(ledger):
    first = ledger.add("bins", "x", "x", WHEN)
    second = ledger.add("road", "x", "x", WHEN)
    ledger.transition(first, "cancelled", actor="amy")
    ledger.transition(first, "scheduled", actor="planner")
    ledger.transition(first, "cancelled", actor="bob")
    assert ledger.cancelled_by([first, second]) == {first: "bob"}
    for key in ("blocked:content/a.md:1", "blocked:content/b.md:2", "ledger-write"):
        ledger.event("alert", reason=key)
    assert sorted(ledger.alert_keys("blocked:")) == ["blocked:content/a.md:1", "blocked:content/b.md:2"]


def test_every_state_is_accepted(ledger):
    delivery = ledger.add("bins", "log", "log", WHEN)
    for state in STATES:
        assert ledger.transition(delivery, state)
    assert ledger.get(delivery)["state"] == STATES[-1]


def test_threads_sharing_one_ledger_keep_row_and_event_together(ledger):
    ids = [ledger.add(f"item{i}", "log", "log", WHEN) for i in range(30)]

    def move(delivery):
        ledger.transition(delivery, "publishing", expect=["scheduled"])
        ledger.transition(delivery, "posted", expect=["publishing"], remote_id=f"r{delivery}")

    threads = [threading.Thread(target=move, args=(d,)) for d in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r["state"] for r in ledger.deliveries()} == {"posted"}
    assert len(ledger.events(kind="posted")) == 30


def test_two_connections_racing_for_each_row_move_it_once(spec, open_ledger_at):
    """Two daemons (or a daemon and an operator) on separate connections: for every row
    exactly one compare-and-set wins, and exactly one event says so."""
    first, second = open_ledger_at(spec), open_ledger_at(spec)
    ids = [first.add(f"item{i}", "log", "log", WHEN) for i in range(25)]
    wins: dict[str, list[int]] = {"first": [], "second": []}
    start = threading.Barrier(2)

    def claim(name, ledger):
        start.wait()
        for delivery in ids:
            if ledger.transition(delivery, "publishing", expect=["scheduled"], actor=name):
                wins[name].append(delivery)

    threads = [threading.Thread(target=claim, args=item) for item in (("first", first), ("second", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins["first"] + wins["second"]) == ids
    events = first.events(kind="publishing")
    assert sorted(e["delivery_id"] for e in events) == ids           # one event per row, no more
    assert {e["delivery_id"]: e["actor"] for e in events} == \
        {d: name for name, won in wins.items() for d in won}


def test_read_then_write_transactions_never_interleave_across_connections(spec, open_ledger_at):
    """Callers read then write inside one transaction (a sign-off replay check, the plan)
    and rely on SQLite's BEGIN IMMEDIATE: no other connection writes in between."""
    first, second = open_ledger_at(spec), open_ledger_at(spec)
    first.set_meta(counter=0)
    start = threading.Barrier(2)

    def count(ledger):
        start.wait()
        for _ in range(20):
            with ledger.transaction():
                value = int(ledger.get_meta("counter"))
                ledger.set_meta(counter=value + 1)

    threads = [threading.Thread(target=count, args=(ledger,)) for ledger in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert first.get_meta("counter") == "40"              # no lost update


def test_changes_by_another_connection_are_noticed(spec, open_ledger_at):
    daemon = open_ledger_at(spec)
    before = daemon.data_version()
    daemon.set_meta(last_rescan="now")                    # its own writes are not a notice
    assert daemon.data_version() == before
    operator = open_ledger_at(spec)
    operator.set_meta(paused="1")
    after = daemon.data_version()
    assert after != before and daemon.get_meta("paused") == "1"
    assert daemon.data_version() == after                 # nothing new: no notice


def test_a_write_that_cannot_land_is_a_bot_error_and_changes_nothing(spec, open_ledger_at, request):
    """SQLite: the database cannot grow (a full disk).  PostgreSQL: the server drops the
    session (a failover, a network cut).  Either way: BotError, and no half-change."""
    ledger = open_ledger_at(spec)
    delivery = ledger.add("bins", "log", "log", WHEN)
    seen = ledger.data_version()
    if isinstance(spec, str):
        with request.getfixturevalue("postgres").admin() as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", [spec.rsplit("/", 1)[1]])
        with pytest.raises(BotError, match="ledger"):
            ledger.transition(delivery, "publishing", expect=["scheduled"])
        # The next change opens a new session; what was missed meanwhile is announced.
        assert ledger.data_version() != seen
        ledger.event("note", delivery, reason="back")
    else:
        ledger.db.execute("PRAGMA max_page_count = 1")
        with pytest.raises(BotError, match="full"):
            for _ in range(200):
                ledger.transition(delivery, "retrying", detail="x" * 4000)
                ledger.transition(delivery, "scheduled")
        ledger.db.execute("PRAGMA max_page_count = 1073741823")
    fresh = open_ledger_at(spec)
    row, trail = fresh.get(delivery), fresh.events(delivery)
    assert row["state"] == [e for e in trail if e["to_state"]][-1]["to_state"]     # row and trail agree
    if isinstance(spec, str):
        assert row["state"] == "scheduled" and [e["kind"] for e in trail] == ["planned", "note"]


def test_a_row_and_the_pause_are_read_together_and_a_pause_from_elsewhere_is_seen_at_once(spec, open_ledger_at):
    """`get_with_pause`: the publisher's one read of a due delivery and of `paused` (#12),
    as fresh as two reads: an operator's `pause` from another process is seen by the very
    next delivery."""
    daemon, operator = open_ledger_at(spec), open_ledger_at(spec)
    delivery = daemon.add("bins", "x", "x", datetime(2030, 1, 14, 9, 0, tzinfo=timezone.utc))
    row, paused = daemon.get_with_pause(delivery)
    assert row == daemon.get(delivery) and paused is False
    operator.set_meta(paused="1")
    assert daemon.get_with_pause(delivery) == (daemon.get(delivery), True)
    operator.set_meta(paused="0")
    assert daemon.get_with_pause(delivery)[1] is False
    assert daemon.get_with_pause(delivery + 999) == (None, False)
