"""Operator commands: pause/resume (the kill switch), release, retry, cancel, status.

They write to the ledger only; a running daemon notices within a second or two (it
polls SQLite's data_version).  Every action is an event with the OS user and the reason.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta

from .config import Config
from .errors import BotError
from .database import ledger_spec, open_configured
from .ledger import Ledger, OPEN_STATES, open_ledger, operator, public_row
from .plan import grace_for, too_late
from .rehearsal import is_rehearsal
from .timeutil import iso_seconds, to_utc_key, utcnow

# "blocked": the content file has an error, so its deliveries wait for a fix (#10).
OPEN_PROBLEM_STATES = ("blocked", "held")
ENDED_BADLY_STATES = ("failed", "missed", "uncertain")
ATTENTION_STATES = OPEN_PROBLEM_STATES + ENDED_BADLY_STATES


def _item_of(config: Config):
    """Delivery item -> its content item (for its own grace_minutes), from a fresh scan."""
    from .languages import split_delivery_item
    from .scanner import ContentScanner

    items = {i.id: i for i in ContentScanner(config).scan().items}
    return lambda delivery_item: items.get(split_delivery_item(delivery_item)[0])


def _ledger(config: Config) -> Ledger:
    return open_configured(config)


def pause(config: Config, reason: str, actor: str | None = None) -> dict:
    """The kill switch.  On the real ledger it also pauses a running rehearsal (stopping
    more is the safe side), so practising it in a rehearsal is the same command."""
    if not reason.strip():
        raise BotError("pause needs --reason TEXT (it is recorded and shown in status)")
    who = actor or operator()
    _pause_ledger(_ledger(config), who, reason)
    practice = None if is_rehearsal(config) else rehearsal(config)
    if practice:
        _pause_ledger(Ledger(practice["ledger"], config.timezone), who, reason)
    from .unschedule import command_hooks, pause_all        # videos YouTube would publish by itself
    ledger = _ledger(config)
    try:
        unscheduled = pause_all(config, ledger, reason, who, *command_hooks(config, ledger))
    finally:
        ledger.close()
    return {"paused": True, "by": who, "reason": reason, "rehearsal": practice, "unscheduled": unscheduled}


def _pause_ledger(ledger: Ledger, who: str, reason: str) -> None:
    try:
        ledger.set_meta(paused="1", paused_by=who, paused_reason=reason, paused_at=to_utc_key(utcnow()))
        ledger.event("paused", actor=who, reason=reason)
    finally:
        ledger.close()


def resume_plan(config: Config, now: datetime | None = None) -> dict:
    """What `resume` would do, changing nothing: the held deliveries that would go out at once
    (still within grace), those that stay held, and what else is due within the next day.
    Shown before asking, so that a cheerful post does not slip out after a grave pause."""
    now = now or utcnow()
    ledger = open_configured(config, readonly=True)
    practice = None if is_rehearsal(config) else rehearsal(config, now)
    if ledger is None:
        return {"paused": False, "paused_by": None, "paused_reason": None, "paused_at": None, "at_once": [],
                "still_held": [], "next_day": [], "rehearsal": practice}
    try:
        at_once, waiting = [], []
        item_of = _item_of(config)
        for row in ledger.deliveries(states=["held"]):
            (at_once if _released_on_resume(row, config, now, item_of) else waiting).append(_shown(row, config))
        soon = [_shown(r, config) for r in ledger.deliveries(states=["scheduled", "retrying"], since=now,
                                                             until=now + timedelta(days=1))]
        return {"paused": ledger.get_meta("paused") == "1", "paused_by": ledger.get_meta("paused_by"),
                "paused_reason": ledger.get_meta("paused_reason"),
                "paused_at": _local(ledger.get_meta("paused_at"), config),
                "at_once": at_once, "still_held": waiting, "next_day": soon, "rehearsal": practice}
    finally:
        ledger.close()


def _released_on_resume(row: dict, config: Config, now: datetime, item_of) -> bool:
    """The one grace rule (too_late, with the item's own grace_minutes); blackouts stay held."""
    late = too_late(item_of(row["item"]), datetime.fromisoformat(row["planned_at"]), now, config)
    return not late and "blackout" not in (row["hold_reason"] or "")


def _shown(row: dict, config: Config) -> dict:
    """A ledger row in the public shape plus the title and hold reason people decide by."""
    return {**public_row(row, config.timezone), "title": row.get("title"), "hold_reason": row.get("hold_reason")}


def resume(config: Config, reason: str = "", actor: str | None = None) -> dict:
    """Lift the pause; release held deliveries still within grace and list the rest."""
    ledger = _ledger(config)
    who = actor or operator()
    now = utcnow()
    ledger.set_meta(paused="0", paused_by=None, paused_reason=None, paused_at=None)
    ledger.event("resumed", actor=who, reason=reason or None)
    released, waiting = [], []
    item_of = _item_of(config)
    for row in ledger.deliveries(states=["held"]):
        if _released_on_resume(row, config, now, item_of):
            ledger.transition(row["id"], "scheduled", expect=["held"], actor=who, kind="resumed",
                              reason="pause lifted", next_attempt_at=None)
            released.append(public_row(row, config.timezone))
        else:
            waiting.append(public_row(row, config.timezone))
    return {"paused": False, "by": who, "released": released, "still_held": waiting}


def release(config: Config, ids: list[int], reason: str = "", actor: str | None = None) -> list[dict]:
    """Let held or missed deliveries go out now, even though they are late."""
    ledger = _ledger(config)
    who = actor or operator()
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


def cancel(config: Config, delivery_id: int, reason: str = "", actor: str | None = None) -> dict:
    ledger = _ledger(config)
    row = _row(ledger, delivery_id)
    from .unschedule import command_hooks, unschedule, waiting
    if any(r["id"] == delivery_id for r in waiting(config, ledger)):    # uploaded ahead, YouTube would publish it
        done = unschedule(config, ledger, row, "cancelled", reason or "cancelled by operator", actor or operator(),
                          *command_hooks(config, ledger))
        return {**public_row(ledger.get(delivery_id), config.timezone), "unscheduled": done}
    if row["state"] not in OPEN_STATES + ("failed", "missed", "uncertain"):
        raise BotError(f"delivery {delivery_id} is {row['state']}; it cannot be cancelled")
    ledger.transition(delivery_id, "cancelled", expect=[row["state"]], actor=actor or operator(),
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


def _daemon(ledger: Ledger, now: datetime) -> dict:
    """Is a daemon writing this ledger: running, stalled (process there, heartbeat not), or not."""
    beat, pid = ledger.get_meta("heartbeat_at"), ledger.get_meta("daemon_pid")
    alive = bool(beat) and _alive(pid)
    running = alive and now - datetime.fromisoformat(beat) < timedelta(seconds=60)
    # The process is there but its heartbeat (every 5 s) is not: a full disk or a hang.
    return {"running": running, "pid": int(pid) if alive else None, "stalled": alive and not running,
            "heartbeat_at": beat}


def rehearsal(config: Config, now: datetime | None = None) -> dict | None:
    """The rehearsal (`run --dry-run`, its own ledger file) if one is running, else None:
    the operator commands name it, so the kill switch can be practised on it."""
    from .daemon import dry_run_config

    if is_rehearsal(config):
        return None
    rehearsal_config = dry_run_config(config)
    ledger = open_ledger(rehearsal_config.database, config.timezone, readonly=True)
    if ledger is None:
        return None
    try:
        state = _daemon(ledger, now or utcnow())
        if not state["running"] and not state["stalled"]:
            return None
        return {"pid": state["pid"], "paused": ledger.get_meta("paused") == "1",
                "ledger": str(rehearsal_config.database)}
    finally:
        ledger.close()


def attention(ledger: Ledger, config: Config, now: datetime) -> list[dict]:
    """What needs a person: open problems (blocked, held) however old, and deliveries that
    ended badly (failed, missed, uncertain) in the last week.  Straight from the ledger."""
    # The week's bound in SQL: failed and missed rows pile up over the years.
    rows = sorted(ledger.deliveries(states=OPEN_PROBLEM_STATES) + ledger.deliveries(
        states=ENDED_BADLY_STATES, since=now - timedelta(days=7), time_field="updated_at"),
        key=lambda r: (r["planned_at"], r["id"]))
    return [{**_shown(r, config), "error": r["error"] or r.get("hold_reason")} for r in rows]


def _stuck(ledger: Ledger, config: Config, now: datetime, daemon: dict) -> list[dict]:
    """Deliveries left in `publishing`: while the daemon cannot write its ledger (stalled), its
    outcome is held in memory; with no daemon, it is checked on the network at the next start;
    otherwise only a call running for over 10 minutes is worth a look."""
    if daemon["stalled"]:
        why = "sent or being sent, but the daemon cannot write its ledger: the outcome is held in its memory"
    elif not daemon["running"]:
        why = "interrupted while posting: checked on the network when the daemon starts"
    else:
        why = "still in progress after 10 minutes: see the daemon's log"
    old = to_utc_key(now - timedelta(minutes=10))
    return [{**_shown(r, config), "error": why} for r in ledger.deliveries(states=["publishing"])
            if daemon["stalled"] or not daemon["running"] or (r["updated_at"] or "") < old]


def status(config: Config, now: datetime | None = None) -> dict:
    now = now or utcnow()
    ledger = open_configured(config, readonly=True)
    practice = None if is_rehearsal(config) else rehearsal(config, now)
    if ledger is None:                   # a fresh install: nothing has run yet
        return {"running": False, "pid": None, "stalled": False, "heartbeat_at": None, "paused": False,
                "paused_by": None, "paused_reason": None, "last_rescan": None, "next": [], "attention": [],
                "bad_credentials": {}, "ledger": str(ledger_spec(config)), "ledger_exists": False,
                "rehearsal": practice, "nodes": []}
    try:
        daemon = _daemon(ledger, now)
        nodes = _nodes(ledger, config, daemon)
        upcoming = [public_row(r, config.timezone)
                    for r in ledger.deliveries(states=["scheduled", "retrying"], limit=10)]
        bad = {row[0].split(":", 1)[1]: row[1] for row in ledger.db.execute(
            "SELECT key, value FROM meta WHERE key LIKE 'auth_failed:%' AND value IS NOT NULL")}
        stuck = _stuck(ledger, config, now, daemon)
        return {**daemon, "heartbeat_at": _local(daemon["heartbeat_at"], config),
                "paused": ledger.get_meta("paused") == "1",
                "paused_by": ledger.get_meta("paused_by"), "paused_reason": ledger.get_meta("paused_reason"),
                "last_rescan": _local(ledger.get_meta("last_rescan"), config), "next": upcoming,
                "attention": stuck + attention(ledger, config, now), "bad_credentials": bad,
                "ledger": str(ledger_spec(config)),
                "ledger_exists": True, "rehearsal": practice, "nodes": nodes}
    finally:
        ledger.close()


def _nodes(ledger: Ledger, config: Config, daemon: dict) -> list[dict]:
    """Every node of several daemons on PostgreSQL (schedule/cluster.py); when one is
    running, the daemon is running (its heartbeat: the newest)."""
    from .cluster import nodes, settings
    found = nodes(ledger, config.timezone, settings(config).lease)
    live = [n for n in found if n["state"] == "running"]
    if live:
        leader = next((n for n in live if n["leader"]), live[0])
        daemon.update(running=True, stalled=False, pid=leader["pid"],
                      heartbeat_at=max(n["heartbeat_at"] for n in live))
    return found


def _local(key: str | None, config: Config) -> str | None:
    return iso_seconds(key, config.timezone)
