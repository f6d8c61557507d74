"""The gate: the one function that decides an item's problems.

`validate`, `preview`, `queue`, the calendar and the daemon's publisher all ask `decide`,
so what a comms officer is shown is exactly what happens: any error, item-level or for a
channel, means that channel's delivery is not sent.

A finding is a `Problem` (path, line, level, code, message with the fix, channel).
``channel`` is None for item-level findings, which apply to every channel of the item.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Iterable

from .config import Config
from .errors import Problem
from .model import Item, Variant


@dataclass
class Verdict:
    """Everything the gate found for one item."""

    item: Item
    problems: list[Problem] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)

    def errors(self, channel: str | None = None) -> list[Problem]:
        """The errors that stop ``channel`` (item-level ones stop every channel);
        with no channel, every error of the item."""
        return [p for p in self.problems if p.level == "error"
                and (channel is None or p.channel is None or p.channel == channel)]

    def blocks(self, channel: str) -> bool:
        return bool(self.errors(channel))


def decide(item: Item, config: Config, renderer, now: datetime, posted: set[tuple[str, str]] | None = None,
           channel: str | None = None, variants: Iterable[Variant] | None = None, advice: bool = True,
           signoffs: dict[str, dict] | None = None) -> Verdict:
    """The item's problems: item-level (reading, time, approval, not_after, blackout,
    the planner's own checks, accessibility, languages) and, per channel, the rendered
    variant's (template, length, media, network rules, accessibility of the text) and the
    channel's missing settings.

    ``variants`` are the exact variants to judge (the publisher passes the one it is about
    to send); by default every channel's variant is rendered (only ``channel``'s if given).
    ``posted`` is the set of (item, planned_at) already out, for the "past" warning; None
    skips that warning (the daemon knows a due delivery is due).  ``advice=False`` skips the
    rules that can only warn (the rendered text's accessibility advice), for callers that act
    on errors alone (the publisher, queue, calendar); the errors are the same either way.
    ``signoffs`` are the ledger's page sign-offs (`signoff.signoffs`, read once per scan):
    one of this exact file counts as ``approved_by:``.
    """
    from .accessibility import unique

    verdict = Verdict(item, item_problems(item, config, now, posted, signoffs))
    verdict.variants = list(variants) if variants is not None else renderer.variants(item, only=channel)
    rules: list[Problem] = []
    for variant in verdict.variants:
        # A variant's findings belong to its channel (a broken template file is cached
        # without one, and must not stop the item's other channels).
        verdict.problems.extend(p if p.channel else replace(p, channel=variant.channel) for p in variant.problems)
        if advice:
            rules.extend(variant_rules(variant, config))
    verdict.problems.extend(unique(rules))
    for name in dict.fromkeys(v.channel for v in verdict.variants):
        # A channel missing a setting (e.g. its account id) cannot post anything.
        verdict.problems.extend(Problem(config.path.name, 1, "error", "config", message, name)
                                for message in renderer.channel(name).config_problems())
    return verdict


def item_problems(item: Item, config: Config, now: datetime, posted: set[tuple[str, str]] | None,
                  signoffs: dict[str, dict] | None = None) -> list[Problem]:
    from .accessibility import check_item
    from .languages import languages, problems as language_problems, unused_language_fields
    from .plan import approval_missing, blackout_for, grace_for, too_late
    from .timeutil import human, to_utc_key

    problems = list(item.problems)

    def add(key: str, level: str, code: str, message: str) -> None:
        problems.append(Problem(item.rel, item.line(key), level, code, message))

    if not item.times and item.repeat and not item.draft:
        add("repeat", "error", "repeat-never", f"repeat: {item.repeat!r} never fires between publish_at and until: "
            "check the day and month (e.g. there is no 31 February) and the until: date")
    elif not item.times and not item.draft and not any(p.level == "error" for p in item.problems):
        add("publish_at", "error", "no-time", "no publish_at: add publish_at: 2027-03-01T09:00 (or draft: true)")
    if not item.channels:
        add("channels", "error", "no-channel", "no channels: add channels: [...] or default_channels in config.toml")
    if not item.body.strip() and not any("text" in o for o in item.overrides.values()):
        problems.append(Problem(item.rel, item.body_line, "error", "empty", "the post has no text: write it below "
                                "the front matter"))
    if item.draft:
        return problems
    missing = approval_missing(item, config, signoffs)
    if missing:
        add("approved_by", "error", "approval", missing)
    if posted is not None:
        past = [t for t in item.times if t < now and (item.id, to_utc_key(t)) not in posted]
        if past and not item.repeat:
            # Say what the planner will do (plan.too_late, the one grace rule): within its
            # grace it goes out at once, past it it is missed.
            if too_late(item, past[0], now, config):
                add("publish_at", "warning", "past", f"publish_at {human(past[0], config.timezone)} has already passed "
                    "and it has not gone out: it will be marked missed, not posted; change the time or remove the file")
            elif "in_reply_to" not in item.extra:   # a reply is written to go at once: nothing to warn of
                until = human(past[0] + grace_for(item, config), config.timezone)
                add("publish_at", "warning", "past", f"publish_at {human(past[0], config.timezone)} has already passed: "
                    f"it goes out as soon as the daemon sees it, if that is before {until} (its grace); "
                    "change the time if that is not what you want")
    if item.not_after and item.times and all(t > item.not_after for t in item.times):
        add("not_after", "error", "expired", "every planned time is after not_after: nothing would be posted")
    for when in item.times:
        if when < now:
            continue
        window = blackout_for(item, when, config)
        if window:
            add("publish_at", "warning", "blackout", f"planned {human(when, config.timezone)} is inside the blackout "
                f"'{window.reason}': it will be held unless tagged {', '.join(window.allow_tags) or '(no tag allowed)'}")
            break
    problems.extend(planner_problems(item, config, now))
    problems.extend(check_item(item, config.section("accessibility")))
    langs = languages(config)
    if langs:
        problems.extend(language_problems(item, langs))
    problems.extend(unused_language_fields(item, config))
    if item.extra.get("in_reply_to"):          # an inbox reply (#11): Welsh is answered in Welsh
        from .inbox.replies import welsh_reply_problem

        problems.extend(p for p in [welsh_reply_problem(item, config)] if p)
    return problems


def planner_problems(item: Item, config: Config, now: datetime) -> list[Problem]:
    """Run the daemon's planner on the item, so what would break planning is reported by
    validate, not found by the daemon at the planned time."""
    from .languages import split_delivery_item
    from .plan import due_decision, grace_for, wanted

    problems = []
    base, lang = split_delivery_item(item.id)
    if lang and not any(p.code == "id-collides" for p in item.problems):     # content.py said it already
        # The ledger names one language of a bilingual pair "<id>#<lang>": this id would be
        # taken for the {lang} post of item {base}.
        problems.append(Problem(item.rel, item.line("id"), "error", "id-collides",
                                f"id {item.id!r} would collide with the {lang!r} post of item {base!r}: "
                                f"choose an id without '#{lang}' at the end, e.g. {base}-{lang}"))
    try:
        want = wanted([item], config, now)
        for entry in want[:1] + want[-1:]:
            # The first and last times at the end of their grace (the publisher's retry_until):
            # where a grace too large for a date overflows.
            due_decision(item, entry.when, entry.when + grace_for(item, config), config, False)
    except (ArithmeticError, ValueError, TypeError) as exc:      # OverflowError: a grace too large
        problems.append(Problem(item.rel, item.line("grace_minutes"), "error", "plan",
                                f"the planner cannot plan this item ({exc}): check grace_minutes:, "
                                "publish_at: and repeat:"))
    return problems


def variant_rules(variant: Variant, config: Config) -> list[Problem]:
    from .accessibility import check_variant

    return check_variant(variant, config.section("accessibility"))


__all__ = ["Verdict", "decide", "item_problems", "planner_problems", "variant_rules"]
