"""The planner: pure functions from (items, ledger rows, config, now) to what to do.

No clock, no database, no network: every rule about what should go out when (drafts,
approval, not_after, grace, blackouts, pause) lives here so it is testable directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .config import Blackout, Config
from .errors import Problem
from .languages import PAIR_SEPARATOR, languages, mode_for
from .ledger import OPEN_STATES
from .model import Item
from .timeutil import human, to_utc_key

if TYPE_CHECKING:
    from .signoff import SignoffLookup


@dataclass(frozen=True)
class Wanted:
    """One delivery the content files ask for: item x channel x planned time."""

    item: Item
    channel: str
    network: str
    when: datetime
    lang: str | None = None          # set for one language of a bilingual pair
    # A repeat's past time, older than grace: never added (it is history, not news), but an
    # open row the ledger holds for it is still wanted, so it is missed (and alerts) rather
    # than cancelled as if the content had changed.
    history: bool = False

    @property
    def delivery_item(self) -> str:
        """The ledger's item: the id, or "<id>#<lang>" for one post of a bilingual pair."""
        return f"{self.item.id}{PAIR_SEPARATOR}{self.lang}" if self.lang else self.item.id

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.delivery_item, self.channel, to_utc_key(self.when))


# Who may cancel a delivery so that it stays cancelled: a person.  The planner's and the
# daemon's own cancellations follow the content, so they are undone when it asks again.
AUTOMATIC_ACTORS = ("planner", "daemon")


