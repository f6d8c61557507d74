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
from ..database import open_configured
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
    if value.split(":", 1)[1].startswith("dm:") and not kind.sends_direct_replies:
        return (f"in_reply_to: civicpost cannot answer {kind.label or kind.network} direct messages: answer it in "
                f"the {kind.label or kind.network} app (the inbox sees that answer)")
    return None


def reply_file(config, message_id: int, text: str, author: str | None = None) -> Path:
    """Write the reply content file for inbox message ``message_id``; returns its path."""
    if not text.strip():
        raise BotError("inbox reply: the reply is empty: give --text \"...\"")
    ledger = open_configured(config)
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
    stamp = f"reply-{row['channel']}-{message_id}-{now:%Y%m%d%H%M%S}"
    front = {"id": stamp,
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
    note = "# [inbox] reply_approval: add approved_by: NAME when signed off; it is sent then.\n" if approval else ""
    # A second draft of the same message (even in the same second, from the page and the
    # shell at once) gets its own file *and* its own id: "x" creation never overwrites.
    for number in range(1, 1000):
        suffix = f"-{number}" if number > 1 else ""
        path = folder / f"{now:%Y-%m-%d}-{_safe(row['channel'])}-{message_id}{suffix}.md"
        front["id"] = stamp + suffix
        header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(f"---\n{header}{note}---\n{text.strip()}\n")
            return path
        except FileExistsError:
            continue
    raise BotError(f"inbox reply: {folder} already holds 999 drafts for message {message_id} today: commit or "
                   "remove some")


def _safe(name: str) -> str:
    return re.sub(r"[^\w-]", "_", name)



# ----- Welsh: answer Welsh in Welsh (the gate asks this; schedule/gate.py) -----------------
# Welsh Language Standards (No. 1) Regulations 2015, which bind county councils: "If you
# receive correspondence from a person in Welsh you must reply in Welsh (if an answer is
# required), unless the person has indicated that there is no need to reply in Welsh"
# (standard 1; standard 59 says the same of social media).  So a reply to a message
# detected as Welsh with no Welsh in it is an error, like any other reason not to post.
# A bilingual reply has Welsh in it and passes.  The one exception the standard makes (the
# person said there is no need) is the file saying so: an explicit non-Welsh `lang:` turns
# it into a warning, recorded in git with the reply.
_LOOKUP_SECONDS = 60.0
_welsh_cache: dict[tuple[str, str], tuple[float, bool]] = {}


def welsh_reply_problem(item, config):
    """A Problem when ``item`` answers a Welsh message (the ledger's detection, or the
    ``lang: cy`` that `inbox reply` writes for one) and has no Welsh in it; else None."""
    from ..errors import Problem

    target = item.extra.get("in_reply_to")
    if not isinstance(target, str) or ":" not in target or item.draft:
        return None
    lang = item.extra.get("lang")
    if lang != "cy" and not _message_is_welsh(config, target):
        return None
    texts = [item.body] + [v for k, v in item.extra.items() if k.startswith("body_") and isinstance(v, str)]
    texts += [o["text"] for o in item.overrides.values() if isinstance(o, dict) and isinstance(o.get("text"), str)]
    found = has_welsh(texts, config)
    if found is not False:
        return None                      # Welsh in it (or too short to tell: never guessed)
    if lang and lang != "cy":
        return Problem(item.rel, item.line("lang"), "warning", "welsh-reply",
                       f"this answers a message in Welsh, but the reply is in {lang}: the Welsh Language Standards "
                       "allow that only if the person said there is no need to reply in Welsh (note it in the file)")
    return Problem(item.rel, item.body_line, "error", "welsh-reply",
                   "this answers a message in Welsh, so the Welsh Language Standards say the reply must be in Welsh: "
                   "write it in Welsh, or in Welsh and English (if the person said Welsh is not needed, set lang: en)")


def has_welsh(texts, config) -> bool | None:
    """True if any sentence of ``texts`` is Welsh (triage's detector, choosing among
    [inbox] languages and Welsh), False if the detector can tell and none is, None if
    nothing is long enough to tell."""
    from .triage import WELSH, detect_language, languages

    choices = tuple(dict.fromkeys([*languages(config), WELSH, "en"]))
    told = False
    for text in texts:
        for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
            language = detect_language(sentence, choices) if sentence.strip() else None
            if language == WELSH:
                return True
            told = told or language is not None
    return False if told else None


def _message_is_welsh(config, target: str) -> bool:
    """Whether the ledger's inbox message ``CHANNEL:REMOTE_ID`` was detected as Welsh
    (read-only; an unknown message or no ledger is not Welsh).  Remembered a minute, as
    the daemon's gate runs on every rescan."""
    import time

    key = (str(config.database_url or config.database), target)
    now = time.monotonic()
    hit = _welsh_cache.get(key)
    if hit and now - hit[0] < _LOOKUP_SECONDS:
        return hit[1]
    channel, remote_id = target.split(":", 1)
    welsh = False
    try:
        from ..database import open_configured

        ledger = open_configured(config, readonly=True)
        if ledger is not None:
            try:
                row = store.by_remote(ledger, channel, remote_id)
                welsh = bool(row and (row["language"] == "cy" or "welsh" in row["flags"]))
            finally:
                ledger.close()
    except Exception:  # noqa: BLE001 - no ledger yet (validate in CI), or an older one: the file's lang: decides
        welsh = False
    _welsh_cache[key] = (now, welsh)
    return welsh
