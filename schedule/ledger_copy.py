"""`bot.py ledger copy --to URL`: move a ledger between SQLite and PostgreSQL (#12).

Every row of every table both ledgers have (deliveries, parts, events, meta and whatever
later migrations add) is copied with its id, so event ids, delivery ids in the trail and
`queue --json` ids stay the same.  The source is read inside one transaction (a
consistent picture even if someone writes meanwhile); the target must be empty and is
written in one transaction, so a copy that fails half-way leaves nothing behind.
"""
from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from .database import is_postgres, open_spec
from .errors import LedgerError
from .ledger import Ledger

FIRST = ("deliveries", "parts", "events", "meta")        # known tables first, then any others
BATCH = 1000


def _columns(ledger: Ledger, table: str) -> list[str]:
    cursor = ledger.db.execute(f'SELECT * FROM "{table}" LIMIT 0')
    return [d[0] for d in cursor.description]


def _tables(ledger: Ledger) -> list[str]:
    names = [t for t in ledger.db.table_names() if not t.startswith("sqlite_")]
    return [t for t in FIRST if t in names] + sorted(t for t in names if t not in FIRST)


def _write_rows(target: Ledger, table: str, columns: list[str], rows: list[tuple]) -> None:
    sql = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'
    if is_postgres(getattr(target, "url", None)):
        from .ledger_postgres import _params, to_pg_sql
        with target.db.conn.cursor() as cursor:
            cursor.executemany(to_pg_sql(sql), [_params(r) for r in rows])
    else:
        target.db.conn.executemany(sql, rows)


def _restart_ids(target: Ledger, table: str) -> None:
    """PostgreSQL hands out ids from a sequence that explicit ids do not move: start it
    after the highest copied one, or the next add would collide.  SQLite needs nothing."""
    if is_postgres(getattr(target, "url", None)) and "id" in _columns(target, table):
        target.db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                          f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"), false) '
                          f"WHERE pg_get_serial_sequence('{table}', 'id') IS NOT NULL")


def copy_ledger(source_spec: str | Path, target_spec: str | Path, tz: ZoneInfo) -> dict[str, int]:
    """Copy every row from one ledger to an empty other; the row count per table."""
    if str(source_spec) == str(target_spec):
        raise LedgerError("ledger copy: --to names the ledger being copied: give another database or file")
    probe = open_spec(source_spec, tz, readonly=True)
    if probe is None:
        raise LedgerError(f"ledger copy: there is no ledger at {source_spec} to copy: check [database] url or --from")
    probe.close()
    source = open_spec(source_spec, tz)               # brings an older schema up to date first, as every command does
    target = open_spec(target_spec, tz)
    counts: dict[str, int] = {}
    try:
        if source.get_meta("schema_version") != target.get_meta("schema_version"):
            raise LedgerError(f"ledger copy: {source_spec} has schema {source.get_meta('schema_version')} and "
                              f"{target_spec} {target.get_meta('schema_version')}: run the same civicpost on both")
        tables = [t for t in _tables(source) if t in set(target.db.table_names())]
        for table in tables:
            if table != "meta" and target.db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]:
                raise LedgerError(f"ledger copy: {target_spec} already has rows in {table}: copy into an empty "
                                  "database or a new file, never over a ledger in use")
        # The source's transaction holds its write lock (BEGIN IMMEDIATE on SQLite, the
        # advisory write lock on PostgreSQL): nobody writes to it while it is read.
        with source.transaction(), target.transaction():
            target.db.execute("DELETE FROM meta")     # only its fresh schema_version, replaced by the source's
            for table in tables:
                columns = [c for c in _columns(source, table) if c in set(_columns(target, table))]
                order = " ORDER BY id" if "id" in columns else ""
                cursor = source.db.execute(f'SELECT {", ".join(columns)} FROM "{table}"{order}')
                counts[table] = 0
                while rows := [tuple(r) for r in cursor.fetchmany(BATCH)]:
                    _write_rows(target, table, columns, rows)
                    counts[table] += len(rows)
                _restart_ids(target, table)
        for table, count in counts.items():          # read back: what landed is what was there
            landed = target.db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
            if landed != count:
                raise LedgerError(f"ledger copy: {table}: {count} rows read but {landed} in {target_spec}")
    finally:
        source.close()
        target.close()
    return counts
