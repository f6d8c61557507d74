"""`bot.py run`: APScheduler wiring, signals and sd_notify.  No rules of its own.

The content files say what should be posted (the planner turns them into deliveries);
the ledger says what has happened.  One APScheduler DateTrigger job per open delivery;
a rescan job (plus a folder watch) keeps the two in step; the main thread handles
signals, operator commands (noticed through SQLite's data_version) and the watchdog.
"""
from __future__ import annotations

import dataclasses
import gc
import logging
import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

from .alerts import Alerter
from .blocked import Attention
from .cluster import Fenced
from .gitinfo import GitIndex
from .lock import LedgerLock
from .config import Config, load_config
from .scanner import ContentScanner
from .errors import BotError, ConfigError, LedgerError, Problem
from .signoff import records_in
from .languages import language_codes, split_delivery_item
from .database import ledger_spec, open_configured
from .model import Item
from .publisher import Publisher
from .daemon_planning import Planning
from .render import Renderer
from .secrets import mask
from .systemd import notify, watchdog_interval
from .timeutil import human, to_utc_key, utcnow
from .verdicts import templates_stamp

log = logging.getLogger("civicpost.daemon")
HEARTBEAT_SECONDS = 5
# A burst's jobs share one look at templates/ (a stat of every file under it, a dozen system
# calls and ~3-6% of a delivery's CPU in #12's burst): a job reuses a finished look that began
# at most this long before the job's own would, which is well inside the time a job already
# takes from its look to its send in a burst.  A lone job still looks itself.
TEMPLATES_LOOK_SECONDS = 0.1
# The cyclic collector's youngest generation is collected after this many new container
# objects, not CPython's 700.  Nearly everything a delivery makes (a request's headers, a
# row, a receipt) is freed by reference counting before then, so a pass finds little; at
# 700 the passes were 5.5% of a daemon's CPU in #12's burst (perf), at 10,000 2.6%.  The
# cost is memory: at most this many objects' worth of cyclic garbage waits for a pass.
YOUNG_COLLECTION = 10_000


def dry_run_config(config: Config) -> Config:
    """A rehearsal writes to its own ledger file, so it never blocks the real run."""
    db = config.database
    # Always a SQLite file, even beside a PostgreSQL ledger (#12): a rehearsal never touches the real one.
    return dataclasses.replace(config, database=db.with_name(db.stem + ".dry-run" + db.suffix), database_url=None)


LEDGER_ALERT = "ledger-write"


