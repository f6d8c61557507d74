"""`bot.py validate`: read and check everything first (config, templates, every content
file, every channel's variant), touching no network and needing no credentials."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable

from .config import Config, load_config
from .scanner import ContentScanner, ScanResult, content_files
from .accessibility import unique
from .errors import ConfigError, Problem
from .languages import languages, problems as language_problems, unused_language_fields
from .model import Item, Variant
from .plan import approval_missing, blackout_for
from .render import Renderer
from .timeutil import utcnow

PROGRESS_THRESHOLD = 300


@dataclass
class Checked:
    """Everything validate and preview learned, item by item."""

    config: Config | None
    problems: list[Problem] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    variants: dict[str, list[Variant]] = field(default_factory=dict)    # item id -> variants

    @property
    def errors(self) -> int:
        return sum(p.level == "error" for p in self.problems)


def config_problem(exc: ConfigError) -> Problem:
    return Problem(exc.path or "config.toml", exc.line or 1, "error", "config", exc.message)


def check(config_path: str | Path, paths: Iterable[str] | None = None, only_channel: str | None = None,
          now: datetime | None = None, progress: bool = False, scanner: ContentScanner | None = None) -> Checked:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return Checked(None, [config_problem(exc)])
    now = now or utcnow()
    checked = Checked(config)
    problems = checked.problems
    renderer = Renderer(config)
    config_file = str(config.path.name)
    for name in config.channels:
        for message in renderer.channel(name).config_problems():
            problems.append(Problem(config_file, 1, "error", "config", message, name))
    if only_channel and only_channel not in config.channels:
        problems.append(Problem(config_file, 1, "error", "unknown-channel",
                                f"--channel {only_channel}: no [channels.{only_channel}] in config.toml"))
        return checked
    problems.extend(renderer.template_problems())
    result = _scan(config, scanner or ContentScanner(config), paths, progress)
    problems.extend(Problem(e.path, e.line, "error", e.code, e.message) for e in result.errors)
    problems.extend(result.problems)
    ledger_rows = _posted_keys(config)
    for item in result.items:
        checked.items.append(item)
        problems.extend(item_problems(item, config, now, ledger_rows))
        variants = renderer.variants(item, only=only_channel)
        checked.variants[item.id] = variants
        rules: list[Problem] = []
        for variant in variants:
            problems.extend(variant.problems)
            rules.extend(variant_rules(variant, config))
        problems.extend(unique(rules))
    return checked


def _scan(config: Config, scanner: ContentScanner, paths, progress: bool) -> ScanResult:
    files = content_files(config.content_dir, paths)
    if progress and len(files) > PROGRESS_THRESHOLD and sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("Checking content", total=len(files))
            return scanner.scan(paths, progress=lambda: bar.advance(task))
    return scanner.scan(paths)


def _posted_keys(config: Config) -> set[tuple[str, str]]:
    """(item, planned_at) pairs already posted, if a ledger exists (validate never creates one)."""
    from .ledger import open_ledger

    try:
        ledger = open_ledger(config.database, config.timezone, readonly=True)
    except Exception:  # noqa: BLE001 - an unreadable ledger must not stop a content check
        return set()
    if ledger is None:
        return set()
    try:
        return {(r["item"], r["planned_at"]) for r in ledger.deliveries(states=["posted", "publishing"])}
    finally:
        ledger.close()


def item_problems(item: Item, config: Config, now: datetime, posted: set[tuple[str, str]]) -> list[Problem]:
    from .accessibility import check_item
    from .timeutil import to_utc_key

    problems = list(item.problems)

    def add(key: str, level: str, code: str, message: str) -> None:
        problems.append(Problem(item.rel, item.line(key), level, code, message))

    if not item.times and not item.draft:
        add("publish_at", "error", "no-time", "no publish_at: add publish_at: 2027-03-01T09:00 (or draft: true)")
    if not item.channels:
        add("channels", "error", "no-channel", "no channels: add channels: [...] or default_channels in config.toml")
    if not item.body.strip() and not any("text" in o for o in item.overrides.values()):
        problems.append(Problem(item.rel, item.body_line, "error", "empty", "the post has no text: write it below "
                                "the front matter"))
    if item.draft:
        return problems
    missing = approval_missing(item, config)
    if missing:
        add("approved_by", "error", "approval", missing)
    past = [t for t in item.times if t < now and (item.id, to_utc_key(t)) not in posted]
    if past and not item.repeat:
        add("publish_at", "warning", "past", f"publish_at {past[0].isoformat()} has already passed and it has not "
            "gone out: change the time or remove the file")
    if item.not_after and item.times and all(t > item.not_after for t in item.times):
        add("not_after", "error", "expired", "every planned time is after not_after: nothing would be posted")
    for when in item.times:
        if when < now:
            continue
        window = blackout_for(item, when, config)
        if window:
            add("publish_at", "warning", "blackout", f"planned {when:%Y-%m-%d %H:%M} is inside the blackout "
                f"'{window.reason}': it will be held unless tagged {', '.join(window.allow_tags) or '(no tag allowed)'}")
            break
    problems.extend(check_item(item, config.section("accessibility")))
    langs = languages(config)
    if langs:
        problems.extend(language_problems(item, langs))
    problems.extend(unused_language_fields(item, config))
    return problems


def variant_rules(variant: Variant, config: Config) -> list[Problem]:
    from .accessibility import check_variant

    return check_variant(variant, config.section("accessibility"))


def validate(config_path: str | Path, paths: Iterable[str] | None = None, progress: bool = False) -> list[Problem]:
    return check(config_path, paths, progress=progress).problems


def main(argv: list[str] | None = None) -> int:
    """The `civicpost-validate` entry point (pre-commit): `[--config PATH] [FILES...]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="civicpost-validate", description="Check civicpost content files.")
    parser.add_argument("--config", default="config.toml")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args(argv)
    problems = validate(args.config, args.paths or None)
    for problem in problems:
        print(problem)
    return 1 if any(p.level == "error" for p in problems) else 0
