"""Asking the network before anything is sent again: the publisher's half of the one rule
for ambiguous failures (the channel's half is in channels/base.py).

A post whose create call failed ambiguously (no answer, a dropped connection, a 5xx), or
whose process died in `publishing`, may be live.  It is resent only when the network
makes that safe (its idempotency key, still remembered) or says "not there" when read
back; a read-back takes only a post made since this delivery first went to `publishing`
and never one the ledger holds for another delivery.  It runs exclusively (``Claims``), so
no post of this process is between its create and its record meanwhile, and a post that
another open delivery with different content may have made is nobody's to take.  When
the network (or the ledger) cannot tell, the delivery is `uncertain` and the admin is
alerted.

``NetworkCheck`` is a mixin of ``Publisher`` (schedule/publisher.py): it uses the
publisher's ledger and its outcome methods (``_posted``, ``_fail``, ``_settle``...).
"""
from __future__ import annotations

import contextlib
import json
import logging
import threading
from datetime import datetime, timedelta
from typing import Callable, Iterator

from .channels.base import Channel
from .errors import Ambiguous, ChannelError, LedgerError, Rejected
from .model import Part, Receipt, Variant
from .secrets import mask
from .timeutil import to_utc_key, utcnow

log = logging.getLogger("civicpost.publish")
# The network's clock against ours, when a read-back is bounded by when this delivery started.
CLOCK_SKEW = timedelta(minutes=2)
# On each move to `publishing`: this attempt was sent under a key that a resend names again.
# An attempt without it was made by an older civicpost (Bluesky: a random record key), so
# only a read-back can tell whether it is live.
SAME_KEY = {"same_key": True}
UNCERTAIN_ADVICE = ("; it may be live: check the account by hand, then `python bot.py retry {id}` (not there) or "
                    "`python bot.py cancel {id}` (there)")


