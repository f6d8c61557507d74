"""The inbox's tables in the ledger, and the only SQL the inbox runs.

Kept here rather than in ledger.py so the inbox stays its own part of the package; it
uses the Ledger's transaction (one lock, BEGIN IMMEDIATE), ``_query`` and ``_insert``,
so a message's change and its event always land together, as deliveries' do.

Nothing is deleted: an edited message keeps every version of its text in
``inbox_versions``; a message deleted on the network keeps its text with ``deleted = 1``
(house rules: the full text is recorded before anything is removed).
"""
from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Iterator

from ..model import Incoming
from ..timeutil import to_utc_key, utcnow

STATES = ("new", "assigned", "answered", "closed")
OPEN_STATES = ("new", "assigned")
# The council's own replies are stored (they answer residents, and `inbox show` shows the
# whole conversation) but are not waiting for anyone: their state is "own".
OWN_STATE = "own"


def create_tables(db) -> None:
    """The inbox's schema (the ledger's migration `_migrate_inbox` calls this)."""
    db.execute("""CREATE TABLE inbox_messages (
        id INTEGER PRIMARY KEY, network TEXT NOT NULL, channel TEXT NOT NULL, remote_id TEXT NOT NULL,
        kind TEXT NOT NULL, conversation TEXT, parent_remote_id TEXT, delivery_id INTEGER, item TEXT,
        author TEXT, author_id TEXT, text TEXT, language TEXT, created_at TEXT NOT NULL, url TEXT,
        state TEXT NOT NULL, assignee TEXT, tags TEXT NOT NULL DEFAULT '[]', flags TEXT NOT NULL DEFAULT '[]',
        foi_due TEXT, own INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, edited_at TEXT,
        version INTEGER NOT NULL DEFAULT 1, answered_at TEXT, answered_by TEXT, first_response_seconds INTEGER,
        hidden_at TEXT, received_at TEXT NOT NULL, updated_at TEXT NOT NULL)""")
    db.execute("CREATE UNIQUE INDEX inbox_messages_remote ON inbox_messages (channel, remote_id)")
    db.execute("CREATE INDEX inbox_messages_state ON inbox_messages (state, created_at)")
    db.execute("CREATE INDEX inbox_messages_created ON inbox_messages (created_at)")
    db.execute("CREATE INDEX inbox_messages_item ON inbox_messages (item)")
    db.execute("CREATE INDEX inbox_messages_conversation ON inbox_messages (channel, conversation)")
    db.execute("""CREATE TABLE inbox_versions (message_id INTEGER NOT NULL, version INTEGER NOT NULL, text TEXT,
        edited_at TEXT, seen_at TEXT NOT NULL, PRIMARY KEY (message_id, version))""")
    db.execute("""CREATE TABLE inbox_notes (id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL, at TEXT NOT NULL,
        actor TEXT, text TEXT NOT NULL)""")
    db.execute("CREATE INDEX inbox_notes_message ON inbox_notes (message_id)")
    db.execute("""CREATE TABLE inbox_events (id INTEGER PRIMARY KEY, message_id INTEGER, at TEXT NOT NULL,
        channel TEXT, kind TEXT NOT NULL, from_state TEXT, to_state TEXT, actor TEXT, reason TEXT, detail TEXT)""")
    db.execute("CREATE INDEX inbox_events_message ON inbox_events (message_id)")
    db.execute("""CREATE TABLE inbox_cursors (channel TEXT NOT NULL, kind TEXT NOT NULL, cursor TEXT,
        updated_at TEXT NOT NULL, PRIMARY KEY (channel, kind))""")


@lru_cache(maxsize=4096)
def _words(text: str | None) -> tuple[str, ...]:
    """Tags and flags are short JSON lists from a small set: parse each distinct one once
    (listing 100,000 messages would otherwise spend most of its time in json.loads)."""
    return tuple(json.loads(text or "[]"))


