"""Deliveries that need a person: blocked items (the file has errors) and alerts grouped
so that a person gets one message per item and problem, not one per channel."""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from .alerts import Alerter, delivery_alert
from .config import Config
from .errors import ContentError, LedgerError, Problem
from .languages import language_codes, split_delivery_item
from .ledger import Ledger
from .model import Item
from .plan import blocked_decision, blocked_reason, errors_for, grace_for
from .secrets import mask
from .timeutil import human, utcnow

log = logging.getLogger("civicpost.daemon")


class Attention:
    """Blocked deliveries, their alerts and reminders, and interrupted deliveries at start-up."""

    def __init__(self, config: Config, ledger: Ledger, alerter: Alerter):
        self.config, self.ledger, self.alerter = config, ledger, alerter

    def base(self, delivery_item: str) -> str:
        return split_delivery_item(delivery_item, language_codes(self.config))[0]

    def file_errors(self, errors: list[ContentError], readable: list[str]) -> None:
        """A file that cannot be read at all: one alert when it lands (nothing in it can be
        planned, so no delivery would say so); cleared when it reads again."""
        for error in errors:
            self.alerter.send(f"file-error:{error.path}:{_digest(error.line, error.code, error.message)}",
                              f"civicpost: {error.path} cannot be read",
                              f"{error}\nNothing in this file is posted until it is fixed; deliveries already "
                              "planned from it are blocked and go back to scheduled by themselves when it is.")
        for path in readable:
            for key in self.ledger.alert_keys(f"file-error:{path}:"):
                self.alerter.clear(key)

    def send(self, alerts: list, broken: dict[str, list[Problem]], item_errors: dict[str, list[Problem]],
             unreadable: set[str] = frozenset()) -> None:
        """After a re-plan: alerts grouped per item (and per problem for blocked items)."""
        blocked: dict[str, list[dict]] = {}
        grouped: dict[tuple, list[dict]] = {}
        for row, what, reason in alerts:
            base = self.base(row["item"])
            if what == "blocked":
                blocked.setdefault(base, []).append(row)
            elif what == "unblocked":
                self.clear(base, row["source"] or "")
            else:
                grouped.setdefault((base, what, reason), []).append(row)
        for (_, what, reason), group in grouped.items():
            self.group_alert(group, what, reason)
        for base, group in blocked.items():
            source = group[0]["source"] or ""
            if base not in item_errors and source in unreadable:
                continue                         # the file's own alert (file_errors) says it
            problems = item_errors.get(base) or broken.get(source)
            if problems:
                self.block_alerts(base, group, problems)
            else:                                # not expected: still say it, with the reason recorded
                self.group_alert(group, "blocked", group[0]["hold_reason"])

    def group_alert(self, group: list[dict], what: str, reason: str | None) -> None:
        first = group[0]
        title, body = delivery_alert(first, what, reason, self.config.timezone)
        if len(group) > 1:
            title += f" (and {len(group) - 1} more channel(s))"
            body += "\nAlso: " + ", ".join(f"{r['channel']} (id {r['id']})" for r in group[1:])
        self.alerter.send(f"delivery:{first['id']}:{what}", title, body, first["id"], first["item"], first["channel"])

    def block_alerts(self, base: str, rows: list[dict], problems: list[Problem]) -> None:
        """One alert per problem, naming the file, the line and the fix, and what it stops."""
        by_problem: dict[tuple, list[Problem]] = {}
        for problem in problems:
            by_problem.setdefault((problem.path, problem.line, problem.code, problem.message), []).append(problem)
        tz = self.config.timezone
        first = min(datetime.fromisoformat(r["planned_at"]) for r in rows).astimezone(tz)
        for (path, line, code, message), same in by_problem.items():
            channels = sorted({p.channel for p in same if p.channel}) or sorted({r["channel"] for r in rows})
            digest = _digest(line, code, message)
            self.alerter.send(
                f"blocked:{path}:{digest}", f"civicpost: {base} is blocked: {path}:{line}",
                f"{path}:{line}: error: {message}\nItem: {base}\nChannels: {', '.join(channels)}\n"
                f"First planned: {human(first)}\nNothing from this item is posted on these channels "
                "until the file is fixed; then it goes back to scheduled by itself (no command needed).",
                rows[0]["id"], base, None)

    def clear(self, base: str, source: str) -> None:
        """The item is fixed: a problem that comes back later alerts again."""
        for key in self.ledger.alert_keys(f"blocked:{source}:") + self.ledger.alert_keys(f"blocked-reminder:{base}:"):
            self.alerter.clear(key)

    def check_blocked(self, items: dict[str, Item], publisher) -> None:
        """Deliveries still blocked near their time: remind once; past grace: missed (or
        uncertain, when an earlier attempt got no answer and it may be live)."""
        now = utcnow()
        hours = float(self.config.section("schedule").get("blocked_reminder_hours", 24))   # checked by config.py
        missed: dict[tuple, list[dict]] = {}
        remind: dict[tuple, list[dict]] = {}
        for row in self.ledger.deliveries(states=["blocked"]):
            base = self.base(row["item"])
            item = items.get(base)
            grace = grace_for(item, self.config) if item else self.config.grace
            decision = blocked_decision(datetime.fromisoformat(row["planned_at"]), grace, now,
                                        timedelta(hours=hours))
            if decision == "missed":
                state, reason = publisher.unless_live(row, "missed", f"its content file still had errors at its "
                                                      f"planned time ({row['hold_reason']})")
                if self.ledger.transition(row["id"], state, expect=["blocked"], actor="planner", reason=reason,
                                          error=reason):
                    missed.setdefault((base, state, reason), []).append(row)
            elif decision == "remind":
                remind.setdefault((base, row["planned_at"]), []).append(row)
        for (_, state, reason), group in missed.items():
            self.group_alert(group, state, reason)
        tz = self.config.timezone
        for (base, planned), group in remind.items():
            when = datetime.fromisoformat(planned).astimezone(tz)
            self.alerter.send(
                f"blocked-reminder:{base}:{planned}", f"civicpost: reminder: {base} is still blocked",
                f"{base} is planned for {human(when)} on {', '.join(r['channel'] for r in group)} and "
                f"its content file still has errors: {group[0]['hold_reason']}\nFix the file (python bot.py validate "
                f"{group[0]['source'] or ''}) or it will not be posted.", group[0]["id"], base, None)

    def block_if_errors(self, delivery_id: int, item_errors: dict[str, list[Problem]]) -> bool:
        """The last rule before a post: never send a delivery whose item has an error, item-level
        or for its channel (the rescan blocks them at once; this covers the moment between)."""
        if not item_errors:             # nothing in the queue has an error: no need to read the row
            return False
        row = self.ledger.get(delivery_id)
        if row is None or row["state"] not in ("scheduled", "retrying"):
            return False
        problems = errors_for(item_errors, self.base(row["item"]), row["channel"])
        if not problems:
            return False
        reason = blocked_reason(problems)
        if self.ledger.transition(delivery_id, "blocked", expect=["scheduled", "retrying"], actor="daemon",
                                  reason=reason, hold_reason=reason, error=reason):
            log.warning("BLOCKED %s on %s at its time: %s", row["item"], row["channel"], reason)
            self.block_alerts(self.base(row["item"]), [row], problems)
        return True

    def recover(self, row: dict, publisher) -> str:
        """One interrupted delivery; whatever is wrong with it is its own problem, not start-up's."""
        if row["channel"] not in self.config.channels:
            reason = (f"interrupted while posting, and channel {row['channel']!r} is no longer in config.toml, so "
                      f"civicpost cannot ask the network: check the account by hand, then put the channel back and "
                      f"`python bot.py retry {row['id']}`, or `cancel {row['id']}`")
        else:
            try:
                return publisher.recover(row)
            except LedgerError:
                raise
            except Exception as exc:  # noqa: BLE001 - one odd row must not stop the daemon (systemd would loop)
                log.exception("delivery %s: could not be checked after an interruption", row["id"])
                reason = (f"interrupted while posting and could not be checked ({type(exc).__name__}: {mask(exc)}): "
                          f"check the account by hand, then `python bot.py retry {row['id']}` or `cancel {row['id']}`")
        if self.ledger.transition(row["id"], "uncertain", expect=["publishing"], kind="recovered", reason=reason,
                                  error=reason, holder=publisher.node):
            publisher.alert(row, "uncertain", reason)
        return "uncertain"


def _digest(*parts) -> str:
    """A short, stable name for one problem, so it is alerted once (and again if it changes)."""
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:16]
