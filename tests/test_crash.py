"""Kill -9 at random moments, restart, repeat: nothing is lost and nothing is posted twice.

The daemon runs as a real child process against the X and Mastodon test servers (with
latency, so kills land in the middle of network calls).  X has no idempotency keys (the
daemon must look at the account after a crash); Mastodon has them.  X's own duplicate
check is switched off so that a double post would show instead of being refused.

Every item says the same thing (the shipped weekly bin reminder, as a two-part thread),
and last week's identical posts are already on both accounts: a recovery that matched on
text alone would take another delivery's post, or last week's, and lose this one.  The
test also proves that kills landed in the middle of posts (a row in `publishing` when the
process died), so it cannot pass without testing a crash.
"""
from __future__ import annotations

import os
import random
import signal
import sqlite3
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
# content/bin-collection-reminder.md, as a thread: the same two parts for every item.
PARTS = ("Reminder: put your bins out tonight for collection tomorrow morning.",
         "Check which bin goes out this week on our website.")


def last_weeks_posts(servers: dict) -> set[str]:
    """Last week's reminder, already on both accounts (made through each server's own API)."""
    import requests

    week_ago = datetime.now(timezone.utc) - timedelta(days=7)
    seeded: set[str] = set()
    for text in PARTS:
        tweet_id = str(int(week_ago.timestamp() * 1000) << 22 | len(seeded))
        servers["x"].tweets[tweet_id] = {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id],
                                         "in_reply_to_tweet_id": None, "media_ids": [], "made": week_ago.timestamp(),
                                         "created_at": week_ago.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        status = requests.post(f"{servers['mastodon'].url}/api/v1/statuses", data={"status": text}, timeout=10,
                               headers={"Authorization": f"Bearer {mastodon.TOKEN}"}).json()
        servers["mastodon"].statuses[status["id"]]["created_at"] = week_ago.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        seeded |= {tweet_id, status["id"]}
    return seeded


def rows_in_publishing(project) -> int:
    """Rows the killed process left in `publishing`: it died in the middle of a post."""
    path = project.config().database
    if not path.exists():
        return 0
    ledger = Ledger(path, readonly=True)
    try:
        return len(ledger.deliveries(states=["publishing"]))
    except sqlite3.OperationalError:      # killed before its first schema was committed
        return 0
    finally:
        ledger.close()


def evidence(ledger: Ledger, servers: dict, seeded: set[str], project) -> str:
    """What a failure needs to be read: which rows hold which remote ids (and whether each
    is new, last week's or missing on the server), every post nobody holds, and the events
    of the read-backs (recovered, ambiguous, found); the daemon's log is crash.log."""
    lines = [f"project kept at {project.root} (crash.log: the daemon's log)"]
    holders: dict[str, list[int]] = {}
    for row in ledger.deliveries():
        store = servers["x"].tweets if row["channel"] == "x" else servers["mastodon"].statuses
        ids = [p["remote_id"] for p in ledger.parts(row["id"])]
        for remote_id in ids:
            holders.setdefault(remote_id, []).append(row["id"])
        marks = ["seeded" if i in seeded else "ok" if i in store else "MISSING" for i in ids]
        lines.append(f"row {row['id']} {row['item']} on {row['channel']}: {row['state']} parts {list(zip(ids, marks))}")
    lines += [f"remote id {i} held by rows {rows}" for i, rows in holders.items() if len(rows) > 1]
    for name, store in (("x", servers["x"].tweets), ("mastodon", servers["mastodon"].statuses)):
        lines += [f"{name} post {i} held by no row" for i in store if i not in holders and i not in seeded]
    lines += [f"{e['at']} row {e['delivery_id']} {e['kind']} {e['from_state']}->{e['to_state']}: {e['reason']}"
              for e in ledger.events() if e["kind"] in ("recovered", "ambiguous") or "found" in (e["reason"] or "")]
    return "\n".join(lines)


def test_sigkill_at_random_points_loses_nothing_and_posts_nothing_twice(project):
    servers = {"x": x.Server(latency=0.15).start(), "mastodon": mastodon.Server(latency=0.15).start()}
    servers["x"].reject_duplicates = False
    try:
        project.write_config(
            channels=channel_tables({name: server.url for name, server in servers.items()}),
            default_channels='["x", "mastodon"]',
            extra="[content]\nrescan_seconds = 1\n[schedule]\nretry_base_seconds = 0.2\nretry_max_seconds = 1\n")
        seeded = last_weeks_posts(servers)
        start = datetime.now(timezone.utc)
        for n in range(ITEMS):              # due one after another, so posting goes on across many kills
            due = (start + timedelta(seconds=1 + 1.5 * n)).isoformat()
            project.post(f"item{n}.md", f"publish_at: {due}", f"{PARTS[0]}\n---8<---\n{PARTS[1]}")
        env = {**os.environ, **credentials_env("x", "mastodon")}
        command = [sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "run"]
        rng = random.Random(20261125)
        kills = mid_post = 0
        log = open(project.root / "crash.log", "w")
        for run in range(12):
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            if run % 4 == 3:                # aimed: the moment a post is under way (a loaded
                deadline = time.monotonic() + 20    # machine may take seconds to start the daemon)
                while time.monotonic() < deadline and not rows_in_publishing(project):
                    time.sleep(0.02)
            else:                           # anywhere: start-up, a rescan, between or inside posts
                time.sleep(rng.uniform(0.6, 2.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            mid_post += rows_in_publishing(project) > 0
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
        why = evidence(ledger, servers, seeded, project)
        assert len(rows) == 2 * ITEMS, why
        assert set(states.values()) == {"posted"}, why
        assert mid_post >= 1, f"no kill of {kills} landed in the middle of a post: this tested no crash"
        tweets = [t["text"] for i, t in servers["x"].tweets.items() if i not in seeded]
        toots = [html_to_text(s["content"]) for i, s in servers["mastodon"].statuses.items() if i not in seeded]
        for posted in (tweets, toots):
            assert sorted(posted) == sorted(PARTS * ITEMS), why
        taken: list[str] = []
        for row in rows:
            parts = ledger.parts(row["id"])
            assert [p["idx"] for p in parts] == [0, 1], why
            store = servers["x"].tweets if row["channel"] == "x" else servers["mastodon"].statuses
            assert all(p["remote_id"] in store and p["remote_id"] not in seeded for p in parts), why
            reply_to = store[parts[1]["remote_id"]].get("in_reply_to_tweet_id") or \
                store[parts[1]["remote_id"]].get("in_reply_to_id")
            assert reply_to == parts[0]["remote_id"], why                 # each thread is whole, and its own
            taken += [p["remote_id"] for p in parts]
        assert len(taken) == len(set(taken)), "a post was recorded for two deliveries\n" + why
        recovered = [e for e in ledger.events() if e["kind"] == "recovered"]
        print(f"{kills} kills, {mid_post} in the middle of a post, {len(recovered)} deliveries recovered after a kill")
    finally:
        for server in servers.values():
            server.stop()
