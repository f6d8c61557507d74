"""The rehearsal (`bot.py run --dry-run`): the real daemon on its own ledger file, posting
nothing.  A newcomer should see posts go out within a minute, not wait a week for the
first planned time, so the rehearsal plays the next few deliveries now, a few seconds
apart, and says so.  Their planned times stay as they are in the ledger and every view:
only when they are played is brought forward (``next_attempt_at``, the field the daemon
already schedules retries by), and the publisher's rules (pause, blackout, not_after)
still apply to each.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from .config import Config
from .ledger import Ledger
from .timeutil import human, to_utc_key, utcnow

log = logging.getLogger("civicpost.rehearsal")
PLAY_NEXT = 5                 # deliveries played at once when a rehearsal starts
PLAY_GAP_SECONDS = 3.0        # between them, so the log reads like a day's posting


def is_rehearsal(config: Config) -> bool:
    """True for a config already pointed at the rehearsal ledger (see daemon.dry_run_config)."""
    return config.database.stem.endswith(".dry-run")


def for_rehearsal(config: Config, dry_run: bool) -> Config:
    """The config the operator commands use: the rehearsal's ledger with --dry-run."""
    if not dry_run or is_rehearsal(config):
        return config
    from .daemon import dry_run_config
    return dry_run_config(config)


def play_next(ledger: Ledger, config: Config, count: int = PLAY_NEXT, gap_seconds: float = PLAY_GAP_SECONDS,
              now: datetime | None = None) -> list[dict]:
    """Bring the next ``count`` scheduled deliveries forward to now (``gap_seconds`` apart),
    keeping their planned times; returns the rows played.  Only ever on a rehearsal ledger."""
    if not is_rehearsal(config):
        raise ValueError("play_next only runs on a rehearsal ledger")
    now = now or utcnow()
    rows = [r for r in ledger.deliveries(states=["scheduled"], since=now)
            if not r["next_attempt_at"]][:max(count, 0)]
    with ledger.transaction():
        for number, row in enumerate(rows):
            ledger.update(row["id"], kind="rehearsal-played", actor="rehearsal",
                          reason=f"rehearsal: played now, planned for {human(row['planned_at'], config.timezone)}",
                          next_attempt_at=to_utc_key(now + timedelta(seconds=2 + gap_seconds * number)))
    if rows:
        planned = ", ".join(f"{r['item']} on {r['channel']} ({human(r['planned_at'], config.timezone)})"
                            for r in rows)
        log.info("rehearsal: playing the next %d deliveries now, %ss apart, planned for %s; their planned times "
                 "stay as they are (bot.py queue --dry-run, history --dry-run)", len(rows), f"{gap_seconds:g}",
                 planned)
    else:
        log.info("rehearsal: nothing scheduled to play; add a content file with a future publish_at")
    return rows
