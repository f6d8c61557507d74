"""Polling: read what came back on each enabled channel and store it in the ledger.

One pass (``fetch_once``) asks each channel for
- replies/comments under the council's own posts: the ledger's posted deliveries (every
  thread part) within ``[inbox] lookback_days`` (default 14);
- mentions of the account;
- direct messages, where the network allows it and ``direct = true`` for the channel;
from the cursors (since ids, high-water marks) kept in ``inbox_cursors``, so each pass
only reads what is new.  The channel's read methods live beside ``publish`` in its
module and raise the same errors, classified by the same code (``classify_http``,
``retry_at_from_headers``), so a 429 here is handled like one while publishing: the
channel is left alone until its reset time.

A channel without access (no paid tier, no App Review permission, a network civicpost
cannot read yet) is reported once, as an alert and an ``inbox_events`` row, and skipped;
nothing here ever raises into the daemon except a ledger that cannot be written.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..channels import make_channel
from ..channels.base import InboxNotSupported
from ..cluster import Fenced
from ..errors import ChannelError, ConfigError, LedgerError, RateLimited, Transient
from ..secrets import mask
from ..timeutil import to_utc_key, utcnow
from . import store, triage

log = logging.getLogger("civicpost.inbox")

KINDS = ("replies", "mentions", "direct")
BATCH = 100
DEFAULTS = {"enabled": True, "poll_minutes": 5.0, "lookback_days": 14.0, "replies": True, "mentions": True,
            "direct": False, "sweep_minutes": 60.0}


def channel_settings(config, name: str) -> dict:
    """[inbox] defaults, overridden per channel by [inbox.channels.NAME] (enabled,
    poll_minutes, lookback_days, replies, mentions, direct).  The log channel has nothing
    to read.  Also run for every channel when the config is loaded (inbox/settings.py)."""
    section = config.section("inbox")
    merged = {key: section.get(key, default) for key, default in DEFAULTS.items()}
    per_channel = section.get("channels", {})
    if not isinstance(per_channel, dict):
        raise ConfigError("[inbox.channels] must be tables like [inbox.channels.NAME]", str(config.path))
    override = per_channel.get(name, {})
    if not isinstance(override, dict):
        raise ConfigError(f"[inbox.channels.{name}] must be a table", str(config.path))
    for key, value in override.items():
        if key not in DEFAULTS:
            raise ConfigError(f"[inbox.channels.{name}] {key} is not an inbox setting; use one of "
                              f"{', '.join(DEFAULTS)}", str(config.path))
        merged[key] = value
    unknown = set(per_channel) - set(config.channels)
    if unknown:
        raise ConfigError(f"[inbox.channels.{sorted(unknown)[0]}] names no [channels.{sorted(unknown)[0]}] table",
                          str(config.path))
    for key in ("poll_minutes", "lookback_days", "sweep_minutes"):
        if isinstance(merged[key], bool) or not isinstance(merged[key], (int, float)):
            where = f"[inbox.channels.{name}]" if key in override else "[inbox]"
            raise ConfigError(f"{where} {key} = {merged[key]!r} must be a number without quotes: {key} = "
                              f"{int(DEFAULTS[key])}", str(config.path))
        merged[key] = float(merged[key])
    if merged["poll_minutes"] <= 0:
        raise ConfigError(f"[inbox] poll_minutes must be more than 0 (channel {name})", str(config.path))
    if merged["lookback_days"] < 0:
        raise ConfigError(f"[inbox] lookback_days must be 0 or more (channel {name})", str(config.path))
    for key in ("enabled", "replies", "mentions", "direct"):
        if not isinstance(merged[key], bool):
            where = f"[inbox.channels.{name}]" if key in override else "[inbox]"
            raise ConfigError(f"{where} {key} = {merged[key]!r} must be true or false (without quotes)",
                              str(config.path))
    merged["enabled"] = bool(merged["enabled"]) and config.channels[name].network != "log"
    return merged


@dataclass
class ChannelResult:
    channel: str
    new: int = 0
    edited: int = 0
    deleted: int = 0
    answered: int = 0
    skipped: list[str] = field(default_factory=list)     # why a kind was not read this pass
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Poller:
    """Holds one channel object per channel (their sessions) between passes."""

    def __init__(self, config, ledger, alerter=None):
        self.config = config
        self.ledger = ledger
        self.alerter = alerter
        self.triage = triage.Triage(config)
        self.channels: dict = {}
        self.lock = threading.Lock()          # one pass at a time (the CLI and the daemon's job)
        # Several daemons (#12): called with the channel's name before every write and every
        # act of a poll (store, cursor, event, alert); raises cluster.Fenced once this node's
        # lease on the channel may have passed to another (stopped or cut off mid-poll), so a
        # stale read never overwrites what the new holder stored (see daemon_poll).
        self.fence = None

    def _guard(self, name: str) -> None:
        if self.fence is not None:
            self.fence(name)

    def channel(self, name: str):
        if name not in self.channels:
            self.channels[name] = make_channel(self.config.channels[name])
        return self.channels[name]

    # ----- the pass ----------------------------------------------------------------
    def due(self, name: str, now: datetime) -> bool:
        settings = channel_settings(self.config, name)
        if not settings["enabled"]:
            return False
        last = store.get_cursor(self.ledger, name, "polled_at")
        return last is None or datetime.fromisoformat(last) + timedelta(minutes=settings["poll_minutes"]) <= now

    def run(self, names: list[str] | None = None, now: datetime | None = None, only_due: bool = False) -> list[dict]:
        now = now or utcnow()
        wanted = names or list(self.config.channels)
        for name in wanted:
            if name not in self.config.channels:
                raise ConfigError(f"inbox fetch: no channel {name!r}; channels are {', '.join(self.config.channels)}",
                                  str(self.config.path))
        results = []
        with self.lock:
            for name in wanted:
                if not channel_settings(self.config, name)["enabled"]:
                    continue
                if only_due and not self.due(name, now):
                    continue
                try:
                    results.append(self.poll_channel(name, now).as_dict())
                except Fenced as exc:
                    log.warning("inbox: %s: poll dropped: %s", name, exc)
                    results.append(ChannelResult(name, errors=[str(exc)]).as_dict())
        return results

    def poll_channel(self, name: str, now: datetime) -> ChannelResult:
        settings = channel_settings(self.config, name)
        result = ChannelResult(name)
        held = store.get_cursor(self.ledger, name, "rate_limited_until")
        if held and datetime.fromisoformat(held) > now:
            result.skipped.append(f"rate limited until {held}")
            return result
        self._guard(name)
        store.set_cursor(self.ledger, name, "polled_at", to_utc_key(now))
        for kind in KINDS:
            if not settings[kind]:
                continue
            try:
                self._read(name, kind, settings, now, result)
                self._access_ok(name, kind)
            except (LedgerError, Fenced):
                raise
            except RateLimited as exc:
                until = exc.retry_at or now + timedelta(minutes=settings["poll_minutes"])
                self._guard(name)
                store.set_cursor(self.ledger, name, "rate_limited_until", to_utc_key(until))
                store.event(self.ledger, "rate-limited", name, reason=str(exc), detail={"kind": kind,
                                                                                         "until": to_utc_key(until)})
                result.errors.append(f"{kind}: rate limited until {to_utc_key(until)}")
                break
            except Transient as exc:
                log.warning("inbox: %s %s: %s (next poll will try again)", name, kind, exc)
                result.errors.append(f"{kind}: {exc}")
            except InboxNotSupported as exc:
                self._no_access(name, kind, str(exc), unsupported=True)
                result.skipped.append(f"{kind}: not supported")
            except ChannelError as exc:
                self._no_access(name, kind, str(exc))
                result.errors.append(f"{kind}: {exc}")
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                # A malformed answer: nothing from this read is stored and its cursor is not
                # moved, so the next poll reads the same messages again; nothing is lost.
                text = mask(f"{name} sent {kind} civicpost cannot read ({type(exc).__name__}: {exc}); "
                            f"nothing was skipped: the next poll reads them again")
                log.warning("inbox: %s", text)
                self._guard(name)
                store.event(self.ledger, "malformed", name, reason=text[:500], detail={"kind": kind})
                result.errors.append(f"{kind}: {text}")
        return result

    def _read(self, name: str, kind: str, settings: dict, now: datetime, result: ChannelResult) -> None:
        channel = self.channel(name)
        cursor = store.get_cursor(self.ledger, name, kind)
        sweep = False
        if kind == "replies":
            posts = store.posted_since(self.ledger, name, now - timedelta(days=settings["lookback_days"]))
            by_remote = {rid: post for post in posts for rid in post["remote_ids"]}
            # Open messages too: the council may answer a mention (in the app or through
            # `inbox reply`) under the resident's own post, not under one of its own.
            waiting = store.open_remote_ids(self.ledger, name, now - timedelta(days=settings["lookback_days"]))
            # (a "dm:" id names a direct message, not a post a thread can be read under)
            asked = list(by_remote) + [rid for rid in waiting if rid not in by_remote and not rid.startswith("dm:")]
            # Every sweep_minutes, the reads that show edits and deletions (inbox_deleted, or a
            # full read where the incremental one cannot show them): see Channel.inbox_deleted.
            sweep = self._sweep_due(name, settings, now)
            if sweep:
                self._sweep(name, channel, settings, now, result)
            if not asked:
                if sweep:
                    self._guard(name)
                    store.set_cursor(self.ledger, name, "swept_at", to_utc_key(now))
                return
            full = sweep and channel.inbox_full_read_shows_changes
            page = channel.inbox_replies(asked, None if full else cursor)
        elif kind == "direct":
            by_remote = {}
            page = channel.inbox_direct(cursor)
        else:
            by_remote = {}
            page = channel.inbox_mentions(cursor)
        ours = set(by_remote)
        seen: set[str] = set()
        messages = list(page.messages)
        for start in range(0, len(messages), BATCH):
            alerts: list[int] = []
            # A batch per transaction: one fsync per 100 messages, and the ledger's lock is
            # never held long enough to delay a post's record.
            self._guard(name)
            with self.ledger.transaction():
                for message in messages[start:start + BATCH]:
                    seen.add(message.remote_id)
                    if message.kind == "direct" and not settings["direct"]:
                        continue                      # direct messages are read only where enabled
                    if message.remote_id in ours and not self._answers_someone(name, message):
                        continue                      # the council's own post (a thread part)
                    alerts += self._store(name, channel.network, message, by_remote, result)
            for message_id in alerts:                 # after the commit: apprise may be slow
                self._guard(name)
                self._urgent(name, message_id)
        if page.complete:
            self._missing_were_deleted(name, ours - set(page.missing_posts), seen, result)
        if page.cursor is not None and page.cursor != cursor:
            self._guard(name)                         # a stale cursor would move the new holder's back
            store.set_cursor(self.ledger, name, kind, page.cursor)
        if sweep:
            # Only now: a sweep whose full read failed (a 429, a timeout) is tried again next poll.
            self._guard(name)
            store.set_cursor(self.ledger, name, "swept_at", to_utc_key(now))

    def _sweep_due(self, name: str, settings: dict, now: datetime) -> bool:
        last = store.get_cursor(self.ledger, name, "swept_at")
        return last is None or datetime.fromisoformat(last) + timedelta(minutes=settings["sweep_minutes"]) <= now

    def _sweep(self, name: str, channel, settings: dict, now: datetime, result: ChannelResult) -> None:
        """Ask the network which stored messages it no longer has (X: tweets lookup), and
        mark them deleted (text kept); _read keeps the sweep's time (cursor "swept_at")."""
        ids = store.live_remote_ids(self.ledger, name, now - timedelta(days=settings["lookback_days"]))
        try:
            gone = channel.inbox_deleted(ids) if ids else []
        except InboxNotSupported:
            gone = []
        for remote_id in gone:
            self._mark_deleted(name, remote_id, result)

    def _mark_deleted(self, name: str, remote_id: str, result: ChannelResult) -> None:
        from ..model import Incoming

        old = store.by_remote(self.ledger, name, remote_id)
        if old is None or old["deleted"]:
            return
        self._guard(name)                             # a stale read would mark a live message deleted
        gone = Incoming(old["remote_id"], old["kind"], old["text"] or "", datetime.fromisoformat(old["created_at"]),
                        deleted=True)
        if store.record(self.ledger, name, old["network"], gone)[1] == "deleted":
            result.deleted += 1

    def _store(self, name: str, network: str, message, by_remote: dict, result: ChannelResult) -> list[int]:
        """Record one message; returns [its id] if it needs an urgent alert."""
        known = store.by_remote(self.ledger, name, message.remote_id)
        if known is not None and known["text"] == message.text and known["deleted"] >= message.deleted:
            return []                                 # seen before, unchanged: no triage again
        delivery = by_remote.get(message.answers or "") or by_remote.get(message.conversation or "") or \
            by_remote.get(message.parent_id or "")
        if delivery is None and message.answers is None:
            # A mention under an older post: the ledger may still know which post it is.
            delivery = self._delivery_of(name, message.conversation or message.parent_id)
        flags, language, due = ([], None, None) if message.own or message.deleted else \
            self.triage.assess(message.text, message.created_at, message.language)
        message_id, what = store.record(self.ledger, name, network, message, delivery=delivery, flags=flags,
                                        language=language, foi_due=due)
        if what == "same":
            return []
        setattr(result, what, getattr(result, what) + 1)
        if message.own and what == "new" and triage.answered_by(self.ledger, store.message(self.ledger, message_id)):
            result.answered += 1
        return [message_id] if "urgent" in flags and what in ("new", "edited") else []

    def _urgent(self, name: str, message_id: int) -> None:
        if self.alerter is None:
            return
        row = store.message(self.ledger, message_id)
        self.alerter.send(f"inbox-urgent:{message_id}", f"civicpost inbox: URGENT message on {name}",
                          f"Message {message_id} from {row['author']} may need action now (safeguarding or "
                          f"urgent words):\n{(row['text'] or '')[:500]}\n{row['url'] or ''}\n"
                          f"python bot.py inbox show {message_id}", channel=name)

    def _answers_someone(self, name: str, message) -> bool:
        """A council post that is itself a reply to a stored resident message (sent by
        `inbox reply`): kept, so that message is marked answered."""
        parent = store.by_remote(self.ledger, name, message.parent_id) if message.parent_id else None
        return bool(message.own and parent and not parent["own"])

    def _delivery_of(self, name: str, remote_id: str | None) -> dict | None:
        if not remote_id:
            return None
        rows = self.ledger._query("SELECT d.id, d.item FROM deliveries d LEFT JOIN parts p ON p.delivery_id = d.id "
                                  "WHERE d.channel = ? AND (d.remote_id = ? OR p.remote_id = ?) LIMIT 1",
                                  [name, remote_id, remote_id])
        return rows[0] if rows else None

    def _missing_were_deleted(self, name: str, posts: set[str], seen: set[str], result: ChannelResult) -> None:
        if not posts:
            return
        marks = ", ".join("?" * len(posts))
        rows = self.ledger._query(f"SELECT remote_id, parent_remote_id FROM inbox_messages WHERE channel = ? AND "
                                  f"deleted = 0 AND kind IN ('reply', 'comment') AND (conversation IN ({marks}) OR "
                                  f"parent_remote_id IN ({marks}))", [name, *posts, *posts])
        for row in rows:
            # Only where its parent is still there: a reply under a deleted reply drops out
            # of the thread view without being deleted itself.
            if row["remote_id"] not in seen and row["parent_remote_id"] in posts | seen:
                self._mark_deleted(name, row["remote_id"], result)

    # ----- access problems: reported once -------------------------------------------
    def _no_access(self, name: str, kind: str, error: str, unsupported: bool = False) -> None:
        key = f"inbox-access:{name}:{kind}"
        already = self.ledger._query("SELECT kind FROM inbox_events WHERE reason = ? AND kind IN ('no-access', "
                                     "'access-ok') ORDER BY id DESC LIMIT 1", [key])
        if already and already[0]["kind"] == "no-access":
            return
        error = mask(error)
        self._guard(name)
        store.event(self.ledger, "no-access", name, reason=key, detail={"kind": kind, "error": error})
        log.warning("inbox: %s cannot read %s: %s", name, kind, error)
        if self.alerter is not None and not unsupported:
            self.alerter.send(key, f"civicpost inbox: {name} cannot read {kind}",
                              f"{error}\nSee docs/channels.md for the access this network needs. civicpost keeps "
                              f"publishing; this is reported once.", channel=name)

    def _access_ok(self, name: str, kind: str) -> None:
        key = f"inbox-access:{name}:{kind}"
        last = self.ledger._query("SELECT kind FROM inbox_events WHERE reason = ? AND kind IN ('no-access', "
                                  "'access-ok') ORDER BY id DESC LIMIT 1", [key])
        if last and last[0]["kind"] == "no-access":
            self._guard(name)
            store.event(self.ledger, "access-ok", name, reason=key)
            if self.alerter is not None:
                self.alerter.clear(key)


