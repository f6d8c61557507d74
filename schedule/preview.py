"""`bot.py preview`: what each network will get, part by part, before anything goes out."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Iterable

from .errors import Problem
from .timeutil import human, iso_seconds
from .validate import Checked, check


def preview(config_path: str | Path, paths: Iterable[str] | None = None, channel: str | None = None,
            now: datetime | None = None) -> tuple[list[dict], list[Problem]]:
    """One dict per item (the `preview --json` shape) and the problems not tied to an item."""
    checked = check(config_path, paths, only_channel=channel, now=now, every_id=False)
    return preview_items(checked), _unattached(checked)


def preview_items(checked: Checked) -> list[dict]:
    out = []
    for item in checked.items:
        item_problems = [p.as_dict() for p in checked.problems if p.path == item.rel and p.channel is None]
        out.append({
            "id": item.id, "path": item.rel, "title": item.title,
            "publish_at": iso_seconds(item.times[0]) if item.times else None,
            "publish_at_local": human(item.times[0]) if item.times else None,
            "times": [iso_seconds(t) for t in item.times[:20]], "repeat": item.repeat, "draft": item.draft,
            "problems": item_problems,
            "variants": [_variant(v, checked.problems) for v in checked.variants.get(item.id, [])],
        })
    return out


def _variant(variant, problems: list[Problem]) -> dict:
    data = variant.as_dict()
    data["problems"] = [p.as_dict() for p in problems if p.path == variant.source and p.channel == variant.channel]
    return data


def _unattached(checked: Checked) -> list[Problem]:
    paths = {item.rel for item in checked.items}
    return [p for p in checked.problems if p.path not in paths]


def print_preview(items: list[dict], loose: list[Problem], console) -> None:
    """Human output with rich: one panel per item and channel."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    for problem in loose:
        console.print(Text(str(problem), style="red" if problem.level == "error" else "yellow"))
    for item in items:
        when = item.get("publish_at_local") or "no time"
        # Ids, paths and titles are the comms team's text, never rich markup ("[draft]", "[/b]").
        # The rule holds the id only (a rule is cut to one line); the time and file go on a
        # line of their own, which wraps, so "Sun 03 Jan 2027 18:00 GMT" is whole at 80 columns.
        console.rule(f"[bold]{escape(item['id'])}[/]")
        header = Text(f"{when}")
        if item["repeat"]:
            header.append(f", repeats {item['repeat']} ({len(item['times'])}+ times)")
        header.append(f" - {item['path']}")
        if item["draft"]:
            header.append(" DRAFT: never scheduled", style="yellow")
        console.print(header)
        for problem in item["problems"]:
            console.print(Text(f"{problem['level']}: {problem['message']} (line {problem['line']})",
                               style="red" if problem["level"] == "error" else "yellow"))
        for variant in item["variants"]:
            table = Table(show_header=False, box=None, expand=True)
            table.add_column("part", width=8)
            table.add_column("text", overflow="fold")
            for number, part in enumerate(variant["parts"], 1):
                over = part["length"] > variant["limit"]
                table.add_row(f"{number}/{len(variant['parts'])}", Text(part["text"]))
                table.add_row("", Text(f"{part['length']}/{variant['limit']}", style="bold red" if over else "dim"))
            for media in variant["media"]:
                sent_as = f" -> sent as {media['sent_as']}" if media.get("sent_as") else ""
                table.add_row("media", Text(f"{media['path']}{sent_as}  alt: {media['alt'] or '(none)'}"))
            for problem in variant["problems"]:
                table.add_row(problem["level"], Text(problem["message"],
                                                     style="red" if problem["level"] == "error" else "yellow"))
            title = escape(f"{variant['channel']} ({variant['network']})")
            if variant.get("title"):
                title += f" - {escape(variant['title'])}"
            console.print(Panel(table, title=title, title_align="left"))