@dataclass
class Actions:
    add: list[tuple[Wanted, str, str | None]] = field(default_factory=list)    # (wanted, state, reason)
    cancel: list[tuple[dict, str]] = field(default_factory=list)               # (row, reason)
    edited: list[tuple[dict, Item]] = field(default_factory=list)              # open rows whose item changed
    edited_after_post: list[tuple[dict, Item]] = field(default_factory=list)   # posted rows whose item changed
    # Rows the content asks for again after the planner cancelled them: (row, state, reason).
    reopen: list[tuple[dict, str, str]] = field(default_factory=list)
    # The item (or its file) has errors: (row, reason); never sent until the file is fixed.
    block: list[tuple[dict, str]] = field(default_factory=list)
    # The errors are fixed: (row, state, reason), state "scheduled" or "missed" (fixed too late).
    unblock: list[tuple[dict, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.add or self.cancel or self.edited or self.edited_after_post or self.reopen or self.block
                    or self.unblock)


def grace_for(item: Item | None, config: Config) -> timedelta:
    """How late a delivery may still go out: the item's grace_minutes, else [schedule]."""
    if item is not None and item.grace_minutes is not None:
        return timedelta(minutes=item.grace_minutes)
    return config.grace


def too_late(item: Item | None, when: datetime, now: datetime, config: Config) -> bool:
    """The one grace rule (planner, publisher, resume, credentials re-check): more than the
    grace late is missed, never posted automatically."""
    return now - when > grace_for(item, config)


def approval_missing(item: Item, config: Config, signoffs: SignoffLookup | None = None) -> str | None:
    """Why an item may not be scheduled under [approval], or None.  ``approved_by:`` in the
    file or a page sign-off of this exact file (``signoffs``, from `signoff.signoffs`, or
    `signoff.LedgerSignoffs`) counts, each only from someone in [approval] approvers when that list is set."""
    from .signoff import approved_by_page

    rules = config.section("approval")
    reply_rule = bool(item.extra.get("in_reply_to")) and bool(config.section("inbox").get("reply_approval"))
    if not rules.get("required") and not reply_rule:
        return None
    allowed = [str(a).lower() for a in rules.get("approvers", [])]
    page = approved_by_page(item, signoffs) if signoffs is not None else None
    if page and (not allowed or str(page).strip().lower() in allowed):
        return None
    approver = item.extra.get("approved_by")
    if not approver or not str(approver).strip():
        if page:
            return f"signed off on the page by {page!r}, who is not in [approval] approvers in config.toml"
        return "approval is required: add approved_by: NAME once it is signed off (or sign it off on the web page)"
    if allowed and str(approver).strip().lower() not in allowed:
        return f"approved_by: {approver!r} is not in [approval] approvers in config.toml"
    return None


def wanted(items: list[Item], config: Config, now: datetime, failures: dict[str, str] | None = None) -> list[Wanted]:
    """Every delivery the content asks for.  Past one-off times are kept (the planner marks
    them missed); past repeats older than grace are marked ``history``.

    With ``failures`` (the daemon's case), an item that cannot be planned is recorded there
    (its file -> why) and the others go on: one bad input never stops the daemon.
    """
    out: list[Wanted] = []
    langs = languages(config)
    for item in items:
        try:
            out.extend(_wanted_for(item, config, now, langs))
        except Exception as exc:  # noqa: BLE001 - whatever it is, it is this item's, not everyone's
            if failures is None:
                raise
            failures[item.rel] = f"cannot be planned ({type(exc).__name__}: {exc}): check its times and " \
                                 "grace_minutes with python bot.py validate"
    return out


def _wanted_for(item: Item, config: Config, now: datetime, langs) -> list[Wanted]:
    out: list[Wanted] = []
    # An item still awaiting sign-off is planned all the same: the gate blocks it (error
    # `approval`), so it is seen in queue, status and the calendar and reminded before it is
    # due, instead of silently never going out.  It is never sent until it is signed off.
    if item.draft:
        return out
    for name in item.channels:
        channel = config.channels.get(name)
        if channel is None:
            continue
        override = {**item.overrides.get(channel.network, {}), **item.overrides.get(name, {})}
        if override.get("skip"):
            continue
        for when in item.times:
            if item.not_after and when > item.not_after:
                continue
            history = bool(item.repeat) and too_late(item, when, now, config)
            if langs and mode_for(channel, langs) == "paired":
                # One post per language, first language first, a few seconds apart.
                for number, lang in enumerate(langs.order):
                    gap = timedelta(seconds=langs.pair_gap_seconds * number)
                    out.append(Wanted(item, name, channel.network, when + gap, lang, history))
            else:
                out.append(Wanted(item, name, channel.network, when, None, history))
    return out


def errors_for(errors: dict[str, list[Problem]], item_id: str, channel: str) -> list[Problem]:
    """An item's errors that stop a delivery on ``channel``: item-level ones (no channel)
    and that channel's own."""
    return [p for p in errors.get(item_id, ()) if p.channel in (None, channel)]


def blocked_reason(problems: list[Problem]) -> str:
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"content file has an error: {first.path}:{first.line}: {first.message}{more}"


def reconcile(want: list[Wanted], rows: list[dict], config: Config, now: datetime,
              broken_sources: dict[str, str] | None = None, cancelled_by: dict[int, str] | None = None,
              errors: dict[str, list[Problem]] | None = None) -> Actions:
    """Compare what the content asks for with what the ledger holds: what the content wants
    now is what gets planned.

    ``broken_sources`` maps content files that cannot be read right now to their error:
    their deliveries are blocked (not cancelled) until the file is fixed, because a typo in
    a file must neither silently cancel a post nor let an old version go out.
    ``cancelled_by`` gives, for cancelled rows, who cancelled them: a row the planner or the
    daemon cancelled is re-opened when the content asks for it again; a person's stays.
    ``errors`` maps item ids to their error-level problems (``errors_for``): those
    deliveries are ``blocked`` and come back by themselves when the file is fixed.
    """
    broken_sources = broken_sources or {}
    cancelled_by = cancelled_by or {}
    errors = errors or {}
    actions = Actions()
    by_key = {(r["item"], r["channel"], r["planned_at"]): r for r in rows}
    wanted_keys = set()
    for w in want:
        wanted_keys.add(w.key)
        row = by_key.get(w.key)
        problems = errors_for(errors, w.item.id, w.channel)
        late = too_late(w.item, w.when, now, config)
        if row is None:
            if w.history:
                continue
            if late:
                actions.add.append((w, "missed", f"planned time {human(w.when, config.timezone)} had already passed when "
                                    "civicpost first saw it"))
            elif problems:
                actions.add.append((w, "blocked", blocked_reason(problems)))
            else:
                actions.add.append((w, "scheduled", None))
            continue
        if row["state"] == "cancelled":
            if not w.history and cancelled_by.get(row["id"]) in AUTOMATIC_ACTORS:
                if late:
                    actions.reopen.append((row, "missed", f"the content file asks for it again, but its planned "
                                           f"time {human(w.when, config.timezone)} has passed"))
                elif problems:
                    actions.reopen.append((row, "blocked", blocked_reason(problems)))
                else:
                    actions.reopen.append((row, "scheduled", "the content file asks for it again"))
            continue
        if row.get("item_digest") != w.item.digest:
            if row["state"] in OPEN_STATES:
                actions.edited.append((row, w.item))
            elif row["state"] == "posted":
                actions.edited_after_post.append((row, w.item))
        if problems and row["state"] in ("scheduled", "held", "retrying"):
            actions.block.append((row, blocked_reason(problems)))
        elif not problems and row["state"] == "blocked":
            if late:
                actions.unblock.append((row, "missed", "the content file was fixed after its planned time had "
                                        "passed"))
            else:
                actions.unblock.append((row, "scheduled", "content file fixed"))
    items_present = {w.delivery_item for w in want}
    for key, row in by_key.items():
        if key in wanted_keys or row["state"] not in OPEN_STATES:
            continue
        if row.get("source") in broken_sources:
            if row["state"] != "blocked":
                actions.block.append((row, f"content file has an error: {broken_sources[row['source']]}"))
            continue
        reason = ("time or channels changed in the content file" if row["item"] in items_present
                  else "content file deleted, made a draft, unapproved or past not_after")
        actions.cancel.append((row, reason))
    return actions


def wanted_but_cancelled(want: list[Wanted], rows: list[dict]) -> list[int]:
    """Cancelled rows the content asks for again (reconcile needs to know who cancelled them)."""
    keys = {w.key for w in want}
    return [r["id"] for r in rows if r["state"] == "cancelled" and (r["item"], r["channel"], r["planned_at"]) in keys]


def blocked_decision(planned_at: datetime, grace: timedelta, now: datetime, remind_before: timedelta) -> str | None:
    """What a delivery still blocked by its file's errors needs now: "missed" once its
    planned time is past grace, "remind" once it is within ``remind_before``, else None."""
    if now - planned_at > grace:
        return "missed"
    if planned_at - now <= remind_before:
        return "remind"
    return None


def blackout_for(item: Item, when: datetime, config: Config) -> Blackout | None:
    """The blackout window (pre-election period) that holds this delivery, if any."""
    tags = {t.lower() for t in item.tags}
    for window in config.blackouts:
        if window.covers(when) and not (tags & {t.lower().lstrip("#") for t in window.allow_tags}):
            return window
    return None


def due_decision(item: Item | None, when: datetime, now: datetime, config: Config, paused: bool) -> tuple[str, str | None]:
    """What to do with a delivery that has come due: ("publish" | "held" | "missed" | "cancelled", reason)."""
    if item is None:
        return "cancelled", "content file no longer has this delivery"
    if item.not_after and now > item.not_after:
        return "missed", f"not_after {human(item.not_after, config.timezone)} has passed"
    if too_late(item, when, now, config):
        return "missed", f"more than {int(grace_for(item, config).total_seconds() // 60)} minutes late"
    if paused:
        return "held", "posting is paused"
    window = blackout_for(item, when, config)
    if window:
        return "held", f"blackout: {window.reason}"
    return "publish", None