def fetch_once(config, channel: str | None = None) -> list[dict]:
    """`bot.py inbox fetch`: one pass over every enabled channel (or one), now."""
    from ..alerts import Alerter
    from ..database import open_configured

    ledger = open_configured(config)
    try:
        poller = Poller(config, ledger, Alerter(config.alert_urls, ledger))
        return poller.run([channel] if channel else None)
    finally:
        ledger.close()


def tick_seconds(config) -> float:
    """How often the daemon's inbox job wakes: every minute, or sooner if a channel polls
    more often than that."""
    minutes = [channel_settings(config, name)["poll_minutes"] for name in config.channels
               if channel_settings(config, name)["enabled"]]
    return max(1.0, min([60.0] + [m * 60 for m in minutes]))


_pollers: dict[int, Poller] = {}


def daemon_poll(daemon) -> None:
    """The daemon's inbox job, run in its own one-thread executor so a slow network never
    holds up a post: poll each channel whose poll_minutes have passed.  Reads
    ``daemon.config`` each time, so a reload (SIGHUP) takes effect at the next tick."""
    config = daemon.config
    poller = _pollers.get(id(config))
    if poller is None or poller.config is not config:
        _pollers.clear()
        poller = _pollers[id(config)] = Poller(config, daemon.ledger, daemon.alerter)
    cluster = getattr(daemon, "cluster", None)
    poller.fence = None if cluster is None else (lambda name: cluster.check_lease(f"inbox:{name}"))
    try:
        from .records import apply_retention, send_digest

        # Several daemons (#12): each channel is polled, and the digest sent, by the one node
        # holding its lease (schedule/cluster.py), so two nodes never poll or reply twice.
        if cluster is None or cluster.lease("inbox:*"):
            send_digest(config, daemon.ledger, daemon.alerter)
            if cluster is not None:
                cluster.check_lease("inbox:*")          # the digest's send may have been slow
            if store.get_cursor(daemon.ledger, "*", "retention") != utcnow().date().isoformat():
                apply_retention(config, daemon.ledger)          # once a day
                store.set_cursor(daemon.ledger, "*", "retention", utcnow().date().isoformat())
        names = None if cluster is None else [n for n in config.channels if cluster.lease(f"inbox:{n}")]
        for result in (poller.run(names, only_due=True) if names is None or names else ()):
            if result["new"] or result["edited"] or result["deleted"]:
                log.info("inbox: %s: %d new, %d edited, %d deleted, %d answered", result["channel"], result["new"],
                         result["edited"], result["deleted"], result["answered"])
    except (ConfigError, LedgerError) as exc:
        log.error("inbox: not polling this time: %s", mask(exc))
    except Fenced as exc:                         # stopped or cut off past the lease: the holder polls
        log.warning("inbox: %s", exc)
    except Exception:  # noqa: BLE001 - a bug in reading must never stop publishing
        log.exception("inbox: poll failed")
