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
from .errors import ConfigError, Problem
from .model import Item, Variant
from .gate import decide
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
          now: datetime | None = None, progress: bool = False, scanner: ContentScanner | None = None,
          every_id: bool = True) -> Checked:
    """``every_id``: with ``paths``, still compare their ids with every file in content/ (a
    full read of the folder; `preview`, which shows a file's posts, skips it)."""
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
    if paths and every_id:
        problems.extend(_collisions(config, result))
    ledger_rows, records = _ledger_facts(config)   # one read of the ledger, not one per item
    for item in result.items:
        checked.items.append(item)
        verdict = decide(item, config, renderer, now, ledger_rows, channel=only_channel, signoffs=records)
        checked.variants[item.id] = verdict.variants
        problems.extend(verdict.problems)
    # A channel's config error once, not per item; a template's syntax error once, not per channel.
    seen: set = set()
    kept = []
    for problem in problems:
        key = (problem.path, problem.line, problem.code, problem.message) if problem.code == "template" else problem
        if key not in seen:
            seen.add(key)
            kept.append(problem)
    problems[:] = kept
    return checked


def _scan(config: Config, scanner: ContentScanner, paths, progress: bool) -> ScanResult:
    files = content_files(config.content_dir, paths)
    if progress and len(files) > PROGRESS_THRESHOLD and sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("Checking content", total=len(files))
            return scanner.scan(paths, progress=lambda: bar.advance(task))
    return scanner.scan(paths)


def _collisions(config: Config, result: ScanResult) -> list[Problem]:
    """Files named on the command line (pre-commit) whose id another file in content/ already
    has: the daemon sees the whole folder, so the check must too."""
    from .scanner import duplicate_ids

    named = {item.rel for item in result.items}
    others = [i for i in ContentScanner(config).scan().items if i.rel not in named]
    return [p for p in duplicate_ids(others + result.items) if p.path in named]


def _ledger_facts(config: Config) -> tuple[set[tuple[str, str]], dict[str, dict]]:
    """What the ledger knows that the gate asks about, from one read-only connection: the
    (item, planned_at) pairs already posted, and the page sign-offs.  Empty if there is no
    ledger yet (validate never creates one) or it cannot be read (that must not stop a
    content check)."""
    from .database import open_configured
    from .signoff import records_in

    try:
        ledger = open_configured(config, readonly=True)
        if ledger is None:
            return set(), {}
        try:
            posted = {(r["item"], r["planned_at"]) for r in ledger.deliveries(states=["posted", "publishing"])}
            return posted, records_in(ledger)
        finally:
            ledger.close()
    except Exception:  # noqa: BLE001 - an unreadable ledger must not stop a content check
        return set(), {}


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
