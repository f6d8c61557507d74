"""`bot.py queue` and `bot.py history`: deliveries in one public shape (see Ledger.as_public)."""
from __future__ import annotations

from datetime import datetime

from .config import Config
from .scanner import ContentScanner
from .ledger import OPEN_STATES, open_ledger, public_row
from .gate import decide
from .render import Renderer
from .plan import blackout_for, wanted
from .timeutil import to_utc_key, utcnow


def queue(config: Config, now: datetime | None = None) -> list[dict]:
    """Every planned delivery from now on, in time order, with its state.

    The content files say what is planned; the ledger (if the daemon has run) says what
    has happened to each.  Open deliveries that are overdue (retrying, held) are included.
    """
    now = now or utcnow()
    ledger = open_ledger(config.database, config.timezone, readonly=True)
    rows = {}
    if ledger is not None:
        try:
            for row in ledger.deliveries():
                rows[(row["item"], row["channel"], row["planned_at"])] = row
        finally:
            ledger.close()
    renderer, verdicts = Renderer(config), {}          # the gate's verdict, once per item
    tz = config.timezone
    out: dict[tuple, dict] = {}
    for want in wanted(ContentScanner(config).scan().items, config, now):
        row = rows.get(want.key)
        if want.when < now and (row is None or row["state"] not in OPEN_STATES):
            continue
        entry = public_row(row, tz) if row else {
            "id": None, "item": want.item.id, "channel": want.channel, "network": want.network,
            "planned_at": want.when.astimezone(tz).isoformat(), "posted_at": None, "state": "scheduled",
            "remote_id": None, "url": None, "attempts": 0, "error": None, "dry_run": False}
        window = blackout_for(want.item, want.when, config)
        entry["note"] = f"inside blackout '{window.reason}': will be held" if window else None
        # The gate (the daemon's own check): an error here means this delivery will not be sent.
        if want.item.id not in verdicts:
            verdicts[want.item.id] = decide(want.item, config, renderer, now)
        errors = verdicts[want.item.id].errors(want.channel)
        entry["blocked"] = str(errors[0]) if errors else None
        if errors:
            entry["note"] = f"will not be sent: {errors[0]}"
        out[want.key] = entry
    for key, row in rows.items():
        if key not in out and (row["planned_at"] >= to_utc_key(now) or row["state"] in OPEN_STATES) \
                and not row.get("dry_run"):
            out[key] = {**public_row(row, tz), "note": None, "blocked": None}
    return sorted(out.values(), key=lambda d: (d["planned_at"], d["item"], d["channel"]))


def history(config: Config, since: datetime | None = None, include_dry_run: bool = False) -> list[dict]:
    """What went out (or was meant to and did not), newest last."""
    ledger = open_ledger(config.database, config.timezone, readonly=True)
    if ledger is None:
        return []
    try:
        rows = ledger.deliveries(states=["posted", "failed", "missed", "uncertain", "cancelled"], since=since)
        out = []
        for row in rows:
            if row.get("dry_run") and not include_dry_run:
                continue
            entry = ledger.as_public(row)
            entry["parts"] = [{"remote_id": p["remote_id"], "url": p["url"]} for p in ledger.parts(row["id"])]
            out.append(entry)
        return out
    finally:
        ledger.close()

