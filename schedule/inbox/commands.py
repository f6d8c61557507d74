"""The functions behind `bot.py inbox ...` (each command is a thin wrapper over one of these).

The JSON shapes here are the contract of `inbox --json` and `inbox show --json`
(docs/inbox.md): times in the config's zone, flags and tags as lists.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from datetime import datetime
from typing import Iterator

from ..errors import BotError
from ..ledger import Ledger, operator, public_row
from ..localtimes import LocalTimes
from . import store, triage

STATES = store.STATES
FLAGS = ("foi", "complaint", "urgent", "abusive", "welsh")


@contextmanager
def _ledger(config, readonly: bool = False) -> Iterator[Ledger | None]:
    """The configured ledger (the SQLite file or `[database] url`).  ``readonly``: opened
    read-only, and None when there is none yet (a read never creates or migrates one)."""
    from ..database import open_configured

    ledger = open_configured(config, readonly=readonly)
    if ledger is None:
        yield None
        return
    try:
        yield ledger
    finally:
        ledger.close()


def public_message(row: dict, tz) -> dict:
    def local(key: str | None) -> str | None:
        return datetime.fromisoformat(key).astimezone(tz).isoformat() if key else None

    return {"id": row["id"], "network": row["network"], "channel": row["channel"], "remote_id": row["remote_id"],
            "kind": row["kind"], "conversation": row["conversation"], "in_reply_to": row["parent_remote_id"],
            "item": row["item"], "delivery_id": row["delivery_id"], "author": row["author"], "text": row["text"],
            "language": row["language"], "created_at": local(row["created_at"]), "url": row["url"],
            "state": row["state"], "assignee": row["assignee"], "tags": row["tags"], "flags": row["flags"],
            "foi_due": row["foi_due"], "deleted": row["deleted"], "edited_at": local(row["edited_at"]),
            "version": row["version"], "answered_at": local(row["answered_at"]),
            "first_response_seconds": row["first_response_seconds"], "own": row["own"],
            "hidden_at": local(row.get("hidden_at"))}


DEFAULT_LIMIT = 500          # newest first; `inbox --limit 0` lists every message


def list_messages(config, state: str | None = None, channel: str | None = None, item: str | None = None,
                  flag: str | None = None, since: datetime | None = None, limit: int | None = DEFAULT_LIMIT
                  ) -> list[dict]:
    _check_filters(config, state, channel, flag)
    with _ledger(config) as ledger, _no_collection():
        rows = store.listed(ledger, state=state, channel=channel, item=item, flag=flag, since=since,
                            limit=limit or None)
    return public_listed(rows, config.timezone)


def _check_filters(config, state: str | None, channel: str | None, flag: str | None) -> None:
    if state is not None and state not in STATES:
        raise BotError(f"inbox --state {state!r}: use one of {', '.join(STATES)}")
    if flag is not None and flag not in FLAGS:
        raise BotError(f"inbox --flag {flag!r}: use one of {', '.join(FLAGS)}")
    if channel is not None and channel not in config.channels:
        raise BotError(f"inbox --channel {channel!r}: no [channels.{channel}] in {config.path}")


def listed_json(config, state: str | None = None, channel: str | None = None, item: str | None = None,
                flag: str | None = None, since: datetime | None = None, limit: int | None = DEFAULT_LIMIT,
                batch: int = 2000) -> Iterator[bytes]:
    """`list_messages` as `inbox --json`'s lines of compact JSON (``,\n  `` between them),
    a batch at a time as the cursor gives them: each row goes from its tuple to its JSON
    with no list of 100,000 dicts in between.  The same values as `public_listed`, in its
    order."""
    import orjson

    _check_filters(config, state, channel, flag)
    message = _listed_message(config.timezone, lists=False)     # orjson writes the words' tuples as lists
    with _ledger(config) as ledger, _no_collection():
        for rows in store.listed_batches(ledger, state=state, channel=channel, item=item, flag=flag, since=since,
                                         limit=limit or None, size=batch):
            yield _encode_batch([message(row) for row in rows], orjson.dumps, orjson.JSONEncodeError)


# Between two messages in orjson's compact list.  Inside a JSON string every '"' is written
# '\"', so '},{"id":' (an unescaped quote after '{') only ever occurs where one message ends
# and the next begins: messages hold no nested objects.
_BETWEEN, _BETWEEN_LINES = b'},{"id":', b'},\n  {"id":'


def _encode_batch(messages: list[dict], dumps, refused) -> bytes:
    """The messages as lines of compact JSON, ``,\n  `` between them (`inbox --json`'s
    layout, docs/inbox.md).  One orjson call for the whole batch, split between messages:
    orjson's cost is mostly per call (a call per message took 0.5 s of 100,000; one per
    batch, 0.06 s).  A text orjson refuses (a lone surrogate, not UTF-8) is written by
    json, as before."""
    if not messages:
        return b""
    try:
        return dumps(messages, default=str)[1:-1].replace(_BETWEEN, _BETWEEN_LINES)
    except refused:
        import json

        encode = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode
        return b",\n  ".join(encode(message).encode("utf-8", "surrogatepass") for message in messages)


def public_listed(rows: list, tz) -> list[dict]:
    """`public_message` for `store.listed` rows (the lean path for listing 100,000)."""
    message = _listed_message(tz, lists=True)
    with _no_collection():
        return [message(row) for row in rows]


def _listed_message(tz, lists: bool):
    """A `store.listed` row (a tuple) into `public_message`'s dict, the one place both the
    listing and `inbox --json` make it; ``lists``: tags and flags as lists, else the cached
    tuples (for orjson, which writes them as lists)."""
    local, words, at, names = LocalTimes(tz), store.words, store.LISTED.index, _PUBLIC_NAMES
    created, edited, answered, hidden = at("created_at"), at("edited_at"), at("answered_at"), at("hidden_at")
    tags, flags, deleted, own = at("tags"), at("flags"), at("deleted"), at("own")

    def message(row) -> dict:
        made = dict(zip(names, row))
        made["created_at"] = local(row[created])
        if row[edited]:
            made["edited_at"] = local(row[edited])
        if row[answered]:
            made["answered_at"] = local(row[answered])
        if row[hidden]:
            made["hidden_at"] = local(row[hidden])
        made["tags"], made["flags"] = words(row[tags]), words(row[flags])
        if lists:
            made["tags"], made["flags"] = list(made["tags"]), list(made["flags"])
        made["deleted"], made["own"] = bool(row[deleted]), bool(row[own])
        return made

    return message


@contextmanager
def _no_collection() -> Iterator[None]:
    """Making 100,000 dicts set off the cyclic garbage collector over and over (half the
    listing's time); they hold no cycles, so it waits until they are made."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# The public names of store.LISTED's columns (in_reply_to is stored as parent_remote_id).
_PUBLIC_NAMES = tuple("in_reply_to" if c == "parent_remote_id" else c for c in store.LISTED)


def show(config, message_id: int) -> dict:
    """The message, its whole conversation (oldest first, the council's replies included),
    the council's original post, every version, note and event."""
    with _ledger(config) as ledger:
        row = store.message(ledger, message_id)
        if row is None:
            raise BotError(f"no inbox message {message_id}: see `python bot.py inbox` for ids")
        original = ledger.get(row["delivery_id"]) if row["delivery_id"] else None
        return {
            "message": public_message(row, config.timezone),
            "original": dict(public_row(original, config.timezone), text=original.get("text")) if original else None,
            "conversation": [public_message(r, config.timezone) for r in store.conversation(ledger, row)],
            "versions": store.versions(ledger, message_id),
            "notes": store.notes(ledger, message_id),
            "events": [{k: e[k] for k in ("at", "kind", "from_state", "to_state", "actor", "reason")}
                       for e in store.events(ledger, message_id)],
        }


def _act(config, fn, message_id: int, *args) -> dict:
    with _ledger(config) as ledger:
        return public_message(fn(ledger, message_id, *args, operator()), config.timezone)


def assign(config, message_id: int, name: str) -> dict:
    return _act(config, triage.assign, message_id, name)


def tag(config, message_id: int, name: str) -> dict:
    return _act(config, triage.tag, message_id, name)


def note(config, message_id: int, text: str) -> dict:
    return _act(config, triage.note, message_id, text)


def close(config, message_id: int, reason: str) -> dict:
    return _act(config, triage.close, message_id, reason)


def fetch(config, channel: str | None = None) -> list[dict]:
    from .fetch import fetch_once

    return fetch_once(config, channel)
