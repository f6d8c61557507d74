"""What a delivery ends in, once the network has answered: posted, retrying, failed, uncertain,
each recorded in the ledger with its event and alert, or kept in memory while the ledger
cannot be written (a full disk, a database away) and recorded as soon as it can.

``Outcomes`` is a part of ``Publisher`` (schedule/publisher.py), apart so that each module
stays readable: it uses the publisher's ledger, config, alerter and cluster.
"""
from __future__ import annotations

import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from .alerts import delivery_alert
from .stored_variants import taken_over
from .errors import ChannelError, LedgerError, RateLimited
from .languages import languages, split_delivery_item
from .model import Receipt, Variant
from .secrets import mask
from .timeutil import to_utc_key, utcnow

log = logging.getLogger("civicpost.publish")


@dataclass
class Pending:
    """An outcome decided after the network call that the ledger could not record yet."""

    row: dict
    state: str
    held: dict
    fields: dict
    alert: str | None = None          # the alert's text, sent once recorded


class Outcomes:
    """The publisher's outcomes (a mixin of ``Publisher``)."""

    # ----- outcomes (each recorded, or kept in memory until it can be) -------------------
    def _posted(self, row: dict, receipt: Receipt, held: dict, warnings: list[str], reason: str | None = None,
                kind: str | None = None, recorded: bool | None = None) -> str:
        """``recorded``: the last part's keeper already recorded it (whether the row moved)."""
        posted_at = to_utc_key(utcnow())
        try:
            moved = recorded if recorded is not None else \
                self._record_posted(row["id"], receipt, posted_at, held, reason, kind)
        except LedgerError as exc:
            self.unrecorded[row["id"]] = (receipt, posted_at, held)
            raise LedgerError(f"sent as {receipt.remote_id}, but {exc}: it is recorded as soon as the ledger can "
                              "be written, and never sent again") from None
        if not moved:
            return self._moved_meanwhile(row, receipt)
        if self.cluster is not None:
            self.cluster.working.pop(row["id"], None)
        log.info("POSTED %s on %s: %s%s", row["item"], row["channel"], receipt.remote_id,
                 f" {receipt.url}" if receipt.url else "")
        if warnings:
            message = "; ".join(warnings)
            log.warning("POSTED WITH A WARNING %s on %s: %s", row["item"], row["channel"], message)
            self.ledger.event("warning", row["id"], row["item"], row["channel"], reason=message)
            self.alert(row, "posted with a warning", message)
        return "posted"

    def _moved_meanwhile(self, row: dict, receipt: Receipt) -> str:
        """The post is out, but someone else (an operator, another process) moved the row while
        it was being sent: never reported as POSTED; the remote id is kept in an event."""
        now_row = self.ledger.get(row["id"]) or {}
        current = now_row.get("state", "missing")
        if current == "posted" and now_row.get("remote_id") == receipt.remote_id:
            # Another node took this row over (our lease ran out) and found this very post.
            log.warning("delivery %s (%s on %s): %s was recorded by node %s meanwhile", row["id"], row["item"],
                        row["channel"], receipt.remote_id, now_row.get("claimed_by"))
            return current
        message = (f"sent as {receipt.remote_id} {receipt.url or ''} while the delivery was changed to {current} by "
                   f"someone else: it is live, but not recorded as posted; check it")
        log.error("SENT %s on %s: %s", row["item"], row["channel"], message)
        self.ledger.event("sent-after-change", row["id"], row["item"], row["channel"], reason=message,
                          detail={"remote_id": receipt.remote_id, "url": receipt.url})
        self.alert(row, "sent after it was changed", message)
        return current

    def _record_posted(self, delivery_id: int, receipt: Receipt, posted_at: str,
                       held_parts: dict[int, tuple[Receipt, str | None]], reason: str | None = None,
                       kind: str | None = None) -> bool:
        return self.ledger.transition_with_parts(delivery_id, "posted", _parts(held_parts), expect=["publishing"],
                                                 remote_id=receipt.remote_id, url=receipt.url, posted_at=posted_at,
                                                 error=None, reason=reason, kind=kind,
                                                 dry_run=1 if self.dry_run else 0, holder=self.node)

    def _settle(self, row: dict, state: str, held: dict, alert: str | None = None, **fields) -> bool:
        """Record a non-posted outcome with the parts held in memory, in one transaction; if the
        ledger cannot be written, keep it (and say so) until record_unrecorded can."""
        try:
            return self._record_settled(row["id"], state, held, fields)
        except LedgerError as exc:
            self.pending[row["id"]] = Pending(row, state, held, fields, alert)
            message = (f"delivery {row['id']} ({row['item']} on {row['channel']}) is {state}, but {exc}: kept in "
                       "memory and recorded as soon as the ledger can be written")
            log.error("%s", message)
            with contextlib.suppress(LedgerError):       # the alert goes out; only its record may fail
                self.alerter.send(f"unrecorded:{row['id']}", f"civicpost: delivery {row['id']} is {state} but "
                                  "not recorded", message, row["id"], row["item"], row["channel"])
            raise LedgerError(message) from None

    def _record_settled(self, delivery_id: int, state: str, held: dict, fields: dict) -> bool:
        """The parts held in memory and the move out of `publishing`, together."""
        return self.ledger.transition_with_parts(delivery_id, state, _parts(held), expect=["publishing"],
                                                 holder=self.node, **fields)

    def record_unrecorded(self) -> int:
        """Record the outcomes decided while the ledger could not be written; how many are left."""
        for delivery_id, (receipt, posted_at, held_parts) in list(self.unrecorded.items()):
            if self.cluster is not None:          # our lease ran out while cut off: ours again, if nobody took it
                self.cluster.reclaim(delivery_id)
            moved = self._record_posted(delivery_id, receipt, posted_at, held_parts)   # LedgerError: try again later
            if not moved and taken_over(self, delivery_id, receipt):
                continue                          # kept until the node that has it now settles it
            del self.unrecorded[delivery_id]
            if moved:
                log.warning("recorded delivery %s as posted (%s), now that the ledger can be written", delivery_id,
                            receipt.remote_id)
            else:
                self._moved_meanwhile(self.ledger.get(delivery_id) or {"id": delivery_id}, receipt)
        for delivery_id, pending in list(self.pending.items()):
            moved = self._record_settled(delivery_id, pending.state, pending.held, pending.fields)
            del self.pending[delivery_id]
            if not moved:
                self._current(pending.row)
                continue
            log.warning("recorded delivery %s as %s, now that the ledger can be written", delivery_id, pending.state)
            if pending.alert is not None:
                self.alert(pending.row, pending.state, pending.alert)
        return len(self.unrecorded) + len(self.pending)

    def _rehearse(self, row: dict, variant: Variant, done: list[Receipt], on_part) -> Receipt:
        count = len(variant.parts) if self.renderer.channel(row["channel"]).threads else 1
        for index in range(len(done), count):
            receipt = Receipt(f"dry-run:{row['id']}:{index}")
            log.info("DRY-RUN %s on %s part %d/%d: %s", row["item"], row["channel"], index + 1, count,
                     variant.parts[min(index, len(variant.parts) - 1)].text.replace("\n", "\\n"))
            on_part(index, receipt)
            done.append(receipt)
        return done[0]

    def _next_attempt(self, row: dict, exc: ChannelError, now: datetime) -> datetime:
        attempts = row["attempts"]
        settings = self.config.section("schedule")
        base = float(settings.get("retry_base_seconds", 30))
        cap = float(settings.get("retry_max_seconds", 900))
        # Exponential backoff with jitter, never earlier than the network's own reset time.
        delay = min(cap, base * 2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.0)
        next_at = now + timedelta(seconds=delay)
        if isinstance(exc, RateLimited) and exc.retry_at and exc.retry_at > next_at:
            next_at = exc.retry_at
        return next_at

    def _gave_up(self, row: dict, next_at: datetime) -> str | None:
        until = datetime.fromisoformat(row["retry_until"])
        if next_at > until:
            return (f" (gave up: next try {next_at:%H:%M:%S} is after retry_until "
                    f"{until.astimezone(self.config.timezone):%H:%M})")
        return None

    def _retry(self, row: dict, exc: ChannelError, now: datetime, held: dict | None = None) -> str:
        next_at = self._next_attempt(row, exc, now)
        gave_up = self._gave_up(row, next_at)
        if gave_up:
            return self._fail(row, "failed", exc, extra=gave_up, held=held)
        if self._settle(row, "retrying", held or {}, error=mask(exc), next_attempt_at=to_utc_key(next_at),
                        reason=type(exc).__name__):
            log.warning("RETRY %s on %s at %s: %s", row["item"], row["channel"], next_at.isoformat(), mask(exc))
            return "retrying"
        return self._current(row)

    def _fail(self, row: dict, state: str, exc: Exception, alert_key: str | None = None, extra: str = "",
              held: dict | None = None) -> str:
        message = mask(exc) + extra
        if not self._settle(row, state, held or {}, alert=message, error=message, reason=type(exc).__name__):
            return self._current(row)
        log.error("%s %s on %s: %s", state.upper(), row["item"], row["channel"], message)
        self.alert(row, state, message)
        if alert_key:
            title = f"civicpost: channel {row['channel']} has bad credentials"
            self.alerter.send(alert_key, title, f"{message}\nIts other deliveries are held until it works again "
                              "(python bot.py channels check).", row["id"], row["item"], row["channel"])
        return state

    def _current(self, row: dict) -> str:
        """Someone else moved the row first (ledger.transition returned False): say so, claim nothing."""
        state = (self.ledger.get(row["id"]) or {}).get("state", "missing")
        log.warning("delivery %s (%s on %s) was changed to %s by someone else meanwhile", row["id"], row["item"],
                    row["channel"], state)
        return state

    def alert(self, row: dict, what: str, error: str | None, also: list[dict] = ()) -> None:
        title, body = delivery_alert(row, what, error, self.config.timezone)
        if also:                                  # the same problem on the item's other channels
            title += f" (and {len(also)} more channel(s))"
            body += "\nAlso: " + ", ".join(f"{r['channel']} (id {r['id']})" for r in also)
        base, lang = split_delivery_item(row["item"])
        if lang:
            langs = languages(self.config)
            names = [f"{base}#{code}" for code in (langs.order if langs else ())]
            others = [r for r in self.ledger.deliveries(items=names) if r["channel"] == row["channel"]
                      and r["id"] != row["id"]
                      and abs((datetime.fromisoformat(r["planned_at"]) -
                               datetime.fromisoformat(row["planned_at"])).total_seconds()) < 600]
            body += "\nThis is one post of a bilingual pair; the other language: " + (
                ", ".join(f"{r['item']} is {r['state']} (id {r['id']})" for r in others) or "not found")
        self.alerter.send(f"delivery:{row['id']}:{what}", title, body, row["id"], row["item"], row["channel"])


def _parts(held: dict[int, tuple[Receipt, str | None]]) -> list[tuple]:
    """Parts held in memory as ``Ledger.record_part``'s arguments after the delivery id."""
    return [(index, part.remote_id, part.url, part.extra, digest) for index, (part, digest) in sorted(held.items())]
