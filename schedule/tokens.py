"""What the last `channels check` found, kept so the status page can warn about tokens
that expire soon without calling any network itself.

`channels check` (run from a timer, docs/admin.md) stores one meta row per channel,
`token_check:<channel>`, with the expiry, warning or error and when it was checked.  Only
into an existing ledger: a check never creates one.
"""
from __future__ import annotations

import json
from datetime import datetime

from .config import Config
from .database import has_ledger, open_configured
from .timeutil import to_utc_key, utcnow

PREFIX = "token_check:"


def remember(config: Config, results: list[dict], now: datetime | None = None) -> None:
    if not has_ledger(config):
        return
    at = to_utc_key(now or utcnow())
    ledger = open_configured(config)
    try:
        ledger.set_meta(**{PREFIX + r["channel"]: json.dumps({
            "expires_at": r.get("expires_at"), "warning": r.get("warning"), "error": r.get("error"),
            "checked_at": at}) for r in results})
    finally:
        ledger.close()


def needing_attention(config: Config, now: datetime | None = None) -> list[dict]:
    """Channels whose last check failed, or whose token expires within token_warn_days."""
    now = now or utcnow()
    ledger = open_configured(config, readonly=True)
    if ledger is None:
        return []
    try:
        if "meta" not in ledger.db.table_names():
            return []
        rows = ledger.db.execute("SELECT key, value FROM meta WHERE key LIKE ?", [PREFIX + "%"]).fetchall()
    finally:
        ledger.close()
    out = []
    for key, value in sorted(rows):
        record = json.loads(value or "{}")
        expires = datetime.fromisoformat(record["expires_at"]) if record.get("expires_at") else None
        days = (expires - now).total_seconds() / 86400 if expires else None
        if record.get("error") or (days is not None and days <= config.token_warn_days):
            out.append({"channel": key[len(PREFIX):], "expires_at": record.get("expires_at"),
                        "days_left": None if days is None else round(days, 1), "error": record.get("error"),
                        "checked_at": record.get("checked_at")})
    return out