class Daemon(Planning):
    def __init__(self, config_path: str | Path, dry_run: bool = False, play_next: int = 0):
        self.config_path = config_path
        self.dry_run = dry_run
        self.play_next = play_next           # rehearsal only: play the next N deliveries now
        self.config = self._load()
        # Before the ledger is even opened: a second daemon must not migrate, plan or
        # "recover" the first one's in-flight `publishing` rows.
        # PostgreSQL admits several daemons, each a node of a cluster (schedule/cluster.py).
        self.cluster = None
        if ledger_spec(self.config) == self.config.database:
            self.lock = LedgerLock(self.config.database)
            self.lock.acquire()
        self.ledger = open_configured(self.config)
        if hasattr(self.ledger, "url"):
            from .cluster import Cluster
            self.cluster = Cluster(self.ledger, self.config)
        self.alerter = Alerter(self.config.alert_urls, self.ledger)
        self.attention = Attention(self.config, self.ledger, self.alerter)
        self.scanner = ContentScanner(self.config)
        self.items: dict[str, Item] = {}
        self.item_errors: dict[str, list[Problem]] = {}     # item id -> its errors (the gate's answer)
        # Page sign-offs are ledger writes by another process, not file changes: the loop
        # compares them on each data_version change and re-plans the items they touch.
        self.signoffs_seen: dict[str, dict] = records_in(self.ledger)
        self.signoffs_changed: set[str] = set()
        self.planned_once = False
        self.renderer = Renderer(self.config)
        # The renderer keeps every template it compiles, so an edited template (or an included
        # one, or a new channel's own file) needs a new Renderer: the stamp (a stat per file
        # under templates/) is compared on each re-plan and before each delivery.
        self.templates_seen = templates_stamp(self.config)
        self.templates_lock = threading.Lock()
        self.templates_looked = float("-inf")   # when the last finished look of a job began (monotonic)
        self.templates_unjudged = False          # templates changed; the re-plan has not re-gated yet
        self.publisher = self._publisher()
        self.scheduler = None
        self.job_times: dict[int, datetime] = {}
        self.stop_event = threading.Event()
        self.rescan_event = threading.Event()
        self.reload_event = threading.Event()
        self.sync_event = threading.Event()
        self.in_flight = 0
        self.in_flight_lock = threading.Lock()
        self.running: set[int] = set()
        self.last_tick = time.monotonic()
        self.auth_checked: dict[str, float] = {}
        self.git = GitIndex()
        self.ledger_failing, self.replan_failed, self.works_lock = False, False, threading.Lock()

    def _load(self) -> Config:
        config = load_config(self.config_path)
        return dry_run_config(config) if self.dry_run else config

    def _publisher(self) -> Publisher:
        old = getattr(self, "publisher", None)
        bad = old.bad_auth if old else {}
        # A lookup through self, not a bound dict method: each rescan swaps in a new dict.
        return Publisher(self.config, self.ledger, self.renderer, self.alerter,
                         lambda i: self.items.get(split_delivery_item(i, language_codes(self.config))[0]),
                         self.dry_run,
                         bad_auth=bad, unrecorded=old.unrecorded if old else {},
                         pending=old.pending if old else {}, cluster=self.cluster)

    # ----- start-up ------------------------------------------------------------------
    def start(self) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        self._channels_ready(warm=True)
        if self.cluster is None:
            self.ledger.set_meta(daemon_pid=os.getpid(), daemon_started=to_utc_key(utcnow()),
                                 dry_run=int(self.dry_run), heartbeat_at=to_utc_key(utcnow()))
        else:                                     # the nodes table is every node's heartbeat
            self.cluster.start()
        # The first plan gates every file (6.5 s for 20,000 in bench/idle.py): a slow host may need more.
        notify("EXTEND_TIMEOUT_USEC=300000000")
        self._replan_safely(sync=False)
        # Interrupted posts: all of them on SQLite (one daemon); in a cluster, only those whose
        # node's lease ran out (another node may be posting the others right now).
        if self.cluster is None:
            for row in self.ledger.deliveries(states=["publishing"]):
                self._recover(row)
        else:
            for delivery_id in self.cluster.take_over():
                self._recover_job(delivery_id)
        if self.dry_run and self.play_next:
            from .rehearsal import play_next
            play_next(self.ledger, self.config, self.play_next)
        self.scheduler = BackgroundScheduler(
            timezone=self.config.timezone, executors={"default": ThreadPoolExecutor(int(self.config.section("schedule").get("workers", 100)))},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1})
        self.scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=HEARTBEAT_SECONDS), id="heartbeat")
        self.scheduler.add_job(self.rescan_event.set, IntervalTrigger(seconds=self.config.rescan_seconds),
                               id="rescan")
        if not self.dry_run:                      # the inbox (#11): its own thread, never delays posting
            from .inbox.fetch import daemon_poll, tick_seconds
            self.scheduler.add_executor(ThreadPoolExecutor(1), "inbox")
            self.scheduler.add_job(daemon_poll, IntervalTrigger(seconds=tick_seconds(self.config)), args=[self],
                                   id="inbox", executor="inbox")
        self.scheduler.start()
        if self.cluster is not None:
            self.cluster.on_takeover = lambda ids: [self.scheduler.add_job(self._recover_job, args=[i]) for i in ids]
            self.cluster.on_leader = self._became_leader
            self.cluster.on_peers = self.sync_event.set      # the main loop re-times the jobs
        self.sync_jobs()
        self._watch()
        # What start-up made (the first plan's items, templates, clients, imported modules)
        # lives as long as the daemon: kept out of the cyclic collector's full passes, which
        # otherwise walk it all again in a burst (one took 53-60 ms, 6-9% of a daemon's CPU
        # in bench/burst.py; 4-6 ms after this).  Garbage first, so none of it is kept.  Then
        # the young passes less often (YOUNG_COLLECTION).
        gc.collect()
        gc.freeze()
        gc.set_threshold(YOUNG_COLLECTION, *gc.get_threshold()[1:])
        notify("READY=1")
        log.info("civicpost running%s: %d item(s), ledger %s; %s", " (dry run)" if self.dry_run else "",
                 len(self.items), ledger_spec(self.config), self._status())

    def _channels_ready(self, warm: bool = False) -> None:
        for name in self.config.channels:
            channel = self.renderer.channel(name)
            if self.cluster is not None:
                # Fencing holds only if a call ends before the lease can pass on (docs/admin.md).
                channel.timeout = min(channel.timeout, self.cluster.settings.margin * 0.8)
            if warm:
                channel.warm_up()

    def _recover(self, row: dict) -> None:
        state = self.attention.recover(row, self.publisher)
        log.warning("RECOVERED delivery %s (%s on %s) after an interruption: %s", row["id"], row["item"],
                    row["channel"], state)

    def _recover_job(self, delivery_id: int) -> None:
        """A row another node left in `publishing` (its lease ran out), claimed by this one."""
        with self.cluster.holding(delivery_id, "recovering"):
            try:
                row = self.ledger.get(delivery_id)
                if row and row["state"] == "publishing" and row["claimed_by"] == self.cluster.node_id:
                    self._recover(row)
            except BotError as exc:
                log.error("delivery %s: recovery failed: %s", delivery_id, mask(exc))
        self.sync_event.set()

    def _became_leader(self) -> None:
        self.planned_once = False                 # compare every item: the last leader may have left work
        self.rescan_event.set()

    def _replan_safely(self, sync: bool = True) -> None:
        """A re-plan whose failure is reported, never fatal (systemd would restart into it)."""
        try:
            self.replan(sync)
            if self.ledger_failing:
                self._ledger_works()
            if self.replan_failed:
                self.replan_failed = False
                self.alerter.clear("replan")
        except Fenced as exc:                    # deposed while planning: the new leader plans
            log.warning("%s", exc)
        except BotError as exc:
            log.error("rescan failed: %s", mask(exc))
            if isinstance(exc, LedgerError):
                self._ledger_trouble(exc)
        except Exception as exc:  # noqa: BLE001 - a bug or an input nobody foresaw
            log.exception("rescan failed")
            self.replan_failed = True
            self.alerter.send("replan", "civicpost: re-planning failed", f"{type(exc).__name__}: {mask(exc)}\nPlanned "
                              "deliveries still go out; edits are not picked up until this is fixed (see the log).")

    def _watch(self) -> None:
        """Notice edits at once where the OS lets us; the periodic rescan is the safety net."""
        def watch() -> None:
            try:
                import watchfiles

                # templates/ too: a template edit re-renders and re-gates the queue at once.
                folders = [self.config.content_dir] + [self.config.templates_dir] * self.config.templates_dir.is_dir()
                for _ in watchfiles.watch(*folders, stop_event=self.stop_event, debounce=500,
                                          raise_interrupt=False):
                    self.rescan_event.set()
            except Exception as exc:  # noqa: BLE001 - no inotify: the periodic rescan still runs
                log.info("folder watch unavailable (%s); rescanning every %ss", exc, self.config.rescan_seconds)

        threading.Thread(target=watch, name="watch", daemon=True).start()

    def _run_job(self, delivery_id: int) -> None:
        with self.in_flight_lock:
            self.in_flight += 1
            self.running.add(delivery_id)
        try:
            if self.stop_event.is_set():
                return
            if (self._templates_looked_at() or self.templates_unjudged) and self._judge_afresh(delivery_id):
                return
            if self.attention.block_if_errors(delivery_id, self.item_errors):
                return
            self.publisher.run(delivery_id)
        except LedgerError as exc:
            self._ledger_trouble(exc)
            log.error("delivery %s: %s", delivery_id, mask(exc))
        except BotError as exc:
            log.error("delivery %s: %s", delivery_id, mask(exc))
        except Exception as exc:  # noqa: BLE001 - keep the scheduler alive
            log.exception("delivery %s: unexpected error", delivery_id)
            # Nothing was sent if the row never reached `publishing`: fail it loudly rather
            # than retrying a bug every second.
            row = self.ledger.get(delivery_id)
            if row and row["state"] in ("scheduled", "retrying") and self.ledger.transition(
                    delivery_id, "failed", expect=["scheduled", "retrying"], error=f"internal error: {mask(exc)}"):
                self.publisher.alert(row, "failed", f"internal error: {mask(exc)}")
        finally:
            with self.in_flight_lock:
                self.in_flight -= 1
                self.running.discard(delivery_id)
                self.job_times.pop(delivery_id, None)
            self.sync_event.set()                # e.g. a retry needs its next job

    def _templates_looked_at(self) -> bool:
        """``_templates_changed`` for a job, or False when another job's look began less than
        TEMPLATES_LOOK_SECONDS ago and has finished (a change it found is then still
        ``templates_unjudged``, so this job is judged afresh all the same)."""
        started = time.monotonic()
        if started - self.templates_looked < TEMPLATES_LOOK_SECONDS:
            return False
        changed = self._templates_changed()
        self.templates_looked = max(self.templates_looked, started)
        return changed

    # ----- the main loop -----------------------------------------------------------------
    def _heartbeat(self) -> None:
        self.last_tick = time.monotonic()
        if self.cluster is not None:              # its own thread renews the node's heartbeat
            return self._ledger_works()
        self._ledger_works(lambda: self.ledger.set_meta(heartbeat_at=to_utc_key(utcnow())))

    def _ledger_works(self, write=None) -> None:
        """A write worked (heartbeat, re-plan): record the posts that waited; say once posting resumes."""
        with self.works_lock:                    # the scheduler's thread and the main loop
            try:
                if write:
                    write()
                self.publisher.record_unrecorded()
            except LedgerError as exc:
                return self._ledger_trouble(exc)
            if self.ledger_failing:
                self.ledger_failing = False
                log.warning("the ledger can be written again: posting resumes")
                self.alerter.clear(LEDGER_ALERT)

    def _ledger_trouble(self, exc: LedgerError) -> None:
        """Say once, loudly, that nothing can be posted: a full disk is otherwise silent."""
        if getattr(exc, "session_ended", False) and self.cluster is not None and self.cluster.deposed():
            # Stopped past its lease, this node had its sessions ended by another (#12): the
            # statement that met it failed; the ledger is fine and the others went on.
            log.warning("ledger statement failed because another node ended this node's sessions (it was stopped "
                        "or cut off past its lease): %s", mask(exc))
            return
        self.ledger_failing = True
        try:
            self.alerter.send(LEDGER_ALERT, "civicpost cannot write its ledger: nothing is being posted",
                              f"{mask(exc)}\nNo post is sent until its record can be written; posting resumes by "
                              f"itself when it can (check the free space for {self.config.database.parent}).")
        except LedgerError:
            pass                                 # the alert went out; only its record could not be kept

    def _status(self) -> str:
        nxt = self.ledger.next_open()
        if nxt:
            text = f"next: {nxt['item']} on {nxt['channel']} at {human(nxt['planned_at'], self.config.timezone)}"
        else:
            text = "nothing scheduled"
        if self.ledger.get_meta("paused") == "1":
            text = "PAUSED; " + text
        notify(f"STATUS={text}")
        return text

    def loop(self) -> int:
        watchdog = watchdog_interval()
        last_ping = 0.0
        seen_version = self.ledger.data_version()
        while not self.stop_event.wait(1.0):
            if self.reload_event.is_set():
                self.reload_event.clear()
                self.reload()
            version = self.ledger.data_version()
            if version != seen_version or self.sync_event.is_set():   # an operator command, or a retry
                seen_version = version
                self.sync_event.clear()
                self._sync_safely()
            if self.rescan_event.is_set():
                self.rescan_event.clear()
                self._replan_safely()
            if watchdog and time.monotonic() - last_ping >= watchdog:
                # Only while the scheduler thread is ticking: a stuck scheduler gets restarted.
                if time.monotonic() - self.last_tick < 3 * HEARTBEAT_SECONDS:
                    notify("WATCHDOG=1")
                    last_ping = time.monotonic()
        return self.shutdown()

    def _sync_safely(self) -> None:
        """The main loop's re-timing of jobs (after a change notice, or when the database is
        away: ``data_version`` then says "something may have changed").  A ledger that
        cannot be read is reported as any failed write is (once, with the alert), and tried
        again next turn, never the end of the daemon: systemd would only restart it into the
        same outage (a network cut, a database failover), with nothing posted meanwhile."""
        try:
            self._notice_signoffs()
            self.sync_jobs()
        except LedgerError as exc:
            if not self.ledger_failing:
                log.error("cannot re-time the jobs: %s", mask(exc))
            self._ledger_trouble(exc)
            self.sync_event.set()

    def _notice_signoffs(self) -> None:
        """A sign-off made (or replaced) on the web page re-plans its item, so a post blocked
        for want of approval goes out without an edit to its file."""
        try:
            fresh = records_in(self.ledger)
        except Exception as exc:  # noqa: BLE001 - the ledger's own trouble is reported by the re-plan
            log.warning("could not read page sign-offs: %s", mask(exc))
            return
        changed = {i for i in fresh.keys() | self.signoffs_seen.keys() if fresh.get(i) != self.signoffs_seen.get(i)}
        self.signoffs_seen = fresh
        if changed:
            self.signoffs_changed |= changed
            self.rescan_event.set()

    def reload(self) -> None:
        try:
            config = self._load()
        except ConfigError as exc:
            log.error("reload refused, keeping the old config: %s", exc)
            return
        if ledger_spec(config) != ledger_spec(self.config):
            # The lock and the open ledger are for the old file: moving them live could let a
            # second daemon in between.  Say so, and keep the ledger this daemon locked.
            log.error("reload: [paths] database changed to %s; keeping %s until a restart", config.database,
                      self.config.database)
            config = dataclasses.replace(config, database=self.config.database, database_url=self.config.database_url)
        self.config = config
        self.alerter.urls = config.alert_urls
        self.attention.config = config
        self.scanner = ContentScanner(config)
        self.planned_once = False
        self.renderer = Renderer(config)
        self.templates_seen = templates_stamp(config)
        self._channels_ready()
        self.publisher = self._publisher()
        log.info("config reloaded from %s", config.path)
        self._replan_safely()

    def shutdown(self) -> int:
        notify("STOPPING=1")
        log.info("stopping: waiting for posts in progress")
        self.scheduler.shutdown(wait=False)
        deadline = time.monotonic() + float(self.config.section("schedule").get("stop_timeout_seconds", 30))
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.cluster is not None:
            self.cluster.stop()
        try:
            self.publisher.record_unrecorded()
            with self.ledger.transaction():      # clear the PID only if it is ours
                if self.ledger.get_meta("daemon_pid") == str(os.getpid()):
                    self.ledger.set_meta(daemon_pid=None, heartbeat_at=None)
                self.ledger.set_meta(stopped_at=to_utc_key(utcnow()))
        except LedgerError as exc:
            left = ", ".join(f"{i} as {r.remote_id}" for i, (r, *_) in self.publisher.unrecorded.items())
            log.error("stopping with a ledger that cannot be written (%s)%s", mask(exc),
                      f"; sent but not recorded: {left} (checked on the network at next start)" if left else "")
        if self.in_flight:
            log.error("%d post(s) still in progress at shutdown; they are checked at next start", self.in_flight)
            logging.shutdown()
            os._exit(0)                          # worker threads cannot be interrupted; the ledger has them
        log.info("stopped")
        return 0


def run(config_path: str | Path, dry_run: bool = False, play_next: int = 0) -> int:
    # Signals first: a SIGTERM during start-up must stop cleanly, not kill half-way.
    stop, reload = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    daemon = Daemon(config_path, dry_run, play_next)
    daemon.stop_event, daemon.reload_event = stop, reload
    daemon.start()
    return daemon.loop()
