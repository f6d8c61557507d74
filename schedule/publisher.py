"""One delivery's journey: due -> publishing -> posted (or retrying / failed / held ...).

The ledger row moves to ``publishing`` (committed, with the exact parts and the
idempotency key) *before* the network call, and each thread part is recorded as soon as
the network returns it, so a crash at any point leaves enough to decide what happened.
"""
from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from .alerts import Alerter
from .channels.base import Channel
from .config import Config
from .errors import Ambiguous, AuthError, ChannelError, LedgerError, RateLimited, Rejected, Transient
from .languages import split_delivery_item
from .ledger import OPEN_STATES, Ledger
from .model import Item, Media, Part, Receipt, Variant
from .network_check import SAME_KEY, UNCERTAIN_ADVICE, NetworkCheck
from .outcomes import Outcomes, Pending
from .cluster import Fenced
from .stored_variants import await_version, missing_media, resolve_media, stored, stored_decision, stored_variant
from .plan import due_decision, grace_for
from .render import Renderer
from .gate import decide
from .signoff import LedgerSignoffs
from .secrets import mask
from .timeutil import to_utc_key, utcnow

log = logging.getLogger("civicpost.publish")
DUE_STATES = ("scheduled", "retrying")


@dataclass
class Publisher(Outcomes, NetworkCheck):
    config: Config
    ledger: Ledger
    renderer: Renderer
    alerter: Alerter
    items: Callable[[str], Item | None]            # current item by id (from the last scan)
    dry_run: bool = False
    bad_auth: dict[str, str] = field(default_factory=dict)      # channel -> error, while its token fails
    locks: dict[str, threading.Semaphore] = field(default_factory=dict)
    # Sent, but the ledger could not record it (full disk): delivery id -> (receipt, posted_at, parts),
    # recorded by record_unrecorded() as soon as the ledger can be written again.
    unrecorded: dict[int, tuple[Receipt, str, dict]] = field(default_factory=dict)
    # Any other outcome (retrying, failed, uncertain) the ledger could not record: delivery id -> Pending.
    pending: dict[int, Pending] = field(default_factory=dict)
    missed_lock: threading.Lock = field(default_factory=threading.Lock)
    taken_over: set[int] = field(default_factory=set)  # unrecorded posts another node has now (said once)
    # This node only (several daemons): deliveries it must not try again before then, because
    # its checkout cannot post the leader's version yet (``await_version``); others may.
    waiting: dict[int, datetime] = field(default_factory=dict)
    _claiming: threading.local = field(default_factory=threading.local)   # this thread claims in its move
    # One node of several on PostgreSQL (schedule/cluster.py): claims, fencing.  None: the only daemon.
    cluster: Any = None
    # Several daemons: delivery id -> its row as ``Planning.sync_jobs`` last read it (``seen_rows``,
    # with its version), for this node's own deliveries due soon; taken by the delivery's job.
    seen: dict[int, dict] = field(default_factory=dict)
    _seen_version: threading.local = field(default_factory=threading.local)  # this thread moves from a snapshot

    @property
    def node(self) -> str | None:
        """The node id every state change of a claimed row is fenced by (None: no cluster)."""
        return self.cluster.node_id if self.cluster is not None else None

    # ----- the due path ------------------------------------------------------------
    def run(self, delivery_id: int, now: datetime | None = None) -> str:
        """Publish one due delivery if the rules allow; returns the state it ended in ("not
        claimed" when, with several daemons, this node did not get it)."""
        if self.cluster is not None:
            with self.cluster.holding(delivery_id):
                seen = self.seen.pop(delivery_id, None)
                if seen is not None:
                    sent = self._claim_as_seen(seen, now or utcnow())
                    if sent is not None:
                        return sent
                fast = self._claim_with_publishing(delivery_id, now or utcnow())
                if fast is not None:
                    return fast
                # Anything but a first attempt that goes out: the claim comes first, so only
                # one node decides, renders and recovers it.
                row = self.cluster.claim(delivery_id)
                if row is None:                  # another node has it, or it is not due: no more queries
                    return "not claimed"
                self.cluster.working[delivery_id] = f"{row['item']} on {row['channel']}"
                return self._run(row, now or utcnow())
        row, paused = self.ledger.get_with_pause(delivery_id)
        if row is None or row["state"] not in DUE_STATES:
            return row["state"] if row else "missing"
        return self._run(row, now or utcnow(), paused)

    def _claim_with_publishing(self, delivery_id: int, now: datetime) -> str | None:
        """Several daemons, a first attempt that is to go out (the usual case, and all of a
        burst): decided, rendered and gated from a plain read, then claimed in the very move
        to `publishing` (``transition(holder=, claim=)``: one compare-and-set, one commit,
        instead of a claim's commit and then the move's).  Rows are shared out between the
        nodes (``Cluster.owner``), so another node rarely did the same work meanwhile; if it
        did, the move is refused and nothing is sent.  None: take the claim-first way."""
        row, paused = self.ledger.get_with_pause(delivery_id)
        if row is None or row["state"] not in DUE_STATES:
            # Not due (e.g. another node's post, at this node's backup time): the claim would
            # only be refused; a row that becomes due again gets a new job from its notice.
            return "not claimed"
        return self._publish_claiming(row, now, paused)

    def _claim_as_seen(self, row: dict, now: datetime) -> str | None:
        """``_claim_with_publishing`` with no read at all: decided, rendered and gated from the
        row as the job's planning read it (``seen``), as if posting were not paused; the move
        to `publishing` then proves both (``transition(version=, unpaused=True)``: refused if
        any write touched the row since that read, or posting is paused).  Anything but a
        move, refused or not, is None (nothing written, nothing sent): the caller goes the
        way of today, which reads the row afresh and decides again."""
        if row["state"] not in DUE_STATES:
            return None
        return self._publish_claiming(row, now, False, row["row_version"])

    def _publish_claiming(self, row: dict, now: datetime, paused: bool, version: str | None = None) -> str | None:
        """The two fast ways' shared end: a first attempt this node may send, decided
        "publish", goes out with the claim taken in its move to `publishing` (and, from a
        snapshot, ``version``'s check); None: anything else, nothing written."""
        if row["attempts"] or not self.cluster.may_send() or self.cluster.held_elsewhere_until(row) is not None:
            return None
        item = self.items(row["item"])
        if self._decide(row, item, now, paused)[0] != "publish":
            return None
        self._claiming.value, self._seen_version.value = True, version
        try:
            return self._publish(row, item, now)
        finally:
            self._claiming.value, self._seen_version.value = False, None

    def _fence(self) -> dict:
        """The fencing arguments of a move before `publishing`: the claim this node holds, or
        (on the way of ``_claim_with_publishing``) the claim the move itself takes."""
        if self.cluster is None:
            return {}
        if getattr(self._claiming, "value", False):
            return {"holder": self.node, "claim": self.cluster.settings.lease}
        return {"holder": self.node}

    def _run(self, row: dict, now: datetime, paused: bool | None = None) -> str:
        item = self.items(row["item"])
        decision, reason = self._decide(row, item, now, paused)
        if decision != "publish":
            return self._stop(row, decision, reason, now)
        return self._publish(row, item, now)

    def _decide(self, row: dict, item: Item | None, now: datetime, paused: bool | None = None) -> tuple[str, str | None]:
        when = datetime.fromisoformat(row["planned_at"])
        if paused is None:
            paused = self.ledger.get_meta("paused") == "1"
        record = stored(row)
        if record is not None and (item is None or item.digest != row["item_digest"]):
            # This node's checkout lacks this version of the item: the leader's record decides.
            decision, reason = stored_decision(record, when, now, self.config, paused)
            late_ok = not (record["not_after"] and now > datetime.fromisoformat(record["not_after"]))
        else:
            decision, reason = due_decision(item, when, now, self.config, paused)
            late_ok = item is not None and not (item.not_after and now > item.not_after)
        if decision == "missed" and row["released"] and late_ok:
            decision, reason = "publish", None       # an operator released it: late is allowed
        if decision == "missed" and row["state"] == "retrying" and row["retry_until"] and \
                now <= datetime.fromisoformat(row["retry_until"]):
            decision, reason = "publish", None       # already started within grace: keep retrying
        if decision == "publish" and row["channel"] in self.bad_auth:
            decision, reason = "held", f"credentials for {row['channel']} are failing: {self.bad_auth[row['channel']]}"
        if decision in ("missed", "cancelled") and self._may_have_posted(row):
            decision, reason = "uncertain", f"{reason}, but an earlier attempt got no answer" + \
                UNCERTAIN_ADVICE.format(id=row["id"])            # it may be live: never silently dropped
        return decision, reason

    def withdraw(self, row: dict, reason: str) -> tuple[str, str] | None:
        """The planner's cancel (the content no longer asks for it).  One that may be live (an
        earlier attempt got no answer) is `uncertain` instead, to be alerted: never silently
        forgotten.  (state, reason), or None if someone moved the row first."""
        state = "uncertain" if self._may_have_posted(row) else "cancelled"
        if state == "uncertain":
            reason = (f"{reason}, but an earlier attempt got no answer and it may be live: check the account by "
                      f"hand and delete it there if it is out, then `python bot.py cancel {row['id']}`")
        moved = self.ledger.transition(row["id"], state, expect=OPEN_STATES, actor="planner", reason=reason,
                                       **({"error": reason, "next_attempt_at": None} if state == "uncertain" else {}))
        return (state, reason) if moved else None

    def _stop(self, row: dict, state: str, reason: str | None, now: datetime | None = None) -> str:
        # Missed: one job at a time, so the first marks (and names) the item's other channels.
        with self.missed_lock if state == "missed" else contextlib.nullcontext():
            return self._stopped(row, state, reason, now)

    def _stopped(self, row: dict, state: str, reason: str | None, now: datetime | None) -> str:
        if self.ledger.transition(row["id"], state, expect=DUE_STATES, reason=reason, hold_reason=reason
                                  if state == "held" else None, error=reason if state != "held" else row["error"],
                                  **self._fence()):
            log.warning("%s %s on %s: %s", state.upper(), row["item"], row["channel"], reason)
            also = self._also_missed(row, reason, now) if state == "missed" and now else []
            if state in ("missed", "held", "uncertain"):
                self.alert(row, state, reason, also)
        return state

    def _also_missed(self, row: dict, reason: str | None, now: datetime) -> list[dict]:
        """The item's other channels due at the same time and missed for the same reason (an
        outage): marked now, so that one alert names them all, not one per channel."""
        also = []
        for other in self.ledger.deliveries(items=[row["item"]]):
            if other["id"] != row["id"] and other["planned_at"] == row["planned_at"] and other["state"] in \
                    DUE_STATES and self._decide(other, self.items(other["item"]), now) == ("missed", reason) and \
                    self.ledger.transition(other["id"], "missed", expect=DUE_STATES, reason=reason, error=reason):
                log.warning("MISSED %s on %s: %s", other["item"], other["channel"], reason)
                also.append(other)
        return also

    def _publish(self, row: dict, item: Item | None, now: datetime) -> str | None:
        """The move to `publishing` and the send; None (nothing written) only for ``_claim_as_seen``."""
        version = getattr(self._seen_version, "value", None)
        channel = self.renderer.channel(row["channel"])
        reused = bool(row["attempts"]) and row["parts_text"]
        record = stored(row)
        if reused:
            variant = self.recorded_variant(row, channel, item)
        elif record is not None and item is not None and item.digest == row["item_digest"] and \
                record.get("templates", self.renderer.templates_digest) != self.renderer.templates_digest:
            # This version of the item, rendered with other templates than this node's (a
            # template edit the leader has not re-rendered yet, or one this node has not
            # pulled): neither rendering may go out until the two agree.
            return None if version is not None else await_version(
                self, row, now, "the leader's rendering was made with other templates than this node's: waiting "
                "for the leader to re-render it (or for this node's git pull)")
        elif record is not None:             # exactly what the leader rendered (and gated)
            variant = stored_variant(row, record, channel, self.config)
        elif self.cluster is not None and item is not None and item.digest != row["item_digest"]:
            # never this node's older version
            return None if version is not None else await_version(self, row, now)
        else:
            variant = self._fresh_variant(row, item)
        if self.cluster is not None and (reused or record is not None) and (missing := missing_media(variant)):
            return None if version is not None else await_version(
                self, row, now, f"this node's checkout lacks {', '.join(missing)}, which the leader's rendering "
                "posts: waiting for this node's git pull")
        if variant is None:
            if version is not None:      # stopped only on a fresh read of the row (``_claim_as_seen``)
                return None
            return self._stop(row, "cancelled", f"the item now says skip: true for {row['channel']}")
        errors = self.gate_errors(row, item, variant, now)
        if errors:
            if version is not None:
                return None
            message = "; ".join(str(p) for p in errors[:3])
            if self.ledger.transition(row["id"], "failed", expect=DUE_STATES, reason="content invalid",
                                      error=message, **self._fence()):
                self.alert(row, "failed", f"content is not valid: {message}")
            return "failed"
        grace = grace_for(item, self.config) if record is None or (item and item.digest == row["item_digest"]) \
            else timedelta(seconds=record["grace_seconds"])
        retry_until = row["retry_until"] or to_utc_key(datetime.fromisoformat(row["planned_at"]) + grace)
        fence = self._fence()
        if "claim" in fence:
            started = time.monotonic()            # the claim's lease counts from before it was asked
        elif self.cluster is not None:
            self.cluster.check_send(row["id"])    # fencing, locally: the lease is fresh enough to start
        try:
            moved = self.ledger.transition_row(
                row["id"], "publishing", expect=DUE_STATES, attempts=row["attempts"] + 1,
                text="\n\n".join(p.text for p in variant.parts), text_hash=variant.digest,
                parts_text=json.dumps([p.text for p in variant.parts], ensure_ascii=False), title=variant.title,
                media=json.dumps([_media_json(m, self.config.content_dir) for m in variant.media]), retry_until=retry_until,
                idem_key=row["idem_key"] or f"civicpost-{row['id']}", next_attempt_at=None, detail=SAME_KEY,
                unchanged={k: row.get(k) for k in ("item_digest", "variant")} if version is None else None,
                **({"version": version, "unpaused": True} if version is not None else {}), **fence)
        except LedgerError as exc:
            raise LedgerError(f"not sent, because {exc}") from None
        if moved is None and version is not None:
            return None     # the row changed since it was seen, or posting is paused: decided again afresh
        if moved is None:   # an operator, another node, or a re-plan that recorded an edit came first
            return self.ledger.get(row["id"])["state"]
        if "claim" in fence:
            self.cluster.row_renewed[row["id"]] = started
            self.cluster.working[row["id"]] = f"{row['item']} on {row['channel']}"
        first_try = not row["attempts"]
        return self.send(moved, channel, variant, now, first_try)

    def gate_errors(self, row: dict, item: Item | None, variant: Variant, now: datetime) -> list:
        """The gate's errors for this delivery (the same check as validate): item-level ones
        and this channel's.  A thread already partly out is finished, not cut in half."""
        if row["attempts"] and self.ledger.parts(row["id"]):      # never tried: nothing out
            return []
        if item is None or (stored(row) is not None and item.digest != row["item_digest"]):
            # No item, or not this version of it here: the leader's verdict (stored with the variant).
            return [p for p in variant.problems if p.level == "error" and p.channel in (None, row["channel"])]
        # The last check before sending reads the sign-off afresh (an edit voids one): this
        # item's, from the ledger, as the gate asks for it.
        return decide(item, self.config, self.renderer, now, variants=[variant], advice=False,
                      signoffs=LedgerSignoffs(self.ledger)).errors(row["channel"])

    def send(self, row: dict, channel: Channel, variant: Variant, now: datetime, first_try: bool = False) -> str:
        """The network call, with the row already in `publishing`.  ``first_try``: its first
        attempt (attempts was 0), so nothing of it can be out yet and the ledger is not asked."""
        held: dict[int, tuple[Receipt, str | None]] = {}
        warnings: list[str] = []
        keep = self._keeper(row, variant, held, warnings)
        # The post's last part and `posted` in one commit (one fewer per delivery), still
        # inside the channel's hold: no read-back sees the post before it is recorded.
        finished: dict = {"last": channel.part_count(variant) - 1}
        keep_last = self._keeper(row, variant, held, warnings, finished)

        lock = self.locks.get(channel.name)
        if lock is None:                         # made once per channel, not (and then dropped) per delivery
            lock = self.locks.setdefault(channel.name, threading.Semaphore(int(self.config.section("schedule").get(
                "per_channel_concurrency", 25))))
        with lock:
            if not self.dry_run and not first_try and self._check_first(row, channel):
                # An earlier attempt may have posted it: ask the network before any resend.
                try:
                    if self._look_up(row, channel, variant, keep):
                        return self._posted(row, self._first_part(row, held), held, warnings,
                                            reason="found on the network after an ambiguous failure; not sent again")
                except ChannelError as exc:
                    return self._fail(row, "uncertain", exc, held=held, extra=UNCERTAIN_ADVICE.format(id=row["id"]))
            try:
                if self.dry_run:
                    receipt = self._rehearse(row, variant, self._done(row, held), keep_last)
                else:
                    receipt = channel.publish(variant, row["idem_key"], done=[] if first_try else self._done(row, held),
                                              on_part=keep_last,
                                              hold=self.claims(channel).posting if self.cluster is None else
                                              self.cluster.posting_hold(self.claims(channel), row["id"]))
            except Fenced as exc:
                # Nothing more is sent; the row stays `publishing` with its parts so far, for
                # whichever node holds it next to check on the network.
                log.error("NOT SENT %s on %s: %s", row["item"], row["channel"], exc)
                return "publishing"
            except AuthError as exc:
                self.bad_auth[channel.name] = mask(exc)
                self.ledger.set_meta(**{f"auth_failed:{channel.name}": mask(exc)})
                return self._fail(row, "failed", exc, alert_key=f"auth:{channel.name}", held=held)
            except Ambiguous as exc:
                return self._ambiguous(row, channel, variant, exc, now, held, keep)
            except Rejected as exc:
                if exc.duplicate and channel.can_find_existing:
                    return self._duplicate(row, channel, variant, exc, held, keep, warnings, now)
                return self._fail(row, "failed", exc, held=held)
            except (Transient, RateLimited) as exc:
                return self._retry(row, exc, now, held)
            except ChannelError as exc:
                return self._fail(row, "failed", exc, held=held)
            except Exception as exc:  # noqa: BLE001 - a bug after the call may have posted: never guess
                log.exception("unexpected error publishing %s", row["id"])
                return self._fail(row, "uncertain", exc, held=held)
        return self._posted(row, receipt, held, warnings, recorded=finished.get("moved"))

    # ----- what the ledger already holds -----------------------------------------------
    def _done(self, row: dict, held: dict[int, tuple[Receipt, str | None]]) -> list[Receipt]:
        """The parts already out, in order: recorded ones and those held in memory."""
        parts = {p["idx"]: Receipt(p["remote_id"], p["url"], p["extra"]) for p in self.ledger.parts(row["id"])}
        parts.update({index: receipt for index, (receipt, _) in held.items()})
        done = []
        while len(done) in parts:
            done.append(parts[len(done)])
        return done

    def _first_part(self, row: dict, held: dict[int, tuple[Receipt, str | None]]) -> Receipt:
        return self._done(row, held)[0]

    # ----- variants ------------------------------------------------------------------
    def _fresh_variant(self, row: dict, item: Item | None) -> Variant | None:
        assert item is not None
        lang = split_delivery_item(row["item"])[1]
        return self.renderer.render(item, row["channel"], datetime.fromisoformat(row["planned_at"]).astimezone(
            self.config.timezone), lang=lang)

    def recorded_variant(self, row: dict, channel: Channel, item: Item | None) -> Variant:
        """The variant exactly as it was when it first went to `publishing` (so a retry or a
        crash check compares and sends the same text, even if the file was edited since)."""
        texts = json.loads(row["parts_text"] or "[]")
        media = tuple(_media_from_json(resolve_media(m, self.config)) for m in json.loads(row["media"] or "[]"))
        record = json.loads(row["variant"]) if row.get("variant") else {}   # another node's checkout may lack it
        return Variant(item_id=row["item"], channel=row["channel"], network=channel.network,
                       parts=tuple(Part(t, channel.count(t)) for t in texts), limit=channel.max_length, media=media,
                       title=row["title"] or "", link=item.link if item else record.get("link"),
                       extra={"planned_at": datetime.fromisoformat(row["planned_at"]),
                              "in_reply_to": item.extra.get("in_reply_to") if item else record.get("in_reply_to")},
                       source=row["source"] or "")

    def _keeper(self, row: dict, variant: Variant, held: dict, warnings: list[str] | None = None,
                finished: dict | None = None):
        """on_part for the thread loop: record each part as soon as it is out, or hold it in
        memory (full disk) to be recorded with the outcome.  With ``finished``, the part
        numbered ``finished["last"]`` is recorded with `posted` in one transaction, and
        ``finished["moved"]`` says whether the row moved (False: someone else moved it)."""
        def keep(index: int, receipt: Receipt) -> None:
            digest = variant.parts[index].digest if index < len(variant.parts) else None
            if warnings is not None:
                warnings.extend(receipt.extra.get("warnings", ()))
            try:
                if finished is not None and index == finished["last"]:
                    first = receipt if index == 0 else self._done(row, held)[0]
                    finished["moved"] = self._record_posted(row["id"], first, to_utc_key(utcnow()),
                                                            {**held, index: (receipt, digest)})
                    held.clear()                      # all recorded with it
                    return
                self.ledger.record_part(row["id"], index, receipt.remote_id, receipt.url, receipt.extra, digest)
            except LedgerError:
                # Out, but not on disk: the thread carries on, rather than leave a half-posted
                # thread on the account.
                held[index] = (receipt, digest)
        return keep


def _media_json(media: Media, content_dir: Path | None = None) -> dict:
    data = {"path": str(media.path), "rel": media.rel, "alt": media.alt, "kind": media.kind, "mime": media.mime,
            "size": media.size, "captions": str(media.captions) if media.captions else None}
    if content_dir is not None:                  # another node (its own checkout) finds the file by this
        with contextlib.suppress(ValueError):
            data["content_rel"] = str(Path(media.path).relative_to(content_dir))
    return data


def _media_from_json(data: dict) -> Media:
    return Media(path=Path(data["path"]), rel=data["rel"], alt=data["alt"], kind=data["kind"], mime=data["mime"],
                 size=data["size"], captions=Path(data["captions"]) if data.get("captions") else None)
