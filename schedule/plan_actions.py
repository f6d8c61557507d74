"""The daemon's re-plan, written down: the planner's actions (add, reopen, cancel, edited,
block, unblock, edited after posting) recorded in the ledger, the leader's stored variants
(#12) and the credentials re-check.  Moved out of daemon.py, which keeps the wiring; the
rules are still plan.py's.  Each function takes the daemon as ``self``."""
from __future__ import annotations

import logging
import time
from datetime import datetime

from .ledger import OPEN_STATES
from .plan import too_late
from .secrets import mask
from .timeutil import utcnow

log = logging.getLogger("civicpost.daemon")


def apply_actions(self, actions, alerts: list) -> None:
    """Record the planner's actions (``plan.reconcile``) for the daemon ``self``, inside its
    one re-plan transaction; what needs an alert goes to ``alerts``."""
    for w, state, reason in actions.add:
        commit, author = self.git.lookup(self.config.content_dir, w.item)
        delivery_id = self.ledger.add(w.delivery_item, w.channel, w.network, w.when, state=state, reason=reason,
                                      item_digest=w.item.digest, source=w.item.rel, commit_sha=commit,
                                      author=author or w.item.extra.get("author"),
                                      approved_by=w.item.extra.get("approved_by"),
                                      hold_reason=reason if state == "blocked" else None,
                                      error=reason if state in ("missed", "blocked") else None)
        if state in ("missed", "blocked"):
            alerts.append((self.ledger.get(delivery_id), state, reason))
    for row, state, reason in actions.reopen:
        if self.ledger.transition(row["id"], state, expect=["cancelled"], actor="planner", kind="replanned",
                                  reason=reason, hold_reason=reason if state == "blocked" else None,
                                  error=reason if state != "scheduled" else None, next_attempt_at=None):
            log.info("REPLANNED %s on %s: %s (%s)", row["item"], row["channel"], state, reason)
            if state != "scheduled":
                alerts.append((row, state, reason))
    for row, reason in actions.cancel:           # one that may be live becomes `uncertain`, and alerts
        if (moved := self.publisher.withdraw(row, reason)) and moved[0] == "uncertain":
            alerts.append((row, *moved))
    for row, item in actions.edited:
        commit, author = self.git.lookup(self.config.content_dir, item)
        self.ledger.update(row["id"], kind="edited", actor="planner", reason="content file changed",
                           item_digest=item.digest, commit_sha=commit, approved_by=item.extra.get("approved_by"))
        if row["state"] == "held" and (row["hold_reason"] or "").startswith("content file has an error"):
            # A row held by an older civicpost for a broken file (now `blocked`).
            self.ledger.transition(row["id"], "scheduled", expect=["held"], actor="planner", kind="released",
                                   reason="content file fixed", hold_reason=None)
    for row, reason in actions.block:
        if self.ledger.transition(row["id"], "blocked", expect=OPEN_STATES, actor="planner", reason=reason,
                                  hold_reason=reason, error=reason, next_attempt_at=None):
            log.warning("BLOCKED %s on %s: %s", row["item"], row["channel"], reason)
            alerts.append((row, "blocked", reason))
    for row, state, reason in actions.unblock:
        state, reason = self.publisher.unless_live(row, state, reason)
        if self.ledger.transition(row["id"], state, expect=["blocked"], actor="planner", kind="unblocked",
                                  reason=reason, hold_reason=None, error=reason if state != "scheduled" else None):
            log.info("UNBLOCKED %s on %s: %s", row["item"], row["channel"], state)
            alerts.append((row, "unblocked" if state == "scheduled" else state, reason))
    for row, item in actions.edited_after_post:
        self.ledger.update(row["id"], kind="edited-after-posting", actor="planner",
                           reason="content file changed after it was posted; not reposted",
                           item_digest=item.digest)


