"""The demo (`python -m tests.servers.demo`): the daemon posts every shipped example to
every network's test server, through the real client libraries."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import pds

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_demo_posts_every_shipped_example_to_every_network():
    done = subprocess.run([sys.executable, "-m", "tests.servers.demo", "--until-done", "--lead", "4", "--gap", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    received = dict(re.findall(r"^  (\w+): (\d+) ", done.stdout, re.MULTILINE))
    # 7 scheduled examples (the draft never goes out): threads and autothreads post more parts.
    assert {k: int(v) for k, v in received.items()} == {
        "x": 11, "mastodon": 10, "facebook": 6, "instagram": 2, "threads": 9, "linkedin": 7, "youtube": 1}
    ledger = re.findall(r"^  (\w+) +(\S+) on (\w+): (\S+)", done.stdout, re.MULTILINE)
    expected = 37 + (7 if pds.unavailable() is None else 0)          # + bluesky: all 7 items
    assert len(ledger) == expected and {state for state, *_ in ledger} == {"posted"}
    assert not any(item == "2027/library-opening-hours" for _, item, _, _ in ledger)
    assert all(url.startswith(("https://", "http://127.0.0.1:")) for *_, url in ledger)


def test_demo_help():
    done = subprocess.run([sys.executable, "-m", "tests.servers.demo", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "--until-done" in done.stdout and "test server" in done.stdout
