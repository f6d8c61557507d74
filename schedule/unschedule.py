"""Posts a network holds to publish later by itself, and taking them back.

YouTube videos are uploaded ``lead_time`` (two hours) early, private with
``status.publishAt``: from then on YouTube, not civicpost, publishes them.  The ledger row is
``posted`` and part 0 records ``publishAt``.  If, before that time, posting is paused, the
delivery is cancelled, a blackout comes to cover it, its file is deleted, its time changed or
its text edited, the video is *un-scheduled*: set back to private with no publishAt
(``Channel.unschedule``), so it does not go public.

The row keeps its remote id (and part 0), so when it goes out after all (resume, release,
retry, or the edit's new text) the channel schedules the *same* video again
(``YouTubeChannel.publish`` with the part already recorded): never a second upload.

Order of writes: the row's new state (``held``/``cancelled``/``scheduled``, event
``unscheduling``) is committed before the network call; part 0's ``publishAt`` is cleared
(event ``unscheduled``) only after YouTube confirmed.  So the ledger always says what YouTube
still believes: a row that is not ``posted`` but whose part 0 still has a future
``publishAt`` was not un-scheduled (a failure or a crash in between), and ``sweep`` tries
again at every rescan, alerting once.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from .config import Config
from .errors import ChannelError, LedgerError
from .languages import split_delivery_item
from .ledger import Ledger
from .plan import blackout_for, wanted
from .secrets import mask
from .timeutil import to_utc_key, utcnow

log = logging.getLogger("civicpost.unschedule")

# Not going out (as the ledger says) although the network may still hold it: try again.
STOPPED = ("held", "blocked", "cancelled", "failed", "missed")


def publish_at(ledger: Ledger, row: dict) -> datetime | None:
    """When the network will publish this delivery by itself, as far as the ledger knows."""
    parts = ledger.parts(row["id"])
    stamp = parts[0]["extra"].get("publishAt") if parts else None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def max_lead(config: Config) -> timedelta:
    """How far ahead any configured channel hands posts over (Channel.lead_time)."""
    from .channels import channel_class

    return max((channel_class(c.network).lead_time for c in config.channels.values()), default=timedelta(0))


def waiting(config: Config, ledger: Ledger, now: datetime | None = None) -> list[dict]:
    """Deliveries the network will still publish by itself (publishAt in the future).
    Only rows planned within the lead time of now can be: they were uploaded at most that early."""
    now = now or utcnow()
    lead = max_lead(config)
    if not lead:
        return []                                # no channel posts ahead: nothing to look at
    rows = ledger.deliveries(since=now - timedelta(minutes=1), until=now + lead + timedelta(minutes=1))
    return [row for row in rows if row["remote_id"] and (when := publish_at(ledger, row)) and when > now]


def unschedule(config: Config, ledger: Ledger, row: dict, to_state: str, reason: str, actor: str,
               channel_for: Callable[[str], object], alert: Callable[[dict, str, str], None] | None = None,
               **fields) -> dict:
    """Move the row to ``to_state`` (if it is still ``posted``) and take the video off the
    network's schedule.  Returns what happened, for the command's output or the log."""
    when = datetime.fromisoformat(row["planned_at"]).astimezone(config.timezone)
    result = {"id": row["id"], "item": row["item"], "channel": row["channel"], "remote_id": row["remote_id"],
              "planned_at": when.isoformat(), "state": to_state, "unscheduled": False, "error": None}
    if row["state"] != to_state:            # (the daemon's retry of a failed one keeps the state)
        extra = {"hold_reason": reason} if to_state == "held" else {}
        if not ledger.transition(row["id"], to_state, expect=[row["state"]], actor=actor, kind="unscheduling",
                                 reason=reason, posted_at=None, **extra, **fields):
            result.update(state=ledger.get(row["id"])["state"], error="changed by someone else meanwhile")
            return result
    try:
        channel = channel_for(row["channel"])
        if not hasattr(channel, "unschedule"):
            raise ChannelError(f"{row['channel']} cannot take back a scheduled post")
        done = channel.unschedule(row["remote_id"])
    except ChannelError as exc:
        message = (f"could not un-schedule {row['remote_id']} on {row['channel']} ({mask(exc).rstrip('.')}): it is still "
                   f"scheduled on the network and goes public at {when:%a %d %b %Y %H:%M %Z} unless it is made "
                   "private there by hand; civicpost tries again at every rescan")
        ledger.event("unschedule-failed", row["id"], row["item"], row["channel"], actor=actor, reason=message)
        log.error("UNSCHEDULE FAILED %s on %s: %s", row["item"], row["channel"], message)
        if alert:
            alert(row, "could not be un-scheduled", message)
        result["error"] = message
        return result
    part = ledger.parts(row["id"])[0]
    media = [m for m in json.loads(row["media"] or "[]") if m.get("kind") == "video"]
    # What was uploaded, so a later re-schedule can tell if the content now has another video.
    uploaded = {"file": media[0]["rel"], "bytes": media[0]["size"]} if media else {}
    ledger.record_part(row["id"], 0, part["remote_id"], part["url"],
                       {**part["extra"], "publishAt": None, "privacy": "private",
                        "unscheduled_at": to_utc_key(utcnow()), **uploaded}, part["text_hash"])
    ledger.event("unscheduled", row["id"], row["item"], row["channel"], actor=actor, reason=reason,
                 detail={"remote_id": row["remote_id"], "was_publish_at": done.get("was_publish_at")})
    log.warning("UNSCHEDULED %s on %s: video %s is private, no longer scheduled for %s (%s)", row["item"],
                row["channel"], row["remote_id"], f"{when:%Y-%m-%d %H:%M %Z}", reason)
    if alert:
        alert(row, "un-scheduled", f"{reason}. The video {row['remote_id']} was uploaded ahead and is now private "
                                   f"and not scheduled; it goes out only if released again (the same video).")
    result["unscheduled"] = True
    return result


def pause_all(config: Config, ledger: Ledger, reason: str, actor: str, channel_for, alert=None) -> list[dict]:
    """`pause`: every video the networks would still publish by themselves is held and un-scheduled."""
    return [unschedule(config, ledger, row, "held", f"posting is paused: {reason}", actor, channel_for, alert)
            for row in waiting(config, ledger) if row["state"] == "posted"]


def sweep(config: Config, ledger: Ledger, items: Callable[[str], object], render, channel_for,
          alert=None, now: datetime | None = None, broken: set[str] = frozenset()) -> list[dict]:
    """The daemon's re-plan: un-schedule what the content, the pause or a blackout no longer
    wants to go out at the planned time, and retry un-schedulings that failed.  ``broken``:
    content files that cannot be read right now (their videos are held, not cancelled)."""
    now = now or utcnow()
    interrupted(config, ledger, now)
    done = []
    for row in waiting(config, ledger, now):
        if row["channel"] not in config.channels:
            continue
        try:
            done.extend(_sweep_one(config, ledger, row, items, render, channel_for, alert, now, broken))
        except LedgerError:
            raise                                # the daemon's own handling: nothing can be recorded
        except Exception:  # noqa: BLE001 - one odd row must not stop the daemon's re-plan
            log.exception("could not check whether delivery %s must be un-scheduled", row["id"])
    return done


def _sweep_one(config, ledger, row, items, render, channel_for, alert, now, broken) -> list[dict]:
    if row["state"] in STOPPED:
        # Held or cancelled in the ledger, but the network still has it scheduled (a failed
        # or interrupted un-schedule): try again.
        return [unschedule(config, ledger, row, row["state"], row["hold_reason"] or row["error"] or
                           "not to be posted", "daemon", channel_for, alert)]
    if row["state"] != "posted":
        return []
    decision = _decide(config, ledger, row, items(split_delivery_item(row["item"])[0]), render, now, broken)
    if not decision:
        return []
    state, reason, fields = decision
    return [unschedule(config, ledger, row, state, reason, "planner", channel_for, alert, **fields)]


def interrupted(config: Config, ledger: Ledger, now: datetime | None = None) -> list[dict]:
    """Rows `posted` whose video is still un-scheduled on the network: an interruption (a
    crash) between taking the row to `publishing` and YouTube confirming the new publishAt,
    after which crash recovery found part 0 and called it posted.  They go back to `retrying`
    so the publisher schedules the video again (never a new upload: part 0 is recorded)."""
    now = now or utcnow()
    moved = []
    lead = max_lead(config)
    if not lead:
        return []
    for row in ledger.deliveries(states=["posted"], since=now - config.grace, until=now + lead):
        parts = ledger.parts(row["id"])
        extra = parts[0]["extra"] if parts else {}
        if extra.get("unscheduled_at") and extra.get("privacy") == "private" and not extra.get("publishAt"):
            # kind "retry": nothing is in doubt on the network (the video is recorded and exists),
            # so the publisher must not settle for a read-back (network_check) but send the update.
            if ledger.transition(row["id"], "retrying", expect=["posted"], kind="retry", posted_at=None,
                                 reason="the video is still un-scheduled on the network: scheduling it again",
                                 next_attempt_at=None):
                moved.append(row)
    return moved


def _decide(config: Config, ledger: Ledger, row: dict, item, render, now: datetime, broken=frozenset()):
    """(state, reason, fields) for a video that must come off the schedule, or None."""
    fresh = {"parts_text": None, "next_attempt_at": None}     # the publisher renders it afresh
    if item is None and row["source"] in broken:
        # Held with the planner's own reason, so fixing the file releases it (daemon re-plan).
        return "held", "content file has an error (see `python bot.py validate`)", fresh
    if item is None:
        return "cancelled", "content file deleted, made a draft or unapproved", {}
    keys = {w.key for w in wanted([item], config, now)}
    if (row["item"], row["channel"], row["planned_at"]) not in keys:
        return "cancelled", "time or channels changed in the content file", {}
    if ledger.get_meta("paused") == "1":
        return "held", "posting is paused", {}
    when = datetime.fromisoformat(row["planned_at"])
    window = blackout_for(item, when, config)
    if window:
        return "held", f"blackout: {window.reason}", {}
    for media in json.loads(row["media"] or "[]"):
        if media.get("kind") == "video" and _size(media["path"]) != media["size"]:
            # YouTube cannot swap a video's file: the publisher refuses to re-schedule it
            # (YouTubeChannel.publish) and says how to post the new file.
            return "scheduled", f"the video file {media['rel']} changed after it was uploaded ahead", fresh
    variant = render(item, row)
    if variant is not None and variant.digest != row["text_hash"]:
        errors = [p for p in (*item.problems, *variant.problems) if p.level == "error"]
        if errors:
            # The publisher does not re-check a delivery with a part out, so the gate is here.
            # item_digest is this version's, so only a later edit (a fix) releases it.
            return "held", f"content file has an error: {errors[0]}", {**fresh, "item_digest": item.digest}
        # Scheduled again at once by the publisher, rendered afresh (parts_text cleared), on
        # the same video: the old text never goes public, the new one does on time.
        return "scheduled", "content file edited after the video was uploaded ahead: the same video is " \
                            "scheduled again with the new text", fresh
    return None


def command_hooks(config: Config, ledger: Ledger):
    """(channel_for, alert) for an operator command, which has no daemon to lend its own."""
    from .alerts import Alerter, delivery_alert
    from .channels import make_channel

    alerter = Alerter(config.alert_urls, ledger)
    made: dict[str, object] = {}

    def channel_for(name: str):
        if name not in made:
            made[name] = make_channel(config.channels[name], timeout=30)
        return made[name]

    def alert(row: dict, what: str, message: str) -> None:
        title, body = delivery_alert(row, what, message, config.timezone)
        # An un-scheduling is news each time (pause, resume, pause again); a failure is one problem.
        key = f"delivery:{row['id']}:{what}" + (f":{to_utc_key(utcnow())}" if what == "un-scheduled" else "")
        alerter.send(key, title, body, row["id"], row["item"], row["channel"])

    return channel_for, alert


def _size(path: str) -> int | None:
    try:
        return Path(path).stat().st_size
    except OSError:
        return None