def store_variants(self, items, now, only: list[int] | None = None) -> None:
    """The leader (several daemons, schedule/cluster.py) stores the rendered variant and the
    gate's verdict of each open delivery within the job horizon, for the items this re-plan
    looked at and for any row that has none yet: any node then publishes exactly this, even
    if its own checkout lags a commit.  ``only``: just these rows (``lacking_variants``)."""
    from .stored_variants import stored, stored_record
    from .gate import decide
    from .signoff import records_in

    looked_at = {i.id for i in items}
    rows = [r for r in map(self.ledger.get, only) if r] if only is not None else \
        self.ledger.deliveries(states=OPEN_STATES, until=variant_horizon(self, now))
    signoffs = None
    for row in rows:
        item = self.publisher.items(row["item"])
        if item is None or item.digest != row["item_digest"] or \
                (stored(row) is not None and item.id not in looked_at):
            continue
        variant = self.publisher._fresh_variant(row, item)
        if variant is None:
            continue
        if signoffs is None:
            signoffs = records_in(self.ledger)
        errors = decide(item, self.config, self.renderer, now, variants=[variant], advice=False,
                        signoffs=signoffs).errors(row["channel"])
        # With the digest of the templates that rendered it: after a template edit a node
        # posts no variant made with other templates than its own (publisher._publish).
        record = stored_record(variant, item, errors, self.config, templates=self.renderer.templates_digest)
        if record != row["variant"]:
            self.ledger.db.execute("UPDATE deliveries SET variant = ? WHERE id = ?", [record, row["id"]])


def variant_horizon(self, now: datetime) -> datetime:
    from datetime import timedelta
    return now + timedelta(hours=float(self.config.section("schedule").get("job_horizon_hours", 6)) + 1)


def lacking_variants(self, now: datetime) -> list[int]:
    """Open rows within the horizon with no stored variant of their current version: rows
    that came into the horizon since the last re-plan with nothing to apply.  One indexed
    query on the leader's idle passes; only these rows are rendered (PostgreSQL only: the
    cluster's back end)."""
    from .timeutil import to_utc_key
    marks = ", ".join("?" * len(OPEN_STATES))
    return [r["id"] for r in self.ledger._query(
        f"SELECT id FROM deliveries WHERE state IN ({marks}) AND planned_at < ? AND item_digest IS NOT NULL AND "
        "(variant IS NULL OR variant::json->>'digest' IS DISTINCT FROM item_digest) ORDER BY planned_at LIMIT 500",
        [*OPEN_STATES, to_utc_key(variant_horizon(self, now))])]


def store_lacking_variants(self) -> None:
    """The leader's idle pass (nothing changed in content): variants for the rows that came
    into the horizon since, in one transaction fenced like the plan's own writes."""
    now = utcnow()
    lacking = lacking_variants(self, now)
    if lacking:
        with self.ledger.transaction():
            self.cluster.check_leader()
            store_variants(self, [], now, only=lacking)


def recheck_credentials(self) -> None:
    """A channel whose token failed is checked again (at most every 5 minutes); when it
    works, its held deliveries still within grace go out."""
    now = time.monotonic()
    for name in list(self.publisher.bad_auth):
        if now - self.auth_checked.get(name, 0) < 300 or name not in self.config.channels:
            continue
        self.auth_checked[name] = now
        try:
            self.renderer.channel(name).check()
        except Exception as exc:  # noqa: BLE001 - still failing: stay held
            log.warning("channel %s credentials still failing: %s", name, mask(exc))
            continue
        log.info("channel %s credentials work again", name)
        del self.publisher.bad_auth[name]
        self.ledger.set_meta(**{f"auth_failed:{name}": None})
        self.alerter.clear(f"auth:{name}")
        for row in self.ledger.deliveries(states=["held"]):
            if row["channel"] == name and "credentials" in (row["hold_reason"] or "") and not too_late(
                    self.publisher.items(row["item"]), datetime.fromisoformat(row["planned_at"]), utcnow(),
                    self.config):
                self.ledger.transition(row["id"], "scheduled", expect=["held"], kind="released",
                                       reason="credentials work again")