def _decode(row: dict) -> dict:
    row["tags"] = list(_words(row.get("tags")))
    row["flags"] = list(_words(row.get("flags")))
    row["own"] = bool(row.get("own"))
    row["deleted"] = bool(row.get("deleted"))
    return row


def _event(ledger, message_id: int | None, channel: str | None, kind: str, from_state: str | None,
           to_state: str | None, actor: str, reason: str | None = None, detail: Any = None) -> None:
    ledger._insert("inbox_events", {
        "message_id": message_id, "at": to_utc_key(utcnow()), "channel": channel, "kind": kind,
        "from_state": from_state, "to_state": to_state, "actor": actor, "reason": reason,
        "detail": json.dumps(detail, default=str, ensure_ascii=False) if detail is not None else None})


def event(ledger, kind: str, channel: str | None = None, message_id: int | None = None, actor: str = "inbox",
          reason: str | None = None, detail: Any = None) -> None:
    """An event about the inbox itself (a channel without access, a fetch that failed)."""
    with ledger.transaction():
        _event(ledger, message_id, channel, kind, None, None, actor, reason, detail)


# ----- recording what a fetch found ------------------------------------------------------
def by_remote(ledger, channel: str, remote_id: str) -> dict | None:
    rows = ledger._query("SELECT * FROM inbox_messages WHERE channel = ? AND remote_id = ?", [channel, remote_id])
    return _decode(rows[0]) if rows else None


def record(ledger, channel: str, network: str, message: Incoming, *, delivery: dict | None = None,
           flags: Iterable[str] = (), language: str | None = None, foi_due: str | None = None,
           actor: str = "inbox") -> tuple[int, str]:
    """Store one message read from a network; returns (id, what happened): "new",
    "edited" (a new version kept), "deleted" (text kept), or "same"."""
    now = to_utc_key(utcnow())
    seen = by_remote(ledger, channel, message.remote_id)
    if seen is not None and (message.text == seen["text"] or message.deleted) and \
            bool(message.deleted) <= bool(seen["deleted"]):
        return seen["id"], "same"                 # the common case: no transaction, no fsync
    with ledger.transaction():
        old = by_remote(ledger, channel, message.remote_id)
        if old is None:
            row = {"network": network, "channel": channel, "remote_id": message.remote_id, "kind": message.kind,
                   "conversation": message.conversation, "parent_remote_id": message.parent_id,
                   "delivery_id": delivery["id"] if delivery else None, "item": delivery["item"] if delivery else None,
                   "author": message.author, "author_id": message.author_id, "text": message.text,
                   "language": language or message.language, "created_at": to_utc_key(message.created_at),
                   "url": message.url, "state": OWN_STATE if message.own else "new",
                   "flags": json.dumps(sorted(set(flags))), "foi_due": foi_due, "own": int(message.own),
                   "deleted": int(message.deleted),
                   "edited_at": to_utc_key(message.edited_at) if message.edited_at else None,
                   "received_at": now, "updated_at": now}
            message_id = ledger._insert("inbox_messages", row)
            _version(ledger, message_id, 1, message.text, message.edited_at, now)
            _event(ledger, message_id, channel, "received", None, row["state"], actor,
                   detail={"kind": message.kind, "flags": sorted(set(flags))})
            return message_id, "new"
        if message.deleted and not old["deleted"]:
            # The text stays as it was last seen: the record a council keeps.
            _update(ledger, old["id"], {"deleted": 1, "updated_at": now})
            _event(ledger, old["id"], channel, "deleted-on-network", old["state"], old["state"], actor)
            return old["id"], "deleted"
        if not message.deleted and message.text != old["text"]:
            version = old["version"] + 1
            _version(ledger, old["id"], version, message.text, message.edited_at, now)
            merged = sorted(set(old["flags"]) | set(flags))
            _update(ledger, old["id"], {"text": message.text, "version": version, "flags": json.dumps(merged),
                                        "edited_at": to_utc_key(message.edited_at or utcnow()),
                                        "foi_due": old["foi_due"] or foi_due, "updated_at": now})
            _event(ledger, old["id"], channel, "edited", old["state"], old["state"], actor,
                   detail={"version": version, "flags": merged})
            return old["id"], "edited"
    return old["id"], "same"


