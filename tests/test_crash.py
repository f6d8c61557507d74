"""Kill -9 at random moments, restart, repeat: nothing is lost and nothing is posted twice.

The daemon runs as a real child process against the X and Mastodon test servers (with
latency, so kills land in the middle of network calls).  X has no idempotency keys (the
daemon must look at the account after a crash); Mastodon has them.  X's own duplicate
check is switched off so that a double post would show instead of being refused.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from schedule.ledger import Ledger
from tests.channels.harness_mastodon import html_to_text
from tests.servers import channel_tables, credentials_env, mastodon, x

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
ITEMS = 10
FINAL = {"posted", "failed", "uncertain", "missed", "cancelled"}


def test_sigkill_at_random_points_loses_nothing_and_posts_nothing_twice(project):
    servers = {"x": x.Server(latency=0.15).start(), "mastodon": mastodon.Server(latency=0.15).start()}
    servers["x"].reject_duplicates = False
    try:
        project.write_config(
            channels=channel_tables({name: server.url for name, server in servers.items()}),
            default_channels='["x", "mastodon"]',
            extra="[content]\nrescan_seconds = 1\n[schedule]\nretry_base_seconds = 0.2\nretry_max_seconds = 1\n")
        due = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()
        for n in range(ITEMS):
            project.post(f"item{n}.md", f"publish_at: {due}", f"Notice {n}: part one.\n---8<---\nNotice {n}: part two.")
        env = {**os.environ, **credentials_env("x", "mastodon")}
        command = [sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "run"]
        rng = random.Random(20261125)
        kills = 0
        log = open(project.root / "crash.log", "w")
        for _ in range(12):
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            time.sleep(rng.uniform(0.6, 2.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)   # the last run finishes
        ledger = Ledger(project.config().database, project.config().timezone)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            rows = ledger.deliveries()
            if len(rows) == 2 * ITEMS and all(r["state"] in FINAL for r in rows) and \
                    ledger.get_meta("daemon_pid") == str(proc.pid):
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        rows = ledger.deliveries()
        states = {(r["item"], r["channel"]): r["state"] for r in rows}
        assert len(rows) == 2 * ITEMS, states
        assert set(states.values()) == {"posted"}, states
        tweets = [t["text"] for t in servers["x"].tweets.values()]
        toots = [html_to_text(s["content"]) for s in servers["mastodon"].statuses.values()]
        for posted in (tweets, toots):
            assert sorted(posted) == sorted(f"Notice {n}: part {p}." for n in range(ITEMS) for p in ("one", "two"))
        for row in rows:
            parts = ledger.parts(row["id"])
            assert [p["idx"] for p in parts] == [0, 1]
            store = servers["x"].tweets if row["channel"] == "x" else servers["mastodon"].statuses
            assert all(p["remote_id"] in store for p in parts)
        recovered = [e for e in ledger.events() if e["kind"] == "recovered"]
        print(f"{kills} kills, {len(recovered)} deliveries recovered after a kill")
    finally:
        for server in servers.values():
            server.stop()
