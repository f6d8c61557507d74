"""`inbox hide ID --reason`: hide a resident's reply where the network allows it.

House rules need the full text on record before anything is removed (councils screenshot
before removing): the ledger already holds the message; a ``hiding`` event with its text,
author and link is committed before the network call, then ``hidden`` (or ``hide-failed``)
after it.  Facebook, Instagram, Threads, YouTube (held for review) and X (hidden replies)
can hide; Mastodon, Bluesky and LinkedIn cannot here, and say so.
"""
from __future__ import annotations

from ..channels import make_channel
from ..errors import BotError, ChannelError
from ..database import open_configured
from ..secrets import mask
from ..timeutil import to_utc_key, utcnow
from . import store


def hide(config, message_id: int, reason: str, actor: str) -> dict:
    if not reason.strip():
        raise BotError("inbox hide: give --reason (recorded with your name), e.g. --reason \"abusive, house rule 3\"")
    ledger = open_configured(config)
    try:
        row = store.message(ledger, message_id)
        if row is None:
            raise BotError(f"no inbox message {message_id}: see `python bot.py inbox` for ids")
        if row["own"]:
            raise BotError(f"inbox message {message_id} is the council's own reply")
        if row["hidden_at"]:
            return row
        if row["channel"] not in config.channels:
            raise BotError(f"inbox message {message_id} is on channel {row['channel']!r}, no longer in config.toml")
        store.change(ledger, message_id, "hiding", actor=actor, reason=reason,
                     detail={"text": row["text"], "author": row["author"], "url": row["url"],
                             "versions": store.versions(ledger, message_id)})
        try:
            make_channel(config.channels[row["channel"]]).hide(row["remote_id"])
        except ChannelError as exc:
            store.change(ledger, message_id, "hide-failed", actor=actor, reason=mask(exc))
            raise BotError(f"inbox hide {message_id}: {mask(exc)} (the text is on record; nothing was hidden)") \
                from None
        store.change(ledger, message_id, "hidden", actor=actor, reason=reason, hidden_at=to_utc_key(utcnow()))
        return store.message(ledger, message_id)
    finally:
        ledger.close()