def _version(ledger, message_id: int, version: int, text: str, edited_at: datetime | None, now: str) -> None:
    ledger._insert("inbox_versions", {"message_id": message_id, "version": version, "text": text,
                                      "edited_at": to_utc_key(edited_at) if edited_at else None, "seen_at": now})


def _update(ledger, message_id: int, fields: dict) -> None:
    ledger.db.execute(f"UPDATE inbox_messages SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                      [*fields.values(), message_id])


# ----- triage changes --------------------------------------------------------------------
def change(ledger, message_id: int, kind: str, *, actor: str, reason: str | None = None,
           to_state: str | None = None, expect: Iterable[str] | None = None, detail: Any = None,
           **fields: Any) -> dict | None:
    """Change a message (and its state) with its event, in one transaction.  Returns the
    message as it was, or None if it is missing or not in one of ``expect``."""
    with ledger.transaction():
        row = message(ledger, message_id)
        if row is None or (expect is not None and row["state"] not in set(expect)):
            return None
        values = {k: json.dumps(v) if k in ("tags", "flags") else v for k, v in fields.items()}
        if to_state:
            values["state"] = to_state
        _update(ledger, message_id, {**values, "updated_at": to_utc_key(utcnow())})
        _event(ledger, message_id, row["channel"], kind, row["state"], to_state or row["state"], actor, reason,
               detail)
    return row


def add_note(ledger, message_id: int, text: str, actor: str) -> None:
    with ledger.transaction():
        ledger._insert("inbox_notes", {"message_id": message_id, "at": to_utc_key(utcnow()), "actor": actor,
                                       "text": text})
        row = message(ledger, message_id)
        _event(ledger, message_id, row["channel"] if row else None, "note", None, None, actor, text)


# ----- reading ---------------------------------------------------------------------------
def message(ledger, message_id: int) -> dict | None:
    rows = ledger._query("SELECT * FROM inbox_messages WHERE id = ?", [message_id])
    return _decode(rows[0]) if rows else None


# The columns of the public shape (commands.public_message), in its order: a listing reads
# only these, as tuples, so 100,000 messages are not 100,000 dicts made twice.
LISTED = ("id", "network", "channel", "remote_id", "kind", "conversation", "parent_remote_id", "item", "delivery_id",
          "author", "text", "language", "created_at", "url", "state", "assignee", "tags", "flags", "foi_due",
          "deleted", "edited_at", "version", "answered_at", "first_response_seconds", "own", "hidden_at")


def _where(state: str | None = None, channel: str | None = None, item: str | None = None,
           flag: str | None = None, since: datetime | None = None, own: bool = False,
           before: tuple[str, int] | None = None) -> tuple[str, list]:
    where, args = [], []
    if not own:
        where.append("own = 0")
    for column, value in (("state", state), ("channel", channel), ("item", item)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if flag is not None:
        # flags is a JSON list of plain lower-case words (commands.FLAGS); the word between
        # its JSON quotes is that element exactly ("foi" never matches "foi-like"), and plain
        # LIKE runs on SQLite and PostgreSQL alike (json_each is SQLite's own).
        where.append("flags LIKE ?")
        args.append(f'%"{flag}"%')
    if since is not None:
        where.append("created_at >= ?")
        args.append(to_utc_key(since))
    if before is not None:
        # Keyset paging: the rows after (older than) the last one shown, in the listing's order.
        where.append("(created_at < ? OR (created_at = ? AND id < ?))")
        args += [before[0], before[0], int(before[1])]
    return (" WHERE " + " AND ".join(where) if where else ""), args


_NEWEST_FIRST = " ORDER BY created_at DESC, id DESC"


def _paged(limit: int | None, offset: int = 0) -> str:
    # SQLite needs a LIMIT before an OFFSET; the largest 64-bit one is "no limit" on both engines.
    return (f" LIMIT {int(limit)}" if limit else (f" LIMIT {2 ** 63 - 1}" if offset else "")) + \
        (f" OFFSET {int(offset)}" if offset else "")


def messages(ledger, *, state: str | None = None, channel: str | None = None, item: str | None = None,
             flag: str | None = None, since: datetime | None = None, own: bool = False,
             limit: int | None = None, offset: int = 0, before: tuple[str, int] | None = None) -> list[dict]:
    """Messages newest first; the council's own replies only when ``own``.  A page of them:
    ``limit`` and ``offset``, or ``before`` = (created_at key, id) of the last row shown."""
    where, args = _where(state, channel, item, flag, since, own, before)
    sql = "SELECT * FROM inbox_messages" + where + _NEWEST_FIRST + _paged(limit, offset)
    return [_decode(row) for row in ledger._query(sql, args)]


def listed(ledger, *, state: str | None = None, channel: str | None = None, item: str | None = None,
           flag: str | None = None, since: datetime | None = None, own: bool = False,
           limit: int | None = None, offset: int = 0, before: tuple[str, int] | None = None) -> list[tuple]:
    """`messages`' rows as stored, as tuples of the ``LISTED`` columns (tags and flags still
    JSON text: `words` reads them): the lean path for listing them all."""
    where, args = _where(state, channel, item, flag, since, own, before)
    sql = f"SELECT {', '.join(LISTED)} FROM inbox_messages" + where + _NEWEST_FIRST + _paged(limit, offset)
    with ledger.lock:                    # as Ledger._query: one thread's statement at a time
        return ledger.db.execute(sql, args).fetchall()


def listed_batches(ledger, *, state: str | None = None, channel: str | None = None, item: str | None = None,
                   flag: str | None = None, since: datetime | None = None, limit: int | None = None,
                   size: int = 2000) -> Iterator[list[tuple]]:
    """`listed`'s rows a batch at a time from the cursor: `inbox --json` writes each batch
    before it reads the next, so 100,000 messages are never all in memory at once."""
    where, args = _where(state, channel, item, flag, since)
    sql = f"SELECT {', '.join(LISTED)} FROM inbox_messages" + where + _NEWEST_FIRST + _paged(limit)
    with ledger.lock:
        cursor = ledger.db.execute(sql, args)
        while batch := cursor.fetchmany(size):
            yield batch


words = _words


# What `inbox report` reads of each message.
REPORTED = ("id", "channel", "state", "item", "flags", "author", "created_at", "answered_at")


def reported(ledger, *, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """Residents' messages from ``since`` to ``until`` (exclusive), newest first, with only
    the columns a report counts (``REPORTED``): a report over 100,000 messages reads no text."""
    where, args = _where(since=since)
    if until is not None:
        where += " AND created_at < ?"
        args.append(to_utc_key(until))
    rows = ledger._query(f"SELECT {', '.join(REPORTED)} FROM inbox_messages" + where + _NEWEST_FIRST, args)
    for row in rows:
        row["flags"] = list(_words(row["flags"]))
    return rows


def report_facts(ledger, *, since: datetime | None = None, until: datetime | None = None) -> dict[str, dict]:
    """Per channel, what `inbox report` counts, counted by SQL (a report over 100,000
    messages must not read them all): residents' messages from ``since`` to ``until``.

    ``states``, ``items`` and ``flags`` are groups (value, count, newest), ``newest`` being
    (created_at, id) of the group's newest message: the listing is newest first, so the
    report orders its counts as a Counter over the listing would (ties: first seen).
    ``answered`` is (created_at, answered_at) of each answered message; ``oldest`` the
    oldest still waiting (new or assigned)."""
    where, args = _where(since=since)
    if until is not None:
        where += " AND created_at < ?"
        args.append(to_utc_key(until))
    facts: dict[str, dict] = {}

    def channel(name: str) -> dict:
        return facts.setdefault(name, {"states": [], "items": [], "flags": [], "answered": [], "oldest": None})

    for column, key in (("state", "states"), ("item", "items"), ("flags", "flags")):
        # The newest message of each group: its created_at, then the highest id at that time.
        rows = ledger._query(
            f"SELECT g.channel, g.value, g.n, g.newest, MAX(m.id) AS top FROM (SELECT channel, {column} AS value, "
            f"COUNT(*) AS n, MAX(created_at) AS newest FROM inbox_messages{where} GROUP BY channel, {column}) g "
            f"JOIN inbox_messages m ON m.channel = g.channel AND m.created_at = g.newest AND m.own = 0 AND "
            f"(m.{column} = g.value OR (m.{column} IS NULL AND g.value IS NULL)) "
            "GROUP BY g.channel, g.value, g.n, g.newest", args)
        for row in rows:
            channel(row["channel"])[key].append((row["value"], int(row["n"]), (row["newest"], int(row["top"]))))
    for row in ledger._query(f"SELECT channel, created_at, answered_at FROM inbox_messages{where} AND "
                             "answered_at IS NOT NULL AND answered_at <> ''", args):
        channel(row["channel"])["answered"].append((row["created_at"], row["answered_at"]))
    for name, found in facts.items():
        rows = ledger._query(f"SELECT id, created_at, author FROM inbox_messages{where} AND channel = ? AND state IN "
                             f"({', '.join('?' * len(OPEN_STATES))}) ORDER BY created_at, id DESC LIMIT 1",
                             [*args, name, *OPEN_STATES])
        found["oldest"] = rows[0] if rows else None
    return facts


def change_stamp(ledger) -> tuple:
    """What changes whenever any message is added, changed, erased or removed: every write
    here and in records.py sets ``updated_at`` (to the microsecond); the count and highest id
    cover rows removed or added.  Index lookups only (inbox_messages_updated), so a reader
    can keep figures counted over every message until this changes."""
    newest = ledger._query("SELECT MAX(updated_at) AS t FROM inbox_messages")[0]["t"]
    top = ledger._query("SELECT MAX(id) AS n FROM inbox_messages")[0]["n"]
    total = ledger._query("SELECT COUNT(*) AS n FROM inbox_messages")[0]["n"]
    return newest, top, int(total)


def count(ledger, *, state: str | None = None, channel: str | None = None, item: str | None = None,
          flag: str | None = None, since: datetime | None = None, own: bool = False) -> int:
    """How many messages `messages` would list with no limit (counted by SQL)."""
    where, args = _where(state, channel, item, flag, since, own)
    return int(ledger._query("SELECT COUNT(*) AS n FROM inbox_messages" + where, args)[0]["n"])


def count_by_state(ledger, *, channel: str | None = None, item: str | None = None, flag: str | None = None,
                   since: datetime | None = None) -> dict[str, int]:
    """State -> number of residents' messages (every state, 0 when none): a triage page's tabs."""
    where, args = _where(None, channel, item, flag, since)
    found = {r["state"]: int(r["n"]) for r in ledger._query(
        "SELECT state, COUNT(*) AS n FROM inbox_messages" + where + " GROUP BY state", args)}
    return {state: found.get(state, 0) for state in STATES}


def conversation(ledger, row: dict) -> list[dict]:
    """Every stored message of ``row``'s conversation, oldest first (own replies included)."""
    key = row["conversation"] or row["remote_id"]
    rows = ledger._query("SELECT * FROM inbox_messages WHERE channel = ? AND (conversation = ? OR remote_id = ?) "
                         "ORDER BY created_at, id", [row["channel"], key, key])
    return [_decode(r) for r in rows]


def versions(ledger, message_id: int) -> list[dict]:
    return ledger._query("SELECT version, text, edited_at, seen_at FROM inbox_versions WHERE message_id = ? "
                         "ORDER BY version", [message_id])


def notes(ledger, message_id: int) -> list[dict]:
    return ledger._query("SELECT at, actor, text FROM inbox_notes WHERE message_id = ? ORDER BY id", [message_id])


def events(ledger, message_id: int | None = None, kind: str | None = None) -> list[dict]:
    where, args = [], []
    if message_id is not None:
        where.append("message_id = ?")
        args.append(message_id)
    if kind is not None:
        where.append("kind = ?")
        args.append(kind)
    return ledger._query("SELECT * FROM inbox_events" + (" WHERE " + " AND ".join(where) if where else "")
                         + " ORDER BY id", args)


# ----- cursors (since ids / high-water marks), per channel and kind ----------------------
def get_cursor(ledger, channel: str, kind: str) -> str | None:
    rows = ledger._query("SELECT cursor FROM inbox_cursors WHERE channel = ? AND kind = ?", [channel, kind])
    return rows[0]["cursor"] if rows else None


def set_cursor(ledger, channel: str, kind: str, cursor: str | None) -> None:
    with ledger.transaction():
        ledger.db.execute("INSERT INTO inbox_cursors (channel, kind, cursor, updated_at) VALUES (?, ?, ?, ?) "
                          "ON CONFLICT(channel, kind) DO UPDATE SET cursor = excluded.cursor, "
                          "updated_at = excluded.updated_at", [channel, kind, cursor, to_utc_key(utcnow())])


def posted_since(ledger, channel: str, since: datetime) -> list[dict]:
    """The council's posted deliveries on ``channel`` since ``since``, with every thread
    part's remote id (a reply may be under any part)."""
    rows = ledger._query("SELECT id, item, channel, remote_id, url, posted_at FROM deliveries WHERE channel = ? "
                         "AND state = 'posted' AND dry_run = 0 AND posted_at >= ? AND remote_id IS NOT NULL "
                         "ORDER BY posted_at", [channel, to_utc_key(since)])
    for row in rows:
        parts = ledger._query("SELECT remote_id FROM parts WHERE delivery_id = ? ORDER BY idx", [row["id"]])
        row["remote_ids"] = list(dict.fromkeys([row["remote_id"]] + [p["remote_id"] for p in parts if p["remote_id"]]))
    return rows


def open_remote_ids(ledger, channel: str, since: datetime, limit: int = 200) -> list[str]:
    """Mentions still waiting (new/assigned), newest first: their threads are read too, so
    a council reply under them is seen (a reply under the council's own post is already
    in that post's thread)."""
    rows = ledger._query("SELECT remote_id FROM inbox_messages WHERE channel = ? AND own = 0 AND deleted = 0 AND "
                         "kind IN ('mention', 'direct') AND state IN ('new', 'assigned') AND created_at >= ? "
                         "ORDER BY created_at DESC LIMIT ?",
                         [channel, to_utc_key(since), limit])
    return [row["remote_id"] for row in rows]


def live_remote_ids(ledger, channel: str, since: datetime, limit: int = 5000) -> list[str]:
    """Stored messages on ``channel`` since ``since`` not yet marked deleted, newest first
    (the sweep asks the network which of them it no longer has)."""
    rows = ledger._query("SELECT remote_id FROM inbox_messages WHERE channel = ? AND deleted = 0 AND created_at >= ? "
                         "ORDER BY created_at DESC LIMIT ?", [channel, to_utc_key(since), limit])
    return [row["remote_id"] for row in rows]


def open_in_conversation(ledger, channel: str, conversation: str, before: str) -> list[dict]:
    """Residents' messages still waiting in a direct-message conversation, received before
    ``before`` (a council message there answers them: DMs have no reply-to)."""
    rows = ledger._query("SELECT * FROM inbox_messages WHERE channel = ? AND conversation = ? AND own = 0 AND "
                         "state IN ('new', 'assigned') AND created_at <= ? ORDER BY created_at, id",
                         [channel, conversation, before])
    return [_decode(row) for row in rows]
