"""Sign-off from the web page: an approver signs off the exact text of one item.

A sign-off is bound to the item's digest, the sha256 of its file's bytes (`Item.digest`),
so any edit to the file (text, time, media, alt text) voids it.  It is kept in the
ledger: the latest sign-off of each item in `meta` (`signoff:<item id>`, JSON with
digest, who and when) and every sign-off as an event (`signed_off`, with the digest in
its detail), so the audit trail keeps them all.  `approved_by:` in the file is separate
and keeps working; the gate (`plan.approval_missing`) accepts either, through `approved_by_page`.
"""
from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import datetime
from typing import Protocol

from .config import Config
from .errors import BotError
from .database import open_configured
from .model import Item
from .timeutil import to_utc_key, utcnow

PREFIX = "signoff:"


def sign_off(config: Config, item: Item, digest_seen: str, actor: str, reason: str = "",
             now: datetime | None = None) -> dict:
    """Record that ``actor`` signed off ``item`` as it was when they read it.

    ``item`` must be read from its file just now; ``digest_seen`` is the digest of the
    text the approver was shown.  If they differ the file changed in between and nothing
    is recorded: they must read the new text first."""
    if item.digest != digest_seen:
        raise BotError(f"{item.rel} has changed since you opened its preview: reload the preview and read the "
                       "new text before signing it off")
    record = {"digest": item.digest, "by": actor, "at": to_utc_key(now or utcnow()), "path": item.rel}
    ledger = open_configured(config)
    try:
        with ledger.transaction():
            ledger.set_meta(**{PREFIX + item.id: json.dumps(record)})
            ledger.event("signed_off", item=item.id, actor=actor, reason=reason or None,
                         detail={"digest": item.digest, "path": item.rel})
    finally:
        ledger.close()
    return record


def signoffs(config: Config) -> dict[str, dict]:
    """item id -> its latest page sign-off ({digest, by, at, path}); {} without a ledger."""
    ledger = open_configured(config, readonly=True)
    if ledger is None:
        return {}
    try:
        return records_in(ledger)
    finally:
        ledger.close()


def records_in(ledger) -> dict[str, dict]:
    """`signoffs` from a ledger the caller already holds (the daemon, the publisher):
    one read per scan, not one connection per item."""
    with _locked(ledger):
        if "meta" not in ledger.db.table_names():
            return {}
        rows = ledger.db.execute("SELECT key, value FROM meta WHERE key LIKE ?", [PREFIX + "%"]).fetchall()
    return {key[len(PREFIX):]: _record(value) for key, value in rows if value}


def _locked(ledger):
    # Under the ledger's lock, as its own reads are: the publisher asks from a worker thread.
    return getattr(ledger, "lock", nullcontext())


def _record(value: str | None) -> dict | None:
    return json.loads(value) if value else None


class SignoffLookup(Protocol):
    """What the gate asks of sign-offs: one item's, or None (a dict from `records_in`, or
    `LedgerSignoffs`)."""

    def get(self, item_id: str, /) -> dict | None: ...


class LedgerSignoffs:
    """One item's page sign-off, read from the ledger when the gate asks for it.

    The publisher's last check before sending must see the sign-off as it is at that moment
    (an edit voids one; a new one replaces it).  `records_in` read every item's sign-off
    (a LIKE over `meta`, and the table list) for every delivery, to look up one item, and
    even when no [approval] rule asks; this reads that one item's `signoff:<id>` row (the
    primary key) at the moment the gate asks (`approved_by_page`: ``get(item.id)``), so it is
    as fresh as a full read made then, and with no approval rule nothing is read at all."""

    def __init__(self, ledger):
        self.ledger = ledger

    def get(self, item_id: str, /) -> dict | None:
        with _locked(self.ledger):
            return _record(self.ledger.get_meta(PREFIX + item_id))


def approved_by_page(item: Item, records: SignoffLookup) -> str | None:
    """Who signed off this exact file on the page, or None (never, or edited since)."""
    record = records.get(item.id)
    return record["by"] if record and record["digest"] == item.digest else None


def history(config: Config, item_id: str) -> list[dict]:
    """Every page sign-off of one item, oldest first (events: who, when, why, digest)."""
    ledger = open_configured(config, readonly=True)
    if ledger is None:
        return []
    try:
        events = [e for e in ledger.events(kind="signed_off") if e["item"] == item_id]
    finally:
        ledger.close()
    for event in events:
        event["digest"] = json.loads(event["detail"] or "{}").get("digest")
    return events
