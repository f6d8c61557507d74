"""`bot.py export`: the record an FOI officer or the archive needs.

Every delivery with the exact text as posted, media and alt text, channel, planned and
actual time, remote id and URL, who wrote and who approved it, the content commit, and
its full event trail (who did what, when, why).  Nothing in the ledger is ever deleted.

Times are ISO 8601 with their offset, to the second (2027-01-14T10:00:02+00:00).  The CSV
starts with a UTF-8 byte order mark, always: Excel (the spreadsheet comms teams open it
in) reads a CSV without one in the PC's legacy code page, so Welsh "ŵ" and "ŷ" turn to
mojibake; Python's csv reads it with encoding="utf-8-sig", LibreOffice and Google Sheets
ignore it.  The JSON has no mark.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from .config import Config
from .database import open_configured
from .ledger import public_row
from .timeutil import iso_seconds

BOM = "\ufeff"

FIELDS = ["id", "item", "channel", "network", "state", "planned_at", "posted_at", "text", "title", "media",
          "remote_id", "url", "author", "approved_by", "commit_sha", "source", "attempts", "error", "events"]


def records(config: Config, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    ledger = open_configured(config, readonly=True)
    if ledger is None:
        return []
    try:
        out = []
        for row in ledger.deliveries(since=since, until=until):
            if row.get("dry_run"):
                continue
            public = public_row(row, config.timezone)
            media = json.loads(row["media"] or "[]")
            events = [{"at": iso_seconds(e["at"], config.timezone), "kind": e["kind"], "from": e["from_state"], "to": e["to_state"],
                       "by": e["actor"], "reason": e["reason"]} for e in ledger.events(row["id"])]
            out.append({**{k: public.get(k) for k in ("id", "item", "channel", "network", "state", "planned_at",
                                                       "posted_at", "remote_id", "url", "attempts", "error")},
                        "text": row["text"], "title": row["title"],
                        "media": [{"path": m["rel"], "alt": m["alt"]} for m in media],
                        "author": row["author"], "approved_by": row["approved_by"], "commit_sha": row["commit_sha"],
                        "source": row["source"], "events": events})
        return out
    finally:
        ledger.close()


def export(config: Config, fmt: str, since: datetime | None = None, until: datetime | None = None) -> str:
    rows = records(config, since, until)
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False)
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "media": "; ".join(f"{m['path']} (alt: {m['alt']})" for m in row["media"]),
                         "events": " | ".join(f"{e['at']} {e['kind']} by {e['by']}"
                                              + (f": {e['reason']}" if e["reason"] else "") for e in row["events"])})
    return buffer.getvalue()
