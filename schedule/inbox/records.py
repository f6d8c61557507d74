"""Records: export for FOI and the archive, retention, erasure requests, the daily digest.

- ``export --inbox`` gives every message with its versions, notes and events (CSV/JSON).
- Retention (``[inbox] retention_days``, the council's schedule; unset keeps everything):
  past it a message's text, author and link are erased (every version and note too), and
  the row stays, so counts and response times are kept.  ``inbox forget --author HANDLE``
  does the same at once for one person's erasure request.  Both are events.
- The digest (``[inbox] digest_at = "08:30"``): once a day through the existing alerts,
  what is unanswered, what is flagged, and which possible FOI requests are due within five
  working days.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta

from ..database import open_configured
from ..errors import BotError, ConfigError
from ..timeutil import to_utc_key, utcnow
from . import store
from .triage import working_day

ERASED = "[erased]"
EXPORT_FIELDS = ["id", "network", "channel", "remote_id", "kind", "item", "author", "text", "language", "created_at",
                 "url", "state", "assignee", "tags", "flags", "foi_due", "deleted", "answered_at",
                 "first_response_seconds", "versions", "notes", "events"]


def export_inbox(config, fmt: str, since: datetime | None = None, until: datetime | None = None) -> str:
    from .commands import public_message

    ledger = open_configured(config, readonly=True)
    rows = []
    if ledger is not None:
        try:
            for row in reversed(store.messages(ledger, since=since, own=True)):
                if until is not None and row["created_at"] >= to_utc_key(until):
                    continue
                public = public_message(row, config.timezone)
                public["versions"] = store.versions(ledger, row["id"])
                public["notes"] = store.notes(ledger, row["id"])
                public["events"] = [{"at": e["at"], "kind": e["kind"], "by": e["actor"], "reason": e["reason"]}
                                    for e in store.events(ledger, row["id"])]
                rows.append(public)
        finally:
            ledger.close()
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "tags": " ".join(row["tags"]), "flags": " ".join(row["flags"]),
                         "versions": " | ".join(f"v{v['version']}: {v['text']}" for v in row["versions"]),
                         "notes": " | ".join(f"{n['at']} {n['actor']}: {n['text']}" for n in row["notes"]),
                         "events": " | ".join(f"{e['at']} {e['kind']} by {e['by']}" + (f": {e['reason']}"
                                                                                       if e["reason"] else "")
                                              for e in row["events"])})
    return buffer.getvalue()


def _erase(ledger, ids: list[int], actor: str, reason: str) -> int:
    with ledger.transaction():
        for message_id in ids:
            row = store.message(ledger, message_id)
            ledger.db.execute("UPDATE inbox_messages SET text = ?, author = ?, author_id = NULL, url = NULL, "
                              "updated_at = ? WHERE id = ?", [ERASED, ERASED, to_utc_key(utcnow()), message_id])
            ledger.db.execute("UPDATE inbox_versions SET text = ? WHERE message_id = ?", [ERASED, message_id])
            ledger.db.execute("UPDATE inbox_notes SET text = ? WHERE message_id = ?", [ERASED, message_id])
            # Copies of the text elsewhere: the record kept before hiding, the urgent alert.
            ledger.db.execute("UPDATE inbox_events SET detail = NULL WHERE message_id = ? AND kind = 'hiding'",
                              [message_id])
            ledger.db.execute("UPDATE events SET detail = NULL WHERE kind = 'alert' AND reason = ?",
                              [f"inbox-urgent:{message_id}"])
            store._event(ledger, message_id, row["channel"], "erased", row["state"], row["state"], actor, reason)
    return len(ids)


def retention_days(config) -> float | None:
    """``[inbox] retention_days``, or None (keep everything)."""
    days = config.section("inbox").get("retention_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float)) or days <= 0):
        raise ConfigError(f"[inbox] retention_days = {days!r}: give a number of days, e.g. retention_days = 730",
                          str(config.path))
    return days


def apply_retention(config, ledger, now: datetime | None = None) -> int:
    """Erase what is older than ``[inbox] retention_days``; returns how many messages."""
    days = retention_days(config)
    if days is None:
        return 0
    cutoff = to_utc_key((now or utcnow()) - timedelta(days=float(days)))
    ids = [r["id"] for r in ledger._query("SELECT id FROM inbox_messages WHERE created_at < ? AND "
                                          "(text IS NULL OR text != ?)", [cutoff, ERASED])]
    return _erase(ledger, ids, "retention", f"[inbox] retention_days = {days}") if ids else 0


def forget(config, author: str, actor: str, reason: str = "") -> int:
    """An erasure request: every message by ``author`` (as shown, e.g. @name or a Page name)."""

    if not author.strip():
        raise BotError("inbox forget: give --author HANDLE, as `inbox` shows it")
    ledger = open_configured(config)
    try:
        wanted = {author.strip(), "@" + author.strip().lstrip("@")}
        marks = ", ".join("?" * len(wanted))
        ids = [r["id"] for r in ledger._query(f"SELECT id FROM inbox_messages WHERE author IN ({marks})",
                                              list(wanted))]
        return _erase(ledger, ids, actor, reason or "erasure request") if ids else 0
    finally:
        ledger.close()


# ----- the daily digest ------------------------------------------------------------------
def working_days_until(today: date, due: date) -> int:
    days, day = 0, today
    while day < due:
        day += timedelta(days=1)
        days += working_day(day)
    return days


def digest(config, ledger, now: datetime | None = None) -> tuple[str, str]:
    now = (now or utcnow()).astimezone(config.timezone)
    waiting = [r for r in store.messages(ledger) if r["state"] in store.OPEN_STATES]
    flagged = [r for r in waiting if r["flags"]]
    foi = [r for r in waiting if r["foi_due"] and working_days_until(now.date(), date.fromisoformat(r["foi_due"])) <= 5]
    lines = [f"{len(waiting)} message(s) waiting for an answer; {len(flagged)} flagged."]
    for r in sorted(foi, key=lambda r: r["foi_due"]):
        lines.append(f"FOI due {r['foi_due']}: message {r['id']} from {r['author']} on {r['channel']}")
    for r in flagged[:20]:
        lines.append(f"[{', '.join(r['flags'])}] message {r['id']} from {r['author']} on {r['channel']}: "
                     f"{(r['text'] or '')[:100]}")
    lines.append("python bot.py inbox --state new")
    return f"civicpost inbox: {len(waiting)} waiting, {len(foi)} FOI near due", "\n".join(lines)


def digest_time(config) -> time | None:
    """``[inbox] digest_at`` as a local time of day, or None (no digest)."""
    at = config.section("inbox").get("digest_at")
    if not at:
        return None
    try:
        return time.fromisoformat(str(at))
    except ValueError:
        raise ConfigError(f"[inbox] digest_at = {at!r}: write a time like digest_at = \"08:30\"",
                          str(config.path)) from None


def digest_due(config, ledger, now: datetime | None = None) -> bool:
    when = digest_time(config)
    if when is None:
        return False
    local = (now or utcnow()).astimezone(config.timezone)
    return local.time() >= when and store.get_cursor(ledger, "*", "digest") != local.date().isoformat()


def send_digest(config, ledger, alerter, now: datetime | None = None) -> bool:
    if not digest_due(config, ledger, now):
        return False
    local = (now or utcnow()).astimezone(config.timezone)
    title, body = digest(config, ledger, now)
    alerter.send(f"inbox-digest:{local.date().isoformat()}", title, body)
    store.set_cursor(ledger, "*", "digest", local.date().isoformat())
    return True
