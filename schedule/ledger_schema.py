"""The ledger's schema: one migration per change, the same on SQLite and PostgreSQL
(schedule/ledger_postgres.py runs them through its SQLite-to-PostgreSQL translation, so the
two schemas cannot drift apart).  ``Ledger.migrate`` runs those not yet applied, in order.
"""
from __future__ import annotations

import sqlite_utils

from .timeutil import to_utc_key, utcnow

SCHEMA_VERSION = 7                      # = len(MIGRATIONS)


def _migrate_1(db: sqlite_utils.Database) -> None:
    db.execute("""CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY, item TEXT NOT NULL, channel TEXT NOT NULL, network TEXT,
        planned_at TEXT NOT NULL, state TEXT NOT NULL, text_hash TEXT, text TEXT, title TEXT, media TEXT,
        source TEXT, item_digest TEXT, commit_sha TEXT, author TEXT, approved_by TEXT, remote_id TEXT, url TEXT,
        attempts INTEGER NOT NULL DEFAULT 0, error TEXT, next_attempt_at TEXT, retry_until TEXT, posted_at TEXT,
        idem_key TEXT, parts_text TEXT, released INTEGER NOT NULL DEFAULT 0, hold_reason TEXT,
        dry_run INTEGER NOT NULL DEFAULT 0, created_at TEXT, updated_at TEXT)""")
    db.execute("CREATE UNIQUE INDEX deliveries_key ON deliveries (item, channel, planned_at)")
    db.execute("CREATE INDEX deliveries_state ON deliveries (state, planned_at)")
    db.execute("""CREATE TABLE parts (delivery_id INTEGER NOT NULL, idx INTEGER NOT NULL, remote_id TEXT, url TEXT,
        extra TEXT, text_hash TEXT, posted_at TEXT, PRIMARY KEY (delivery_id, idx))""")
    db.execute("""CREATE TABLE events (id INTEGER PRIMARY KEY, at TEXT NOT NULL, delivery_id INTEGER, item TEXT,
        channel TEXT, kind TEXT NOT NULL, from_state TEXT, to_state TEXT, actor TEXT, reason TEXT, detail TEXT)""")
    db.execute("CREATE INDEX events_delivery ON events (delivery_id)")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")


def _migrate_2(db: sqlite_utils.Database) -> None:
    # The alert de-duplication looks up the last alert event by its key; events are never
    # pruned, so without this index every alert would scan the whole table.
    db.execute("CREATE INDEX events_alert ON events (reason, id) WHERE kind IN ('alert', 'alert-cleared')")


def _migrate_inbox(db: sqlite_utils.Database) -> None:
    """The inbox (#11): its SQL lives in schedule/inbox/store.py."""
    from .inbox.store import create_tables

    create_tables(db)


UPGRADE_AMBIGUOUS = ("left retrying by an earlier civicpost, which did not record whether its last attempt may "
                     "have reached the network: the network is asked before it is sent again")


def _migrate_old_retries(db) -> None:
    """Rows an earlier civicpost left `retrying` do not say whether their last attempt may
    have gone out (a read timeout was then an ordinary retry).  Each is marked `ambiguous`
    once, at the upgrade, so its next attempt asks the network first (#9): at worst one
    read-back, or `uncertain` where the network cannot be asked, never a second post."""
    db.execute("INSERT INTO events (at, delivery_id, item, channel, kind, from_state, to_state, actor, reason) "
               "SELECT ?, id, item, channel, 'ambiguous', state, state, 'upgrade', ? FROM deliveries "
               "WHERE state = 'retrying' AND id NOT IN (SELECT delivery_id FROM events "
               "WHERE kind = 'ambiguous' AND delivery_id IS NOT NULL)", [to_utc_key(utcnow()), UPGRADE_AMBIGUOUS])


def _migrate_read_indexes(db: sqlite_utils.Database) -> None:
    """Indexes for the pages' windowed reads (#13): deliveries by planned time whatever their
    state (a calendar week, the next 24 hours), and the inbox newest first per channel."""
    db.execute("CREATE INDEX IF NOT EXISTS deliveries_planned ON deliveries (planned_at)")
    db.execute("CREATE INDEX IF NOT EXISTS inbox_messages_channel_created ON inbox_messages (channel, created_at)")


def _migrate_cluster(db: sqlite_utils.Database) -> None:
    """Several daemons on one PostgreSQL ledger (#12, schedule/cluster.py): who holds each
    delivery and until when (epoch seconds by the *database's* clock, never a host's),
    the variant the leader rendered, the nodes, and named leases (the inbox's channels).
    The same tables on SQLite, so both schemas and `ledger copy` stay one."""
    # Idempotent (a test may replay an earlier migration and every later one).
    have = {d[0] for d in db.execute("SELECT * FROM deliveries LIMIT 0").description}
    for column, kind in (("claimed_by", "TEXT"), ("lease_until", "DOUBLE PRECISION"), ("variant", "TEXT")):
        if column not in have:
            db.execute(f"ALTER TABLE deliveries ADD COLUMN {column} {kind}")
    db.execute("""CREATE TABLE IF NOT EXISTS nodes (node_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, token TEXT NOT NULL,
        started_at DOUBLE PRECISION, heartbeat_at DOUBLE PRECISION, leader INTEGER NOT NULL DEFAULT 0,
        publishing TEXT, stopped_at DOUBLE PRECISION, stop_reason TEXT)""")
    db.execute("CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, node TEXT, lease_until DOUBLE PRECISION)")


def _migrate_inbox_updated_index(db: sqlite_utils.Database) -> None:
    """The inbox's last change in one index lookup (#13): `inbox report` keeps its counts
    while nothing in the inbox has changed (schedule/inbox/store.py change_stamp)."""
    db.execute("CREATE INDEX IF NOT EXISTS inbox_messages_updated ON inbox_messages (updated_at)")


# Append a function here for every schema change; never edit a released one.
MIGRATIONS = [_migrate_1, _migrate_2, _migrate_inbox, _migrate_old_retries, _migrate_read_indexes, _migrate_cluster,
              _migrate_inbox_updated_index]
