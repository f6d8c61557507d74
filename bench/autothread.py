"""Benchmark: autothread's worst cases, on every threading network (#10 §6).

    .venv/bin/python bench/autothread.py [--kb 1024] [--networks x,bluesky,mastodon,threads]

Splitting must be linear in the text.  Before #10 a 29 KB list without sentence ends took
48 s to validate, one 20 KB word 24 s, a 40 KB word 89 s (quadratic: each cut re-read the
rest of the text).  The cases here are those shapes at full size, and a long ordinary text:

- "list":     lines with no sentence end ("- item 1 on the list"), one huge paragraph
- "word":     one word with no space at all, cut between grapheme clusters
- "welsh":    ordinary sentences with accents (X's slower, non-ASCII count path)
- "emoji":    emoji and Devanagari conjuncts, no spaces (grapheme and byte limits at once)
- "tags":     hundreds of links and hashtags after the text (the trailer scan)

Target on a 2-core machine: each case at 1 MB in under 1 s, except on X, whose count
(twitter-text's parse_tweet) alone takes about 5 s per MB of text with emoji; there the
target is linear growth: doubling the text no more than about doubles the time
(the "ratio" column, time at full size / time at half size, should stay near 2).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schedule.channels import make_channel  # noqa: E402
from schedule.config import load_config  # noqa: E402
from schedule.render import autothread_split  # noqa: E402
from tests.helpers import ALL_NETWORK_CHANNELS  # noqa: E402

TARGET_SECONDS_PER_MB = 1.0


def cases(size: int) -> dict[str, str]:
    def repeat(unit: str) -> str:                # `unit` over and over, about `size` UTF-8 bytes
        copies = size // len(unit.encode()) + 1
        return (unit * copies)[: int(size * len(unit) / len(unit.encode()))]

    return {
        "list": "\n".join(f"- item {n} on the list" for n in range(size // 22)),
        "word": "a" * size,
        "welsh": repeat("Mae'r biniau'n cael eu casglu ddydd Mawrth. Diolch am ailgylchu ŵyau a phŷst. "),
        "emoji": repeat("क्षि👨‍👩‍👧"),
        "tags": repeat("Bins go out on Tuesday. ") + "\n\nhttps://www.example.gov.uk/bins\n\n"
                + " ".join(f"#Tag{n}" for n in range(max(1, size // 800))),
    }


def channels() -> dict:
    folder = Path(tempfile.mkdtemp())
    (folder / "content").mkdir()
    (folder / "templates").mkdir()
    (folder / "config.toml").write_text(ALL_NETWORK_CHANNELS)
    config = load_config(folder / "config.toml")
    return {name: make_channel(config.channels[name]) for name in config.channels}


def run(channel, text: str) -> tuple[float, int]:
    started = time.perf_counter()
    parts = autothread_split([text], channel)
    elapsed = time.perf_counter() - started
    assert all(channel.count(p) <= channel.max_length for p in parts), "a part is over the limit"
    return elapsed, len(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=int, default=1024, help="size of each case in KB (default 1024)")
    parser.add_argument("--networks", default="x,bluesky,mastodon,threads")
    args = parser.parse_args()
    size = args.kb * 1024
    by_name = channels()
    failed = False
    print(f"{'network':<10}{'case':<8}{'KB':>7}{'parts':>8}{'seconds':>10}{'s/MB':>8}{'ratio':>7}")
    for network in args.networks.split(","):
        channel = by_name[network]
        autothread_split(["Warm up: https://example.gov.uk ŵ 👍 @a@b.example " * 40], channel)   # imports, regexes
        half, full = cases(size // 2), cases(size)
        for name, text in full.items():
            half_seconds, _ = run(channel, half[name])
            seconds, parts = run(channel, text)
            ratio = seconds / half_seconds if half_seconds > 0.01 else float("nan")
            per_mb = seconds / (len(text.encode()) / 2**20)
            slow = per_mb > TARGET_SECONDS_PER_MB and (network != "x" or ratio > 2.6)
            failed |= slow
            print(f"{network:<10}{name:<8}{len(text.encode()) // 1024:>7}{parts:>8}{seconds:>10.2f}{per_mb:>8.2f}"
                  f"{ratio:>7.2f}{'  SLOW' if slow else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