class Claims:
    """Per channel, the read-back's exclusive hold against posts being made.

    A post is unrecorded for a moment after the network makes it (until the ledger records
    it), and text cannot tell two deliveries of the same words apart.  So a read-back
    (``_look_up``: read the ledger's ids, read the account, record what it takes) is
    exclusive, and each part's create-and-record is shared: a read-back never sees a post
    that another worker of this process made and has not recorded yet, and two read-backs
    never both take one unrecorded post.  (The standard library has no readers-writer
    lock; this writer-first one is a few lines on ``threading.Condition``.)
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._posting = 0                # creates under way (shared)
        self._reading = False            # a read-back under way (exclusive)
        self._waiting = 0                # read-backs waiting: new creates wait behind them

    @contextlib.contextmanager
    def posting(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._reading and not self._waiting)
            self._posting += 1
        try:
            yield
        finally:
            with self._cond:
                self._posting -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def reading_back(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not self._reading and not self._posting)
            self._waiting -= 1
            self._reading = True
        try:
            yield
        finally:
            with self._cond:
                self._reading = False
                self._cond.notify_all()


# One per (ledger, channel) for the whole process: the daemon builds a new Publisher on
# every rescan while the old one's jobs may still be posting.
_CLAIMS: dict[tuple[str, str], Claims] = {}
_CLAIMS_LOCK = threading.Lock()


def claims_for(database: object, channel: str) -> Claims:
    found = _CLAIMS.get((str(database), channel))       # every delivery asks: no new Claims to drop (#12)
    if found is not None:
        return found
    with _CLAIMS_LOCK:
        return _CLAIMS.setdefault((str(database), channel), Claims())


class NetworkCheck:
    def claims(self, channel: Channel) -> Claims:
        return claims_for(self.config.database_url or self.config.database, channel.name)

    def _unrecorded_ids(self) -> set[str]:
        """Remote ids sent but held in memory until the ledger can be written: taken too."""
        ids = {receipt.remote_id for receipt, _, _ in self.unrecorded.values()}
        for _, _, held in self.unrecorded.values():
            ids |= {part.remote_id for part, _ in held.values()}
        for pending in self.pending.values():
            ids |= {part.remote_id for part, _ in pending.held.values()}
        return ids

    def _since(self, row: dict) -> datetime:
        """When this delivery first went to `publishing` (nothing older can be its post),
        less a margin for the network's clock."""
        started = [e["at"] for e in self.ledger.events(row["id"]) if e["to_state"] == "publishing"]
        return datetime.fromisoformat(min(started) if started else row["updated_at"]) - CLOCK_SKEW

    def _check_first(self, row: dict, channel: Channel) -> bool:
        """Whether an earlier attempt may have posted and the network has no key that makes a
        resend safe: then the account is asked before anything is sent."""
        return self._may_have_posted(row) and not self._resend_is_safe(row, channel)

    def unless_live(self, row: dict, state: str, reason: str) -> tuple[str, str]:
        """A delivery about to end `missed` or `cancelled` that may be live (an earlier attempt
        got no answer) ends `uncertain` instead, with the advice: never silently dropped."""
        if state in ("missed", "cancelled") and self._may_have_posted(row):
            return "uncertain", f"{reason}, but an earlier attempt got no answer" + UNCERTAIN_ADVICE.format(id=row["id"])
        return state, reason

    def _may_have_posted(self, row: dict) -> bool:
        """An earlier attempt of this delivery failed ambiguously or was interrupted by a crash
        (and no operator has since checked by hand and chosen to retry).  A read-back that
        found nothing then is asked again: networks list new posts with a lag."""
        ambiguous = False
        for event in self.ledger.events(row["id"]):
            if event["kind"] in ("ambiguous", "recovered"):
                ambiguous = True
            elif event["kind"] == "retry":
                ambiguous = False
        return ambiguous

    def _look_up(self, row: dict, channel: Channel, variant: Variant, keep: Callable[[int, Receipt], None],
                 held: dict | None = None) -> bool:
        """Ask the network for the parts not yet out (recorded, or ``held`` in memory); keep
        those found.  True when every part is there, False at the first one the network says
        it does not have; raises ChannelError when it cannot tell."""
        count = channel.part_count(variant)
        start = len(self._done(row, held or {}))
        if start >= count:
            return True
        if not channel.can_find_existing:
            raise ChannelError(f"{channel.network} cannot look up its recent posts")
        since = self._since(row)
        parent = self._done(row, held or {})[-1] if start else None
        # Exclusive: no post of this process is between its create and its record meanwhile,
        # and what this read-back takes is recorded (keep) before another read-back starts.
        with self.claims(channel).reading_back():
            for index in range(start, count):
                part = variant.parts[index] if channel.threads else Part(variant.text, 0)
                # Read after the hold began, and again per part: held in memory counts too.
                taken = self.ledger.remote_ids(exclude=row["id"]) | self._unrecorded_ids()
                found = channel.find_existing(variant, index, part, since=since, taken=taken, parent=parent)
                if found is None:
                    return False             # not posted: the resend carries on from this part
                rival = self._rival(row, channel, index, part)
                if rival is not None:
                    raise ChannelError(f"{channel.name}: {found.remote_id} has this post's text, but delivery "
                                       f"{rival['id']} ({rival['item']}), which posts something else with it, may "
                                       "have made it too: whose it is cannot be told")
                keep(index, found)
                parent = found
        return True

    def _rival(self, row: dict, channel: Channel, index: int, part: Part) -> dict | None:
        """Another delivery on this channel that may have made an unrecorded post with this
        part's text (it is in `publishing`, or an attempt of its own got no answer) but not
        the same post: its other parts or media differ.  Taking that post would record this
        delivery with the other's post (and a thread of two halves); one that would post
        exactly the same thing is interchangeable, and the ledger gives each one post."""
        for other in self.ledger.deliveries(states=["publishing", "retrying"]):
            if other["id"] == row["id"] or other["channel"] != row["channel"]:
                continue
            texts = json.loads(other["parts_text"] or "[]")
            text = (texts[index] if index < len(texts) else None) if channel.threads else "\n\n".join(texts)
            if text != part.text or (other["parts_text"], other["media"]) == (row["parts_text"], row["media"]):
                continue
            if any(p["idx"] == index for p in self.ledger.parts(other["id"])):
                continue                     # its own post for this part is recorded
            if other["state"] == "publishing" or self._may_have_posted(other):
                return other
        return None

    def _ambiguous(self, row: dict, channel: Channel, variant: Variant, exc: Ambiguous, now: datetime,
                   held: dict, keep: Callable[[int, Receipt], None], absent: str = "failed") -> str:
        """The post may be live.  Retried later (after a look at the network, unless the same key
        makes a resend safe); when no retry is left, the network is asked now."""
        next_at = self._next_attempt(row, exc, now)
        gave_up = self._gave_up(row, next_at)
        if gave_up:
            try:
                if self._look_up(row, channel, variant, keep, held):
                    return self._posted(row, self._first_part(row, held), held, [],
                                        reason="found on the network after an ambiguous failure")
            except ChannelError as lookup:
                return self._fail(row, "uncertain", exc, held=held, extra=f"{gave_up}; and the network could not be "
                                  f"checked ({mask(lookup)})" + UNCERTAIN_ADVICE.format(id=row["id"]))
            if absent == "uncertain":
                return self._fail(row, "uncertain", exc, held=held, extra=gave_up + UNCERTAIN_ADVICE.format(id=row["id"]))
            return self._fail(row, "failed", exc, held=held, extra=f"{gave_up}; the network does not have it")
        check = "resent with the same idempotency key" if channel.idempotent else "the account is checked before any resend"
        if self._settle(row, "retrying", held, error=mask(exc), next_attempt_at=to_utc_key(next_at), kind="ambiguous",
                        reason=f"{type(exc).__name__}: the post may have been made; {check}"):
            log.warning("AMBIGUOUS %s on %s (%s); next try at %s, %s", row["item"], row["channel"], mask(exc),
                        next_at.isoformat(), check)
            return "retrying"
        return self._current(row)

    def _duplicate(self, row: dict, channel: Channel, variant: Variant, exc: Rejected, held: dict,
                   keep: Callable[[int, Receipt], None], warnings: list[str], now: datetime) -> str:
        """The network refuses the text as already posted.  If an earlier attempt of this delivery
        got no answer, that post is probably ours: it is found and recorded, never `failed`."""
        ours = self._may_have_posted(row)
        try:
            if self._look_up(row, channel, variant, keep, held):
                return self._posted(row, self._first_part(row, held), held, warnings,
                                    reason="refused as a duplicate of its own earlier attempt, found on the network")
        except ChannelError as lookup:
            if ours:
                return self._fail(row, "uncertain", exc, held=held, extra=f"; and the network could not be checked "
                                  f"({mask(lookup)})" + UNCERTAIN_ADVICE.format(id=row["id"]))
            return self._fail(row, "failed", exc, held=held)
        if ours:                                 # not listed yet: look again later, never resend blindly
            return self._ambiguous(row, channel, variant, Ambiguous(f"{mask(exc)} (probably its own earlier "
                                   "attempt, not yet listed by the network)"), now, held, keep, absent="uncertain")
        return self._fail(row, "failed", exc, held=held)

    def recover(self, row: dict) -> str:
        """A delivery found in `publishing` at start-up: decide, never guess."""
        channel = self.renderer.channel(row["channel"])
        variant = self.recorded_variant(row, channel, self.items(row["item"]))
        if self.dry_run:
            self.ledger.transition(row["id"], "retrying", expect=["publishing"], reason="rehearsal interrupted",
                                   holder=self.node)
            return "retrying"
        held: dict[int, tuple[Receipt, str | None]] = {}
        keep = self._keeper(row, variant, held)
        try:
            if self._resend_is_safe(row, channel):
                # Same idempotency key: the network returns the first post instead of a second one.
                return self._recovered(row, "retrying", held, reason="interrupted; retrying with the same "
                                       "idempotency key", next_attempt_at=None)
            try:
                found_all = self._look_up(row, channel, variant, keep)
            except ChannelError as exc:
                message = f"interrupted while posting and could not check the network ({mask(exc)})" + \
                    UNCERTAIN_ADVICE.format(id=row["id"])
                state = self._recovered(row, "uncertain", held, alert=message, error=message)
                if state == "uncertain":
                    self.alert(row, "uncertain", message)
                return state
            if found_all:
                return self._posted(row, self._first_part(row, held), held, [], kind="recovered",
                                    reason="found on the network after a crash")
            found = len(self._done(row, held))
            return self._recovered(row, "retrying", held, next_attempt_at=None, reason=f"interrupted; {found} of "
                                   f"{channel.part_count(variant)} part(s) found on the network")
        except LedgerError as exc:
            log.error("delivery %s stays in publishing until the ledger can be written: %s", row["id"], mask(exc))
            return "publishing"

    def _recovered(self, row: dict, state: str, held: dict, alert: str | None = None, **fields) -> str:
        return state if self._settle(row, state, held, alert=alert, kind="recovered", **fields) else self._current(row)

    def _resend_is_safe(self, row: dict, channel: Channel) -> bool:
        """The network's idempotency (a key it still remembers) makes a resend return the first post."""
        window = channel.idempotency_window
        started = [e for e in self.ledger.events(row["id"]) if e["to_state"] == "publishing"]
        return channel.idempotent and all(json.loads(e["detail"] or "{}").get("same_key") for e in started) and (
            window is None or utcnow() - self._since(row) <= window - CLOCK_SKEW)
