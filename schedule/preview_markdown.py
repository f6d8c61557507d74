"""`bot.py preview --format markdown`: the preview as Markdown, for a pull-request comment.

It prints the same data as `preview --json` (schedule/preview.py), nothing recomputed.
Each part's text goes in a fenced code block longer than any run of backticks inside it
(CommonMark 0.31, "Fenced code blocks": a fence closes only on one at least as long), so
the reviewer sees the exact characters: `#`, `*`, `<` and links are not interpreted.
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from .errors import Problem


def zone_of(config_path) -> ZoneInfo | None:
    """The config's zone for times; None when the config itself is broken (preview then
    reports that as a problem of its own)."""
    from .config import load_config
    from .errors import ConfigError
    try:
        return load_config(config_path).timezone
    except ConfigError:
        return None


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _inline(text: str) -> str:
    """Markdown-safe words (titles, alt text, messages): backslash every punctuation mark
    CommonMark lets be escaped, and keep it on one line."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~])", r"\\\1", " ".join(str(text).split()))


def _when(iso: str | None, tz: ZoneInfo | None) -> str:
    if not iso:
        return "no time set"
    moment = datetime.fromisoformat(iso)
    return (moment.astimezone(tz) if tz else moment).strftime("%a %d %b %Y %H:%M %Z")


def _problem_line(problem: dict) -> str:
    where = f" (line {problem['line']})" if problem.get("line") else ""
    return f"- **{problem['level']}**: {_inline(problem['message'])}{where}"


def to_markdown(items: list[dict], loose: list[Problem], tz: ZoneInfo | None = None) -> str:
    out: list[str] = []
    if loose:
        out += ["### Problems", ""] + [_problem_line(p.as_dict()) for p in loose] + [""]
    for item in items:
        out.append(f"## {_inline(item['title'] or item['id'])}")
        out.append("")
        facts = [f"`{item['id']}` in `{item['path']}`", f"goes out {_when(item['publish_at'], tz)}"]
        if item.get("repeat"):
            facts.append(f"repeats {_inline(item['repeat'])}")
        if item.get("draft"):
            facts.append("**draft: never scheduled**")
        out += ["; ".join(facts), ""]
        if item["problems"]:
            out += [_problem_line(p) for p in item["problems"]] + [""]
        for variant in item["variants"]:
            title = f" ({_inline(variant['title'])})" if variant.get("title") else ""
            out += [f"### {_inline(variant['channel'])} ({_inline(variant['network'])}){title}", ""]
            count = len(variant["parts"])
            for number, part in enumerate(variant["parts"], 1):
                over = " **too long**" if part["length"] > variant["limit"] else ""
                fence = _fence(part["text"])
                out += [f"Post {number} of {count}: {part['length']}/{variant['limit']} characters{over}", "",
                        f"{fence}text", part["text"], fence, ""]
            for media in variant["media"]:
                alt = f"alt text: {_inline(media['alt'])}" if media.get("alt") else "**no alt text**"
                out.append(f"- media `{media['path']}`, {alt}")
            if variant["media"]:
                out.append("")
            if variant["problems"]:
                out += [_problem_line(p) for p in variant["problems"]] + [""]
    return "\n".join(out).rstrip("\n") + "\n"
