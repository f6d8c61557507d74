"""The ledger: the only module that touches SQLite (through sqlite-utils).

One row per delivery (item x channel x planned time), one row per posted thread part,
and an append-only ``events`` table.  Every state change is one transaction that updates
the row *and* appends its event, so the trail can never disagree with the state.  Rows
are never deleted.  WAL mode lets operator commands write while the daemon runs.
"""
from __future__ import annotations

import getpass
import json
import os
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import sqlite_utils

from .errors import LedgerError
from .ledger_schema import MIGRATIONS
from .timeutil import iso_seconds, to_utc_key, utcnow

STATES = ("scheduled", "publishing", "posted", "retrying", "failed", "missed", "held", "cancelled", "uncertain",
          "blocked")
# May still go out.  `blocked`: the content file has errors; it goes back to `scheduled` by
# itself when the file is fixed.
OPEN_STATES = ("scheduled", "retrying", "held", "blocked")
FINAL_STATES = ("posted", "failed", "missed", "cancelled", "uncertain")


def operator() -> str:
    """The OS user behind an operator command (recorded with every action)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return str(os.getuid())


def _private(path: Path) -> None:
    """The ledger holds post text, authors and errors: readable by its owner only, even
    outside systemd (whose UMask would otherwise be the only guard).  SQLite creates the
    -wal and -shm files with the database file's permissions (os_unix.c findCreateFileMode),
    so creating the file 0600 covers all three; an older ledger loses its world bits."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if name.exists() and name.stat().st_mode & 0o007:
                name.chmod(name.stat().st_mode & 0o770)
    except OSError:
        pass                        # reported by sqlite3.connect, with the fix, just after


