"""The ``[inbox]`` section of config.toml, checked in one place (#11).

``check`` is called by ``config.load_config``, so the daemon (at start and on SIGHUP),
``validate``, ``preview`` and every command refuse the same bad setting with the same
line, naming the key and the fix.  Each value is read by the very function that uses it
(``fetch.channel_settings``, ``triage.rules``, ``report.office_hours``...): there is no
second check to drift from the first.
"""
from __future__ import annotations

import difflib
import re

from ..errors import ConfigError

# Every key [inbox] may hold, and what it is (docs/inbox.md "Settings").
KEYS = {
    "poll_minutes": "minutes between reads of each channel",
    "lookback_days": "replies are read under posts this recent",
    "enabled": "read this channel at all",
    "replies": "read replies and comments",
    "mentions": "read mentions",
    "direct": "read direct messages (off by default)",
    "sweep_minutes": "how often edits and deletions are looked for where a read cannot show them",
    "languages": "what the language detector chooses among",
    "hours": "office hours for response times",
    "target_hours": "answered within this many office hours",
    "reply_approval": "replies need approved_by:",
    "digest_at": "time of the daily digest",
    "retention_days": "erase message text after this many days",
    "flags": "[inbox.flags] word lists",
    "channels": "[inbox.channels.NAME] per-channel settings",
}


def check(config, text: str = "") -> None:
    """Raise ConfigError (with the line of the offending key, where it can be found) for
    the first bad ``[inbox]`` setting; return quietly when there is none."""
    raw = config.raw.get("inbox", {})
    if not isinstance(raw, dict):
        raise _at(config, text, "inbox", "inbox must be a table: write [inbox] on its own line with its keys below it")
    for key in raw:
        if key not in KEYS:
            near = difflib.get_close_matches(key, KEYS, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise _at(config, text, key, f"[inbox] {key} is not an inbox setting{hint}; use one of {', '.join(KEYS)}")
    from . import fetch, records, report, triage

    if not isinstance(raw.get("reply_approval", False), bool):
        raise _at(config, text, "reply_approval",
                  f"[inbox] reply_approval = {raw['reply_approval']!r} must be true or false (without quotes)")
    readers = [(None, triage.rules), ("languages", triage.languages), ("hours", report.office_hours),
               ("target_hours", report.target_hours), ("digest_at", records.digest_time),
               ("retention_days", records.retention_days)]
    readers += [(None, lambda c, name=name: fetch.channel_settings(c, name)) for name in config.channels]
    for key, reader in readers:
        try:
            reader(config)
        except ConfigError as exc:
            raise _at(config, text, key or _key_in(exc.message), exc.message) from None
    _direct_where_possible(config, text)


def _direct_where_possible(config, text: str) -> None:
    """`direct = true` on a network whose API gives apps no direct messages is a mistake to
    name now, not a silent "not supported" at the first poll."""
    from ..channels import channel_class
    from ..channels.base import Channel
    from .fetch import channel_settings

    for name, channel in config.channels.items():
        if channel.network == "log" or not channel_settings(config, name)["direct"]:
            continue
        kind = channel_class(channel.network)
        if kind.inbox_direct is Channel.inbox_direct:
            raise _at(config, text, "direct", f"[inbox] direct = true for channel {name}: {kind.label or kind.network} "
                                              "gives apps no direct messages (docs/channels.md); remove it for this "
                                              f"channel ([inbox.channels.{name}] direct = false)")


def _key_in(message: str) -> str:
    """The key a message names ("[inbox.channels.x] poll_minutes = ...", "[inbox.flags] x is...")."""
    found = re.search(r"\[inbox(?:\.[^\]]+)?\] (\w+)", message) or re.search(r"\[(inbox\.channels\.[^\]]+)\]",
                                                                                         message)
    return found.group(1) if found else "inbox"


def _at(config, text: str, key: str, message: str) -> ConfigError:
    """The error at the line of ``key`` inside the [inbox...] tables (else the [inbox] line)."""
    lines = text.splitlines()
    in_inbox, first = False, None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_inbox = stripped.startswith("[inbox")
            if in_inbox and first is None:
                first = number
            if in_inbox and key.startswith("inbox") and stripped.strip("[]").strip() == key:
                return ConfigError(message, str(config.path), number)
            continue
        if in_inbox and re.match(rf"\"?{re.escape(key)}\"?\s*=", stripped):
            return ConfigError(message, str(config.path), number)
    return ConfigError(message, str(config.path), first)
