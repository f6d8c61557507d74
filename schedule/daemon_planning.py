"""The daemon's planning (a part of ``Daemon``, schedule/daemon.py, in its own module):
bring the ledger in step with content/ (the re-plan, and a template edit noticed at once),
and one APScheduler job per open delivery within the horizon (``sync_jobs``).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from pathlib import Path

from .gitinfo import git_pull
from .content import display_path
from .errors import LedgerError, Problem
from .gate import decide
from .signoff import records_in
from .plan import blocked_reason, reconcile, wanted, wanted_but_cancelled
from .plan_actions import apply_actions, recheck_credentials, store_lacking_variants, store_variants
from .render import Renderer
from .timeutil import to_utc_key, utcnow
from .unschedule import sweep as unschedule_sweep
from .verdicts import templates_stamp

log = logging.getLogger("civicpost.daemon")
# Several daemons: rows kept for their jobs (``Publisher.seen``) are those due within this
# many seconds after the next re-plan, and at most SEEN_MOST of them (the soonest): a row is a
# few kilobytes (its stored variant), so a queue of tens of thousands due at once costs
# megabytes, not hundreds.  Beyond them a job reads its row first, as it always did.
SEEN_SECONDS, SEEN_MOST = 60, 5000


class Planning:
    """Re-plan and job timing, for ``Daemon``."""

    # ----- planning --------------------------------------------------------------------
    def replan(self, sync: bool = True) -> None:
        """Bring the ledger in step with content/.  After the first pass only the items whose
        files changed are compared, so an idle 20,000-file queue costs a directory scan."""
        started = time.perf_counter()
        if self.config.git_pull:
            git_pull(self.config.content_dir, self.alerter)
        judging = self._templates_changed() or self.templates_unjudged
        result = self.scanner.scan()
        if self.cluster is not None and not self.cluster.leader:
            # A follower: its items serve its own publishing; the leader plans (schedule/cluster.py).
            self.items = {i.id: i for i in result.items}
            self.item_errors = {}                # the leader's gate blocks; a deposed leader's verdicts go stale
            self.templates_unjudged = False      # the leader re-gates (and re-stores) with its templates
            self._recheck_credentials()
            if sync:
                self.sync_jobs()
            return
        if self.cluster is not None:
            # A leader deposed while frozen may not have noticed yet: fenced before the
            # unschedule sweep and the blocked alerts, so two nodes never both do them.
            self.cluster.check_leader()
        touched = {**result.changed, **result.removed}
        landed = [e for e in result.errors if not self.planned_once or str(self.config.path.parent / e.path) in touched]
        for error in landed:
            log.error("%s", error)
        readable = [display_path(Path(path), self.config) for path in touched
                    if not (entry := self.scanner.cache.get(path)) or entry.item]
        duplicates = {p.message.split("'")[1] for p in result.problems if p.code == "duplicate-id"}
        for problem in result.problems:
            log.error("%s", problem)
        self.items = {i.id: i for i in result.items if i.id not in duplicates}
        if not self.planned_once:
            affected = None
        else:
            affected = {old for old in touched.values() if old}
            affected |= {e.item.id for path in touched if (e := self.scanner.cache.get(path)) and e.item}
            affected |= duplicates
            affected |= {i for i in self.signoffs_changed if i in self.items}
        self.signoffs_changed = set()
        try:
            # Before _apply records the edits: videos YouTube holds that the content, a pause or
            # a blackout no longer lets go out are taken off its schedule (schedule/unschedule.py).
            unschedule_sweep(self.config, self.ledger, self.items.get, lambda item, row: self.publisher.
                             _fresh_variant(row, item), self.renderer.channel, self.publisher.alert,
                             broken={e.path for e in result.errors})
            if affected is None or affected:
                self._apply(result, affected, duplicates)
            elif self.cluster is not None:       # nothing changed: rows new to the horizon get the leader's variant
                store_lacking_variants(self)
        except LedgerError:
            # The scanner has seen these files but the ledger did not take the change (full
            # disk): compare every item next time, or an edit or deletion would be lost.
            self.planned_once = False
            raise
        self.planned_once = True
        if judging:                              # every item re-rendered and re-gated with the new templates
            self.templates_unjudged = False
        self.attention.file_errors(landed, readable)
        self.attention.check_blocked(self.items, self.publisher)
        self._recheck_credentials()
        self.ledger.set_meta(last_rescan=to_utc_key(utcnow()), items=len(self.items),
                             content_errors=len(result.errors),
                             **({"replanned_by": self.cluster.node_id} if self.cluster is not None else {}))
        if sync:
            self.sync_jobs()
        log.debug("replanned in %.0f ms", (time.perf_counter() - started) * 1000)

    def _templates_changed(self) -> bool:
        """A new Renderer if anything under templates/ changed since the last look (True then).
        The next re-plan compares every item, as after a reload: each open delivery is
        re-rendered and re-gated (a template can make a post too long: blocked and alerted like
        a content edit) and, on several daemons, the leader stores the new renderings."""
        stamp = templates_stamp(self.config)
        if stamp == self.templates_seen:
            return False
        with self.templates_lock:                # the scheduler's threads and the main loop
            if stamp == self.templates_seen:
                return False
            fresh = Renderer(self.config)
            fresh.channels = self.renderer.channels      # the network clients: templates do not touch them
            self.renderer = self.publisher.renderer = fresh
            self.templates_seen, self.templates_unjudged, self.planned_once = stamp, True, False
        log.info("templates changed: re-rendering and re-checking the queue")
        self.rescan_event.set()
        return True

    def _judge_afresh(self, delivery_id: int) -> bool:
        """Between a template change and the re-plan that re-gates everything, the gate's kept
        errors are the old templates': this delivery is judged now with the new ones (blocked if
        it fails, as the re-plan would), never sent on an out-of-date verdict."""
        row = self.ledger.get(delivery_id)
        item = self.publisher.items(row["item"]) if row and row["state"] in ("scheduled", "retrying") else None
        if item is None:
            return False
        found = decide(item, self.config, self.renderer, utcnow(), advice=False,
                       signoffs=records_in(self.ledger)).errors()
        return bool(found) and self.attention.block_if_errors(delivery_id, {item.id: found})

    def _apply(self, result, affected: set[str] | None, duplicates: set[str]) -> None:
        now = utcnow()
        items = list(self.items.values()) if affected is None else [self.items[i] for i in affected if i in self.items]
        failures: dict[str, str] = {}
        want = wanted(items, self.config, now, failures)
        rows = self.ledger.deliveries(items=affected) if affected is not None and len(affected) < 500 \
            else self.ledger.deliveries()
        if affected is not None and len(affected) >= 500:
            rows = [r for r in rows if r["item"] in affected]
        # Files whose deliveries are blocked (not cancelled) because they cannot be read or planned.
        broken: dict[str, list[Problem]] = {e.path: [Problem(e.path, e.line, "error", e.code, e.message)]
                                             for e in result.errors}
        for problem in (p for p in result.problems if p.code == "duplicate-id"):
            ident = problem.message.split("'")[1]   # both files: neither may cancel the other's posts
            for source in {r["source"] for r in rows if self.attention.base(r["item"]) == ident} | {problem.path}:
                broken[source] = [problem]
        for path, why in failures.items():
            log.error("%s: %s", path, why)
            broken[path] = [Problem(path, 1, "error", "plan", why)]
        self.item_errors = {} if affected is None else {k: v for k, v in self.item_errors.items() if k not in affected}
        signoffs = records_in(self.ledger)           # once per re-plan: a page sign-off counts as approved_by:
        for item in items:
            # The gate's verdict (the same check as validate and the publisher): item-level
            # errors (channel None) stop every channel, the others their own channel.
            found = decide(item, self.config, self.renderer, now, advice=False, signoffs=signoffs).errors()
            if found:
                self.item_errors[item.id] = found
                if any(p.level == "error" for p in item.problems):
                    # Part of the file cannot be read (a time, the channels...): block what it
                    # had rather than cancel it, as for a file that cannot be read at all.
                    broken[item.rel] = found
        cancelled = wanted_but_cancelled(want, rows)
        reasons = {path: blocked_reason(found).split(": ", 1)[1] for path, found in broken.items()}
        actions = reconcile(want, rows, self.config, now, reasons, self.ledger.cancelled_by(cancelled),
                            self.item_errors)
        alerts: list = []
        self.git.forget()                        # look again once per re-plan, and only when needed
        with self.ledger.transaction():          # one commit (one fsync) for a whole first plan
            if self.cluster is not None:
                self.cluster.check_leader()      # fencing: a deposed leader writes none of this
            apply_actions(self, actions, alerts)
            if self.cluster is not None:         # any node can then publish exactly this
                store_variants(self, items, now)
        # After the commit: no network call holds the ledger.
        self.attention.send(alerts, broken, self.item_errors, {e.path for e in result.errors})

    def _recheck_credentials(self) -> None:
        recheck_credentials(self)

    def sync_jobs(self) -> None:
        """One DateTrigger job per open delivery; remove jobs whose delivery is no longer open."""
        from apscheduler.triggers.date import DateTrigger

        now = utcnow()
        # Jobs only for what is due within the horizon: the rescan brings later deliveries
        # in as they approach, so 20,000 planned posts do not mean 20,000 jobs in memory.
        horizon = timedelta(hours=float(self.config.section("schedule").get("job_horizon_hours", 6)))
        leads = {name: self.renderer.channel(name).lead_time for name in self.config.channels}
        wanted_times: dict[int, datetime] = {}
        waits = self.publisher.waiting
        # Several daemons: this node's own first attempts due before the next re-plan (and a
        # minute) keep their row, so the job's move needs no read first (``seen``).
        see_until = now + timedelta(seconds=min(self.config.rescan_seconds, 300) + SEEN_SECONDS)
        to_see: list[tuple[datetime, int, str]] = []
        for row in self.ledger.open_due_before(now + horizon + max(leads.values(), default=timedelta(0))):
            when = datetime.fromisoformat(row["next_attempt_at"] or row["planned_at"])
            if not row["next_attempt_at"]:
                when -= leads.get(row["channel"], timedelta(0))
            if when > now + horizon:
                continue
            if self.cluster is not None:
                when += self.cluster.start_delay(row["id"])     # another live node's share: a backup
                when = max(when, waits.get(row["id"], when))     # this node's checkout cannot post it yet
            held_until = self.cluster.held_elsewhere_until(row) if self.cluster is not None else None
            # Another node claimed it: look again when its lease would run out, not at once.
            wanted_times[row["id"]] = max(when, now, held_until + timedelta(seconds=1)) if held_until \
                else max(when, now)
            if self.cluster is not None and not held_until and when <= see_until and \
                    self.cluster.start_delay(row["id"]) == timedelta(0):
                to_see.append((when, row["id"], row["row_version"]))
        if self.cluster is not None:
            self._see(sorted(to_see)[:SEEN_MOST] if len(to_see) > SEEN_MOST else to_see)
        for delivery_id in set(self.job_times) - set(wanted_times) - self.running:
            self._remove_job(delivery_id)
        for delivery_id in set(waits.copy()) - set(wanted_times):
            waits.pop(delivery_id, None)           # posted by another node, or no longer open
        for delivery_id, when in wanted_times.items():
            if delivery_id in self.running:
                continue
            previous = self.job_times.get(delivery_id)
            if previous is not None and (previous == when or (previous <= now and when <= now)):
                continue
            self.scheduler.add_job(self._run_job, DateTrigger(run_date=when), args=[delivery_id],
                                   id=f"delivery-{delivery_id}", replace_existing=True)
            self.job_times[delivery_id] = when
        self._status()

    def _see(self, to_see: list[tuple[datetime, int, str]]) -> None:
        """Keep the publisher's snapshots in step: drop those no longer wanted (posted, no
        longer due soon, another node's share, changed: every change to a row changes its
        version, and an operator's or another node's write is a change notice, which runs
        ``sync_jobs``), and read the new and changed rows in one statement.  A snapshot that
        goes stale meanwhile is only a refused move (``Publisher._claim_as_seen``).  A job
        under way keeps the row it may be about to take."""
        seen, still_seen, to_read = self.publisher.seen, set(), []
        for _, delivery_id, version in to_see:
            still_seen.add(delivery_id)
            kept = seen.get(delivery_id)
            if (kept is None or kept["row_version"] != version) and delivery_id not in self.running:
                to_read.append(delivery_id)      # new, or written since it was read: read afresh
        for delivery_id in set(seen) - still_seen:
            seen.pop(delivery_id, None)
        for delivery_id in to_read:
            seen.pop(delivery_id, None)
        for row in self.ledger.seen_rows(to_read) if to_read else ():
            if row["state"] in ("scheduled", "retrying") and not row["attempts"] and row["id"] not in self.running:
                seen[row["id"]] = row

    def _remove_job(self, delivery_id: int) -> None:
        self.job_times.pop(delivery_id, None)
        try:
            self.scheduler.remove_job(f"delivery-{delivery_id}")
        except Exception:  # noqa: BLE001 - already ran (JobLookupError)
            pass
