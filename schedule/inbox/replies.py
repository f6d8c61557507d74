"""Answering: `inbox reply ID` writes a reply content file, and nothing else.

The file (``content/replies/YYYY-MM-DD-CHANNEL-ID.md``) is an ordinary item with
``in_reply_to: "CHANNEL:REMOTE_ID"`` and ``channels: [CHANNEL]``, so it goes through the
same gate as every post (validate, length for the network, accessibility, approval when
``[inbox] reply_approval = true``, blackout and pause) and the same publisher, which
sends it as a native reply (``Channel.reply_target``) exactly once, recorded like any
delivery.  Replies live in git like posts: the audit trail is the same.  The next fetch
sees the council's reply under the resident's message and marks it answered.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from ..errors import BotError
from ..ledger import Ledger
from ..timeutil import utcnow
from . import store

# A reply is committed, and perhaps signed off, a while after it is written: it stays
# sendable for this long (grace_minutes in the file), then it is missed with an alert.
APPROVAL_GRACE_MINUTES = 2 * 24 * 60


def check_in_reply_to(value, channels: tuple[str, ...], config) -> str | None:
    """Why an ``in_reply_to:`` front-matter value is wrong, or None."""
    if not isinstance(value, str) or ":" not in value or not value.split(":", 1)[1].strip():
        return ("in_reply_to: must be \"CHANNEL:REMOTE_ID\" (python bot.py inbox reply ID writes it for you), "
                f"not {value!r}")
    channel = value.split(":", 1)[0]
    if channel not in config.channels:
        return f"in_reply_to: names channel {channel!r}, which has no [channels.{channel}] table"
    if tuple(channels) != (channel,):
        return f"in_reply_to: a reply goes to the message's own channel only: set channels: [{channel}]"
    from ..channels import channel_class
    from ..channels.base import Channel

    kind = channel_class(config.channels[channel].network)
    if kind.reply_target is Channel.reply_target:
        return f"in_reply_to: civicpost cannot post replies on {kind.label or kind.network} yet"
    return None


def reply_file(config, message_id: int, text: str, author: str | None = None) -> Path:
    """Write the reply content file for inbox message ``message_id``; returns its path."""
    if not text.strip():
        raise BotError("inbox reply: the reply is empty: give --text \"...\"")
    ledger = Ledger(config.database, config.timezone)
    try:
        row = store.message(ledger, message_id)
    finally:
        ledger.close()
    if row is None:
        raise BotError(f"no inbox message {message_id}: see `python bot.py inbox` for ids")
    if row["own"]:
        raise BotError(f"inbox message {message_id} is the council's own reply; answer the resident's message")
    now = utcnow().astimezone(config.timezone)
    approval = bool(config.section("inbox").get("reply_approval"))
    front = {"id": f"reply-{row['channel']}-{message_id}-{now:%Y%m%d%H%M%S}",
             "title": f"Reply to {row['author'] or 'message'} ({row['channel']}, inbox {message_id})",
             "publish_at": now.replace(microsecond=0).isoformat(), "channels": [row["channel"]],
             "in_reply_to": f"{row['channel']}:{row['remote_id']}"}
    if row["language"] == "cy" or "welsh" in row["flags"]:
        front["lang"] = "cy"          # Welsh Language Standards: a Welsh message is answered in Welsh
    if author:
        front["author"] = author
    front["grace_minutes"] = APPROVAL_GRACE_MINUTES
    folder = config.content_dir / "replies"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{now:%Y-%m-%d}-{_safe(row['channel'])}-{message_id}.md"
    number = 2
    while path.exists():
        path = folder / f"{now:%Y-%m-%d}-{_safe(row['channel'])}-{message_id}-{number}.md"
        number += 1
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
    note = "# [inbox] reply_approval: add approved_by: NAME when signed off; it is sent then.\n" if approval else ""
    path.write_text(f"---\n{header}{note}---\n{text.strip()}\n", encoding="utf-8")
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^\w-]", "_", name)

