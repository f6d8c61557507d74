"""Operator commands: pause/resume (the kill switch), release, retry, cancel, status.

They write to the ledger only; a running daemon notices within a second or two (it
polls SQLite's data_version).  Every action is an event with the OS user and the reason.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta

from .config import Config
from .errors import BotError
from .ledger import Ledger, OPEN_STATES, operator, public_row
from .plan import grace_for, too_late
from .timeutil import to_utc_key, utcnow

ATTENTION_STATES = ("failed", "missed", "uncertain", "held")


def _item_of(config: Config):
    """Delivery item -> its content item (for its own grace_minutes), from a fresh scan."""
    from .languages import split_delivery_item
    from .scanner import ContentScanner

    items = {i.id: i for i in ContentScanner(config).scan().items}
    return lambda delivery_item: items.get(split_delivery_item(delivery_item)[0])


def _ledger(config: Config) -> Ledger:
    return Ledger(config.database, config.timezone)


def pause(config: Config, reason: str) -> dict:
    if not reason.strip():
        raise BotError("pause needs --reason TEXT (it is recorded and shown in status)")
    ledger = _ledger(config)
    who = operator()
    ledger.set_meta(paused="1", paused_by=who, paused_reason=reason, paused_at=to_utc_key(utcnow()))
    ledger.event("paused", actor=who, reason=reason)
    from .unschedule import command_hooks, pause_all        # videos YouTube would publish by itself
    unscheduled = pause_all(config, ledger, reason, who, *command_hooks(config, ledger))
    return {"paused": True, "by": who, "reason": reason, "unscheduled": unscheduled}


def resume(config: Config, reason: str = "") -> dict:
    """Lift the pause; release held deliveries still within grace and list the rest."""
    ledger = _ledger(config)
    who = operator()
    now = utcnow()
    ledger.set_meta(paused="0", paused_by=None, paused_reason=None, paused_at=None)
    ledger.event("resumed", actor=who, reason=reason or None)
    released, waiting = [], []
    item_of = _item_of(config)
    for row in ledger.deliveries(states=["held"]):
        late = too_late(item_of(row["item"]), datetime.fromisoformat(row["planned_at"]), now, config)
        if not late and "blackout" not in (row["hold_reason"] or ""):
            ledger.transition(row["id"], "scheduled", expect=["held"], actor=who, kind="resumed",
                              reason="pause lifted", next_attempt_at=None)
            released.append(public_row(row, config.timezone))
        else:
            waiting.append(public_row(row, config.timezone))
    return {"paused": False, "by": who, "released": released, "still_held": waiting}


def release(config: Config, ids: list[int], reason: str = "") -> list[dict]:
    """Let held or missed deliveries go out now, even though they are late."""
    ledger = _ledger(config)
    who = operator()
    out = []
    item_of = _item_of(config)
    for delivery_id in ids:
        row = _row(ledger, delivery_id)
        if row["state"] not in ("held", "missed"):
            raise BotError(f"delivery {delivery_id} is {row['state']}; only held or missed deliveries can be released")
        ledger.transition(delivery_id, "scheduled", expect=["held", "missed"], actor=who, kind="released",
                          reason=reason or "released by operator", released=1, next_attempt_at=None,
                          retry_until=to_utc_key(utcnow() + grace_for(item_of(row["item"]), config)))
        out.append(public_row(ledger.get(delivery_id), config.timezone))
    return out


def retry(config: Config, delivery_id: int, reason: str = "") -> dict:
    """Try a failed, uncertain or missed delivery again (after fixing the cause)."""
    ledger = _ledger(config)
    row = _row(ledger, delivery_id)
    if row["state"] not in ("failed", "uncertain", "missed", "retrying"):
        raise BotError(f"delivery {delivery_id} is {row['state']}; retry works on failed, uncertain, missed or "
                       "retrying deliveries")
    ledger.transition(delivery_id, "retrying", expect=[row["state"]], actor=operator(), kind="retry",
                      reason=reason or "retry requested by operator", released=1, next_attempt_at=None,
                      retry_until=to_utc_key(utcnow() + grace_for(_item_of(config)(row["item"]), config)))
    return public_row(ledger.get(delivery_id), config.timezone)


def cancel(config: Config, delivery_id: int, reason: str = "") -> dict:
    ledger = _ledger(config)
    row = _row(ledger, delivery_id)
    from .unschedule import command_hooks, unschedule, waiting
    if any(r["id"] == delivery_id for r in waiting(config, ledger)):    # uploaded ahead, YouTube would publish it
        done = unschedule(config, ledger, row, "cancelled", reason or "cancelled by operator", operator(),
                          *command_hooks(config, ledger))
        return {**public_row(ledger.get(delivery_id), config.timezone), "unscheduled": done}
    if row["state"] not in OPEN_STATES + ("failed", "missed", "uncertain"):
        raise BotError(f"delivery {delivery_id} is {row['state']}; it cannot be cancelled")
    ledger.transition(delivery_id, "cancelled", expect=[row["state"]], actor=operator(),
                      reason=reason or "cancelled by operator")
    return public_row(ledger.get(delivery_id), config.timezone)


def _row(ledger: Ledger, delivery_id: int) -> dict:
    row = ledger.get(delivery_id)
    if row is None:
        raise BotError(f"no delivery {delivery_id}: see `python bot.py queue` or `history` for ids")
    return row


def _alive(pid: str | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, ValueError):
        return False


def status(config: Config, now: datetime | None = None) -> dict:
    from .ledger import open_ledger

    now = now or utcnow()
    ledger = open_ledger(config.database, config.timezone, readonly=True)
    if ledger is None:
        return {"running": False, "stalled": False, "paused": False, "last_rescan": None, "next": [], "attention": [],
                "bad_credentials": [], "ledger": str(config.database)}
    try:
        meta = {k: ledger.get_meta(k) for k in ("daemon_pid", "heartbeat_at", "last_rescan", "paused", "paused_by",
                                                 "paused_reason", "paused_at", "dry_run")}
        beat = meta["heartbeat_at"]
        alive = bool(beat) and _alive(meta["daemon_pid"])
        running = alive and now - datetime.fromisoformat(beat) < timedelta(seconds=60)
        # The process is there but its heartbeat (every 5 s) is not: a full disk or a hang.
        stalled = alive and not running
        upcoming = [public_row(r, config.timezone) for r in ledger.deliveries(states=["scheduled", "retrying"])][:10]
        week_ago = now - timedelta(days=7)
        attention = [public_row(r, config.timezone) for r in ledger.deliveries(states=ATTENTION_STATES)
                     if r["updated_at"] and r["updated_at"] >= to_utc_key(week_ago)]
        bad = {row[0].split(":", 1)[1]: row[1] for row in ledger.db.execute(
            "SELECT key, value FROM meta WHERE key LIKE 'auth_failed:%' AND value IS NOT NULL")}
        return {"running": running, "pid": int(meta["daemon_pid"]) if alive else None, "stalled": stalled,
                "heartbeat_at": _local(beat, config),
                "paused": meta["paused"] == "1",
                "paused_by": meta["paused_by"], "paused_reason": meta["paused_reason"],
                "last_rescan": _local(meta["last_rescan"], config), "next": upcoming, "attention": attention,
                "bad_credentials": bad, "ledger": str(config.database)}
    finally:
        ledger.close()


def _local(key: str | None, config: Config) -> str | None:
    return datetime.fromisoformat(key).astimezone(config.timezone).isoformat() if key else None