class Ledger:
    """Reads go through sqlite-utils; writes are plain SQL inside one explicit
    transaction, because sqlite-utils' insert/update commit on their own and a state
    change must land together with its event."""

    def __init__(self, path: str | Path, tz: ZoneInfo | None = None, readonly: bool = False):
        self.path = Path(path)
        self.tz = tz or ZoneInfo("Europe/London")
        self.lock = threading.RLock()
        self.depth = threading.local()
        try:
            if readonly:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, timeout=10,
                                       isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _private(self.path)
                conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10, isolation_level=None)
            self.db = sqlite_utils.Database(conn)
            if not readonly:
                self.db.enable_wal()
                # FULL: a commit that returned is on disk even after power loss, so a
                # 'publishing' row is never lost before the network call it guards.
                self.db.execute("PRAGMA synchronous = FULL")
                self.migrate()
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {self.path}: {exc}: check the [paths] database setting and that the folder "
                           "is writable") from None

    # ----- schema ----------------------------------------------------------------
    def migrate(self) -> None:
        with self.transaction():
            if "meta" not in self.db.table_names():
                version = 0
            else:
                version = int(self.get_meta("schema_version") or 0)
            if version > len(MIGRATIONS):
                raise LedgerError(f"ledger {self.path} was written by a newer civicpost (schema {version}); upgrade")
            for number in range(version, len(MIGRATIONS)):
                MIGRATIONS[number](self.db)
                self._put_meta("schema_version", str(number + 1))

    def close(self) -> None:
        self.db.conn.close()

    # ----- transactions ----------------------------------------------------------
    def transaction(self):
        return _Transaction(self)

    def _query(self, sql: str, args: list | tuple = ()) -> list[dict]:
        """Rows as dicts, under the lock.  Not sqlite-utils' query(): it wraps each read in
        a SAVEPOINT, which would open a transaction under another thread's feet."""
        with self.lock:
            cursor = self.db.conn.execute(sql, args)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def data_version(self) -> int:
        """Changes by *other* connections (operator commands) bump this: cheap to poll."""
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    # ----- meta ------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        if not getattr(self, "has_meta", False):
            if "meta" not in self.db.table_names():
                return default
            self.has_meta = True              # never dropped: not asked again on every delivery
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def set_meta(self, **values: Any) -> None:
        with self.transaction():
            for key, value in values.items():
                self._put_meta(key, None if value is None else str(value))

    def _put_meta(self, key: str, value: str | None) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                        "excluded.value", [key, value])

    def _insert(self, table: str, row: dict) -> int:
        cur = self.db.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                              list(row.values()))
        return int(cur.lastrowid)

    # ----- deliveries ------------------------------------------------------------
    def add(self, item: str, channel: str, network: str, planned_at: datetime, state: str = "scheduled",
            actor: str = "planner", reason: str | None = None, **fields: Any) -> int:
        now = to_utc_key(utcnow())
        with self.transaction():
            row = {"item": item, "channel": channel, "network": network, "planned_at": to_utc_key(planned_at),
                   "state": state, "attempts": 0, "created_at": now, "updated_at": now, **fields}
            delivery_id = self._insert("deliveries", row)
            self._event(delivery_id, item, channel, "planned", None, state, actor, reason)
        return int(delivery_id)

    def get(self, delivery_id: int) -> dict | None:
        rows = self._query("SELECT * FROM deliveries WHERE id = ?", [delivery_id])
        return rows[0] if rows else None

    def get_with_pause(self, delivery_id: int) -> tuple[dict | None, bool]:
        """The row and whether posting is paused, read in one statement (one round trip on
        PostgreSQL: the publisher asks both of every due delivery)."""
        rows = self._query("SELECT *, (SELECT value FROM meta WHERE key = 'paused') AS paused_meta FROM deliveries "
                           "WHERE id = ?", [delivery_id])
        if not rows:
            return None, self.get_meta("paused") == "1"
        row = rows[0]
        return row, row.pop("paused_meta") == "1"

    def deliveries(self, states: Iterable[str] | None = None, since: datetime | None = None,
                   until: datetime | None = None, item: str | None = None, items: Iterable[str] | None = None,
                   order: str = "planned_at, id",
                   time_field: str = "planned_at", limit: int | None = None) -> list[dict]:
        where, args = [], []
        if states is not None:
            states = list(states)
            where.append(f"state IN ({', '.join('?' * len(states))})")
            args += states
        if since is not None:
            where.append(f"{time_field} >= ?")
            args.append(to_utc_key(since))
        if until is not None:
            where.append(f"{time_field} < ?")
            args.append(to_utc_key(until))
        if item is not None:
            where.append("item = ?")
            args.append(item)
        if items is not None:
            items = list(items)
            where.append(f"item IN ({', '.join('?' * len(items))})")
            args += items
        sql = "SELECT * FROM deliveries" + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order}"
        return self._query(sql + (f" LIMIT {int(limit)}" if limit else ""), args)

    def open_due_before(self, until: datetime) -> list[dict]:
        version = f", {self.VERSION_SQL} AS row_version" if self.VERSION_SQL else ""
        return self._query("SELECT id, item, channel, planned_at, next_attempt_at, claimed_by, lease_until"
                           f"{version} FROM deliveries WHERE state IN "
                           "('scheduled', 'retrying') AND COALESCE(next_attempt_at, planned_at) < ?",
                           [to_utc_key(until)])

    # The row's version, for ``transition(version=)``: an expression every write of the row
    # changes (PostgreSQL's xmin), or None: the digest of every column (``row_version``).
    VERSION_SQL: str | None = None

    def seen_rows(self, ids: Iterable[int]) -> list[dict]:
        """Whole rows, each with its ``row_version`` (a publisher's snapshot, schedule/
        daemon_planning.py): ``transition(version=)`` moves the row only if it is unchanged."""
        ids, rows = list(ids), []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            version = f", {self.VERSION_SQL} AS row_version" if self.VERSION_SQL else ""
            rows += self._query(f"SELECT *{version} FROM deliveries WHERE id IN ({', '.join('?' * len(chunk))})",
                                chunk)
        if not self.VERSION_SQL:
            for row in rows:
                row["row_version"] = row_version(row)
        return rows

    def cancelled_by(self, ids: Iterable[int]) -> dict[int, str]:
        """For cancelled deliveries: who cancelled them last (the actor of that event)."""
        ids, out = list(ids), {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in self._query(f"SELECT delivery_id, actor FROM events WHERE id IN (SELECT MAX(id) FROM events "
                                   f"WHERE to_state = 'cancelled' AND delivery_id IN ({', '.join('?' * len(chunk))}) "
                                   "GROUP BY delivery_id)", chunk):
                out[row["delivery_id"]] = row["actor"]
        return out

    def alert_keys(self, prefix: str) -> list[str]:
        """The alert keys sent so far that start with ``prefix`` (to clear them)."""
        # A range on reason, with the alert index's own condition, so the index does the work.
        rows = self._query("SELECT DISTINCT reason FROM events WHERE kind IN ('alert', 'alert-cleared') AND "
                           "reason >= ? AND reason < ?", [prefix, prefix + "\U0010ffff"])
        return [r["reason"] for r in rows]

    def next_open(self) -> dict | None:
        rows = self._query("SELECT item, channel, planned_at FROM deliveries WHERE state IN ('scheduled', "
                           "'retrying') ORDER BY COALESCE(next_attempt_at, planned_at) LIMIT 1")
        return rows[0] if rows else None

    def transition(self, delivery_id: int, to_state: str, *, expect: Iterable[str] | None = None,
                   actor: str = "daemon", reason: str | None = None, kind: str | None = None,
                   detail: Any = None, holder: str | None = None, claim: float | None = None,
                   unchanged: dict | None = None, version: str | None = None, unpaused: bool = False,
                   **fields: Any) -> bool:
        """Move a delivery to ``to_state`` if it is in one of ``expect``; one transaction
        with its event.  Returns False (and changes nothing) if someone moved it first.

        ``holder`` (a node of several daemons, schedule/cluster.py): the fencing check, in
        the same transaction as the change: refused (False) unless that node still holds
        the row's claim and its lease has not run out by the database's clock.  A move out
        of `publishing` ends the lease (the row is free for whichever node comes next).

        ``claim`` (seconds, with ``holder``): claim the row in the move instead: allowed if
        it is unclaimed, ``holder``'s, or its lease ran out (database clock); it is then
        ``holder``'s, with a lease of ``claim`` seconds on a move to `publishing` (any other
        move ends the lease, as above).

        ``unchanged``: columns that must still hold these values (what the caller rendered
        from, e.g. ``item_digest``): a re-plan that recorded an edit meanwhile wins.

        ``version`` (a ``seen_rows`` row's ``row_version``): refused unless the row is exactly
        as it was then (no write of any kind since).  ``unpaused``: refused while posting is
        paused (the `paused` meta row, read in the same transaction or statement)."""
        return self._transition(delivery_id, to_state, expect=expect, actor=actor, reason=reason, kind=kind,
                                detail=detail, holder=holder, claim=claim, unchanged=unchanged, version=version,
                                unpaused=unpaused, **fields) is not None

    def transition_row(self, delivery_id: int, to_state: str, **how: Any) -> dict | None:
        """``transition``, giving back the row after the move (as ``get`` would), or None."""
        return self._transition(delivery_id, to_state, want_row=True, **how)

    def transition_with_parts(self, delivery_id: int, to_state: str, parts: Iterable[tuple], **how: Any) -> bool:
        """``record_part`` for each of ``parts`` and ``transition``, together (one statement on
        PostgreSQL): the last part with `posted`, recorded even if the row does not move."""
        return self._transition(delivery_id, to_state, parts=list(parts), **how) is not None

    def _transition(self, delivery_id: int, to_state: str, *, expect: Iterable[str] | None = None,
                    actor: str = "daemon", reason: str | None = None, kind: str | None = None, detail: Any = None,
                    holder: str | None = None, claim: float | None = None, unchanged: dict | None = None,
                    want_row: bool = False, parts: list | tuple = (), version: str | None = None,
                    unpaused: bool = False, **fields: Any) -> dict | None:
        """The three above (PostgreSQL's one statement keeps these rules): the row after (or before) the move."""
        assert to_state in STATES, to_state
        if claim is not None and holder is None:
            raise ValueError("transition(claim=...) needs holder=: the node that claims the row")
        with self.transaction():
            for part in parts:
                self.record_part(delivery_id, *part)        # (index, remote_id, url, extra, text_hash)
            row = self.get(delivery_id)
            if row is None or (expect is not None and row["state"] not in set(expect)):
                return None
            if unchanged and any(row.get(k) != v for k, v in unchanged.items()):
                return None
            if (version is not None and row_version(row) != version) or (unpaused and self.get_meta("paused") == "1"):
                return None
            if holder is not None:
                if claim is not None:           # refused while another node's lease runs
                    now = self._clock()
                    if row["claimed_by"] not in (None, holder) and (row["lease_until"] or now - 1) >= now:
                        return None
                    fields["claimed_by"] = holder
                    if to_state == "publishing":
                        fields.setdefault("lease_until", now + claim)
                elif not self.holds(delivery_id, holder):
                    return None
                if to_state != "publishing":
                    fields.setdefault("lease_until", None)
            self._update(delivery_id, {"state": to_state, "updated_at": to_utc_key(utcnow()), **fields})
            self._event(delivery_id, row["item"], row["channel"], kind or to_state, row["state"], to_state,
                        actor, reason, detail)
            return self.get(delivery_id) if want_row else row

    def _clock(self) -> float:
        return time.time()              # leases' clock: SQLite has one daemon, so this host's

    def update(self, delivery_id: int, kind: str | None = None, actor: str = "daemon", reason: str | None = None,
               detail: Any = None, **fields: Any) -> None:
        """Change fields without a state change (re-rendered text, new retry time)."""
        with self.transaction():
            row = self.get(delivery_id)
            if row is None:
                return
            self._update(delivery_id, {"updated_at": to_utc_key(utcnow()), **fields})
            if kind:
                self._event(delivery_id, row["item"], row["channel"], kind, row["state"], row["state"], actor,
                            reason, detail)

    def holds(self, delivery_id: int, node: str) -> bool:
        """Whether ``node`` holds this row's claim with a lease still running.  SQLite has one
        daemon (schedule/lock.py), so its own clock is the only one."""
        rows = self._query("SELECT claimed_by, lease_until FROM deliveries WHERE id = ?", [delivery_id])
        return bool(rows) and rows[0]["claimed_by"] == node and (rows[0]["lease_until"] or 0) > time.time()

    def _update(self, delivery_id: int, fields: dict) -> None:
        self.db.execute(f"UPDATE deliveries SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                        [*fields.values(), delivery_id])

    # ----- parts (thread posts) --------------------------------------------------
    def record_part(self, delivery_id: int, index: int, remote_id: str, url: str | None,
                    extra: dict | None = None, text_hash: str | None = None) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO parts (delivery_id, idx, remote_id, url, extra, text_hash, "
                            "posted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [delivery_id, index, remote_id, url, json.dumps(extra or {}, default=str), text_hash,
                             to_utc_key(utcnow())])

    def remote_ids(self, exclude: int | None = None) -> set[str]:
        """Every remote id recorded for a delivery other than ``exclude`` (its post or a thread
        part): a read-back after a crash never takes one of these for another delivery."""
        rows = self._query("SELECT remote_id FROM deliveries WHERE remote_id IS NOT NULL AND id IS NOT ? UNION "
                           "SELECT remote_id FROM parts WHERE remote_id IS NOT NULL AND delivery_id IS NOT ?",
                           [exclude, exclude])
        return {row["remote_id"] for row in rows}

    def parts(self, delivery_id: int) -> list[dict]:
        rows = self._query("SELECT * FROM parts WHERE delivery_id = ? ORDER BY idx", [delivery_id])
        for row in rows:
            row["extra"] = json.loads(row["extra"] or "{}")
        return rows

    # ----- events ----------------------------------------------------------------
    def event(self, kind: str, delivery_id: int | None = None, item: str | None = None, channel: str | None = None,
              actor: str = "daemon", reason: str | None = None, detail: Any = None) -> None:
        with self.transaction():
            self._event(delivery_id, item, channel, kind, None, None, actor, reason, detail)

    def _event(self, delivery_id, item, channel, kind, from_state, to_state, actor, reason, detail=None) -> None:
        self._insert("events", {
            "at": to_utc_key(utcnow()), "delivery_id": delivery_id, "item": item, "channel": channel, "kind": kind,
            "from_state": from_state, "to_state": to_state, "actor": actor, "reason": reason,
            "detail": json.dumps(detail, default=str) if detail is not None else None})

    def events(self, delivery_id: int | None = None, since: datetime | None = None, kind: str | None = None) -> list[dict]:
        where, args = [], []
        if delivery_id is not None:
            where.append("delivery_id = ?")
            args.append(delivery_id)
        if since is not None:
            where.append("at >= ?")
            args.append(to_utc_key(since))
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        return self._query("SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
                           + " ORDER BY id", args)

    # ----- the public shape (queue --json / history --json / export) ------------
    def as_public(self, row: dict) -> dict:
        return public_row(row, self.tz)


def row_version(row: dict) -> str:
    """SQLite's row version: a digest of every column (SQLite has no row version of its own)."""
    import hashlib
    values = json.dumps({k: v for k, v in row.items() if k != "row_version"}, sort_keys=True, default=str)
    return hashlib.blake2b(values.encode(), digest_size=16).hexdigest()


def public_row(row: dict, tz: ZoneInfo) -> dict:
    """The shape of `queue --json` and `history --json` (a documented contract)."""
    def local(key: str | None) -> str | None:
        return iso_seconds(key, tz)          # ISO 8601 with offset, no microseconds (#10)

    return {"id": row.get("id"), "item": row["item"], "channel": row["channel"], "network": row.get("network"),
            "planned_at": local(row["planned_at"]), "posted_at": local(row.get("posted_at")),
            "state": row["state"], "remote_id": row.get("remote_id"), "url": row.get("url"),
            "attempts": row.get("attempts") or 0, "error": row.get("error"), "dry_run": bool(row.get("dry_run"))}


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT under the ledger's lock, re-entrant within a thread.

    The daemon's worker threads share one connection; the lock keeps one thread's
    statements from landing inside another thread's transaction."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def __enter__(self) -> None:
        ledger = self.ledger
        ledger.lock.acquire()
        ledger.depth.value = getattr(ledger.depth, "value", 0) + 1
        if ledger.depth.value == 1:
            try:
                ledger.db.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                ledger.depth.value -= 1
                ledger.lock.release()
                raise LedgerError(f"ledger {ledger.path}: {exc}") from None

    def __exit__(self, kind, exc, tb) -> None:
        """The outermost exit commits (or, on an exception, rolls back); both back ends
        share this bookkeeping and differ only in ``commit`` and ``abandon``."""
        ledger = self.ledger
        ledger.depth.value -= 1
        try:
            if ledger.depth.value:
                return
            if kind is None:
                self.commit()
            else:
                self.abandon(exc)
        finally:
            ledger.lock.release()

    def commit(self) -> None:
        ledger, conn = self.ledger, self.ledger.db.conn
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise LedgerError(f"ledger {ledger.path}: cannot commit ({error}): is the disk full?") from None

    def abandon(self, exc: BaseException | None) -> None:
        conn = self.ledger.db.conn
        if conn.in_transaction:     # SQLite already rolled back on SQLITE_FULL
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise LedgerError(f"ledger {self.ledger.path}: {exc}: is the disk full?") from None


def open_ledger(path: Path, tz: ZoneInfo, readonly: bool = False) -> Ledger | None:
    """Read-only commands open an existing ledger and never create one."""
    if readonly and not Path(path).exists():
        return None
    return Ledger(path, tz, readonly=readonly)

