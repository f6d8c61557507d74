"""Chaos (#12): three real daemons on one real PostgreSQL ledger; 100 items x 3 channels due
over two minutes; random SIGKILLs of any daemon (the leader included, each restarted as a
new node), and one daemon stopped (SIGSTOP) past its lease and then continued.

Result, judged by the test servers' own record: every delivery posted exactly once, none
lost, and `uncertain` only where a network cannot say.  A second post fails the test, whoever
sent it and whatever the sending node logged about it (a `sent-after-change` alert is the
node's own account, not an excuse).  The only second *request* allowed is one the network
itself answers as the same post: Mastodon's Idempotency-Key replay
(https://docs.joinmastodon.org/methods/statuses/#create: "Idempotency-Key: ... Prevent
duplicate submissions of the same status"; the key is kept for an hour), which makes no
second status.  X (no idempotency key: POST /2/tweets takes none) and Facebook (none either)
are recovered by reading the account back.  X's own duplicate check is off so a double post
shows.  Each request that makes a post is traced, as it arrives, to the process whose socket
sent it (the kernel's socket table, read while the connection is open:
cluster_helpers.pid_of_client), so a failure names the node, and when its request arrived
relative to the SIGSTOP, the end of the stopped node's lease and the SIGCONT.

CIVICPOST_CHAOS_QUICK=1 runs 30 items over 40 seconds (a quick look while working).
"""
from __future__ import annotations

import os
import random
import re
import shutil
import signal
import tempfile
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.ledger.cluster_helpers import FINAL, Nodes, pid_of_client, posts_by_text
from tests.ledger.conftest import pg_url, postgres  # noqa: F401 - the real PostgreSQL 15 fixtures
from tests.servers import graph, mastodon, x

pytestmark = pytest.mark.slow
QUICK = bool(os.environ.get("CIVICPOST_CHAOS_QUICK"))
ITEMS = 30 if QUICK else 100
SPREAD = 40.0 if QUICK else 120.0            # seconds over which the items come due
LEASE = 10.0                                 # [cluster] lease_seconds in cluster_helpers.CLUSTER


def text_of(n: int) -> str:
    return f"Notice {n}: the recycling centre on Mill Road has new opening hours from Monday."


def node_pid(node_id: str) -> int:
    return int(node_id.rsplit(":", 2)[1])


def sender(nodes, live: dict, spare: int | None, wait: float = 3.0) -> int | None:
    """The folder whose daemon is posting right now (a row in `publishing` it holds), if one
    is within a few seconds: so that kills land in the middle of network calls."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for row in nodes.query("SELECT claimed_by FROM deliveries WHERE state = 'publishing'"):
            for folder, daemon in live.items():
                if folder != spare and daemon.proc.pid == node_pid(row["claimed_by"] or "x:0:x"):
                    return folder
        time.sleep(0.02)
    return None


# The request that makes a post, per network, and the text it carries (each server's route).
CREATES = {"x": ("POST", re.compile(r"^/2/tweets$"), "text"),
           "mastodon": ("POST", re.compile(r"^/api/v1/statuses$"), "status"),
           "facebook": ("POST", re.compile(r"/feed$"), "message")}


def fields(request) -> dict:
    return request.json() if "json" in (request.header("content-type") or "") else request.form()


class Senders:
    """Which daemon sent each request that makes a post: looked up as the request arrives
    (its connection is still open), among the daemons' own sockets, by the client port the
    server recorded.  The server's record and the kernel's, never a node's log."""

    def __init__(self, servers: dict):
        self.pids: list[int] = []              # every daemon started, newest last
        self.pid_of: dict[int, int | None] = {}     # id(request) -> the sending daemon's pid
        for name, server in servers.items():
            server.on_request.append(lambda request, name=name: self.note(name, request))

    def note(self, name: str, request) -> None:
        method, path, _ = CREATES[name]
        if request.method != method or not path.search(request.path):
            return
        # None: a process killed before its request was read (its socket is gone)
        self.pid_of[id(request)] = pid_of_client(request.client[1], self.pids[::-1]) if request.client else None

    def creates(self, server, name: str, text: str) -> list[tuple]:
        """(request, sender pid, replay) for each request that asked for this post, in the
        order they arrived; `replay`: Mastodon answered it from an earlier request's
        Idempotency-Key (the server's own table), so it made no second status."""
        method, path, field = CREATES[name]
        found, keys = [], set()
        for request in server.calls(method):
            if not path.search(request.path) or fields(request).get(field, "") != text:
                continue
            key = request.header("Idempotency-Key") if name == "mastodon" else None
            found.append((request, self.pid_of.get(id(request)), key in keys and key in server.idempotency))
            if key:
                keys.add(key)
        return found


def test_three_daemons_under_kills_and_a_stop_post_everything_exactly_once(tmp_path, pg_url):
    servers = {"x": x.Server(latency=0.3).start(), "mastodon": mastodon.Server(latency=0.3).start(),
               "facebook": graph.Server(latency=0.3).start()}
    servers["x"].reject_duplicates = False
    nodes = Nodes(tmp_path, pg_url, servers, 3)
    senders = Senders(servers)
    folder_of: dict[int, int] = {}               # pid -> the folder its daemon ran in

    def start(folder: int):
        daemon = nodes.start(folder)
        senders.pids.append(daemon.proc.pid)
        folder_of[daemon.proc.pid] = folder
        return daemon
    seed = int(os.environ.get("CIVICPOST_CHAOS_SEED", time.time()))
    rng = random.Random(seed)
    started = time.monotonic()
    try:
        for n in range(3):
            start(n)
        for daemon in nodes.daemons:
            daemon.wait_for("READY=1", timeout=90)
        first_due = datetime.now(timezone.utc) + timedelta(seconds=5)
        for n in range(ITEMS):
            when = first_due + timedelta(seconds=SPREAD * n / ITEMS)
            nodes.post(f"notice{n:03d}.md", f"publish_at: {when.isoformat()}", text_of(n))
        live = {n: nodes.daemons[n] for n in range(3)}            # folder -> its running daemon
        t0 = time.monotonic()
        kills = mid_post = leader_kills = 0
        stop_at = rng.uniform(0.3, 0.5) * SPREAD
        stopped_folder, stopped_pid, stopped_since = None, 0, 0.0
        stop_wall = cont_wall = lease_end = 0.0     # time.time(), as the servers' Request.at
        next_kill = rng.uniform(4, 10)
        while time.monotonic() - t0 < SPREAD + 5:
            elapsed = time.monotonic() - t0
            if stopped_folder is None and elapsed >= stop_at:
                stopped_folder = sender(nodes, live, None) or rng.choice(list(live))
                os.kill(live[stopped_folder].proc.pid, signal.SIGSTOP)
                stopped_pid, stopped_since, stop_wall = live[stopped_folder].proc.pid, time.monotonic(), time.time()
            if stopped_folder is not None and stopped_since and time.monotonic() - stopped_since > LEASE + 4:
                # Its leases end at its last heartbeat + lease_seconds (by the database's clock,
                # on this machine): the heartbeat renews every lease it holds (schedule/cluster.py).
                beat = nodes.query("SELECT max(heartbeat_at) AS at FROM nodes WHERE pid = ?", [stopped_pid])
                lease_end = float(beat[0]["at"] or stop_wall) + LEASE
                os.kill(stopped_pid, signal.SIGCONT)               # past its lease: it must be fenced
                cont_wall = time.time()
                stopped_since = 0.0
            if elapsed >= next_kill:
                leader = nodes.leader_pid()
                choices = [n for n, d in live.items() if not (stopped_since and n == stopped_folder)]
                # The first kill is the leader's; then every other one aimed at a post under way.
                victim = next((n for n in choices if live[n].proc.pid == leader), None) if not kills else \
                    sender(nodes, live, stopped_folder if stopped_since else None) if kills % 2 else None
                victim = rng.choice(choices) if victim is None else victim
                pid = live[victim].proc.pid
                busy = nodes.query("SELECT count(*) AS n FROM deliveries WHERE state = 'publishing' AND "
                                   "claimed_by LIKE ?", [f"%:{pid}:%"])[0]["n"]
                os.kill(pid, signal.SIGKILL)
                live[victim].proc.wait()
                kills, mid_post = kills + 1, mid_post + bool(busy)
                leader_kills += pid == leader
                time.sleep(rng.uniform(0.5, 2.0))
                live[victim] = start(victim)                        # a new node in the same folder
                next_kill = elapsed + rng.uniform(8, 16)
            time.sleep(0.1)
        rows = nodes.wait(lambda: (r := nodes.rows()) and len(r) == 3 * ITEMS and
                          all(x["state"] in FINAL for x in r) and r, 120, "every delivery to end")
        wall = time.monotonic() - started
        counts = posts_by_text(servers)
        problems = []
        # What the stopped node itself says (its `sent-after-change` alert, its SENT lines) is
        # shown beside a failure, never used to excuse one.
        late = {(r["item"], r["channel"]) for r in nodes.query(
            "SELECT item, channel FROM events WHERE kind = 'sent-after-change' AND actor = 'daemon'")}

        def who_sent(pid: int | None) -> str:
            if pid is None:
                return "a process that had exited before the server read its request (SIGKILLed)"
            return f"node{folder_of[pid]} pid {pid}" + (" (the SIGSTOPped node)" if pid == stopped_pid else "")

        def when(at: float) -> str:
            marks = [("SIGSTOP", stop_wall), ("its lease's end", lease_end), ("SIGCONT", cont_wall)]
            return ", ".join(f"{at - mark:+.2f} s from {label}" for label, mark in marks if mark)

        def second_posts(channel: str, text: str) -> str:
            return "; ".join(f"{'1st' if i == 0 else 'then'} {who_sent(pid)} at {when(r.at)} from port "
                             f"{r.client[1] if r.client else '?'}" + (" (Idempotency-Key replay: no new status)"
                                                                      if replay else "")
                             for i, (r, pid, replay) in enumerate(senders.creates(servers[channel], channel, text)))
        for row in rows:
            n = int(row["item"].removeprefix("notice"))
            posted = counts[row["channel"]].get(text_of(n), 0)
            where = f"{row['item']} on {row['channel']}"
            if posted > 1:
                own = " [the node logged sent-after-change]" if (row["item"], row["channel"]) in late else ""
                problems.append(f"{where}: {row['state']}, {posted} posts on the server: "
                                f"{second_posts(row['channel'], text_of(n))}{own}")
            elif row["state"] == "posted" and posted != 1:
                problems.append(f"{where}: posted, but {posted} post(s) on the server")
            elif row["state"] == "uncertain" and "could not" not in (row["error"] or ""):
                problems.append(f"{where}: uncertain ({row['error']}), {posted} post(s)")
            elif row["state"] not in ("posted", "uncertain"):
                problems.append(f"{where}: {row['state']} ({row['error']})")
        # Each post-making request after SIGCONT by the woken node, shown whatever it was: a
        # delivery it claimed afresh once it rejoined, a replay, or (a failure above) a second post.
        woken = [(name, r) for name, server in servers.items() for r in server.calls("POST")
                 if senders.pid_of.get(id(r)) == stopped_pid and cont_wall and r.at >= cont_wall]
        attributed = sum(pid is not None for pid in senders.pid_of.values())
        extra = {name: sum(c for t, c in texts.items() if t not in {text_of(n) for n in range(ITEMS)})
                 for name, texts in counts.items()}
        remote_ids = [r["remote_id"] for r in rows if r["remote_id"]]
        states = {s: sum(r["state"] == s for r in rows) for s in {r["state"] for r in rows}}
        recovered = nodes.query("SELECT count(DISTINCT delivery_id) AS n FROM events WHERE kind = 'recovered'")[0]["n"]
        fenced = sum(d.output().count("NOT SENT") for d in nodes.daemons)
        print(f"chaos (seed {seed}): {ITEMS} items x 3 channels over {SPREAD:.0f}s; {kills} SIGKILLs ({leader_kills} of "
              f"the leader, {mid_post} mid-post), 1 SIGSTOP past the lease; states {states}; {recovered} deliveries "
              f"recovered by another node; {fenced} send(s) refused by fencing; wall time {wall:.0f}s; "
              f"{attributed} of {len(senders.pid_of)} post-making requests traced to their daemon; the "
              f"stopped node's post-making requests after SIGCONT: {len(woken)}; sent-after-change events: "
              f"{sorted(late) or 'none'}")
        if problems:                         # keep the logs: pytest's temp folders are rotated
            kept = shutil.copytree(tmp_path, f"{tempfile.gettempdir()}/civicpost-chaos-{seed}", dirs_exist_ok=True,
                                   ignore=shutil.ignore_patterns("*.sock"))    # sd_notify sockets cannot be copied
            problems.append(f"logs kept in {kept}")
        assert not problems, "\n".join(problems) + "\n" + nodes.logs()
        assert extra == {"x": 0, "mastodon": 0, "facebook": 0}, extra
        assert len(remote_ids) == len(set(remote_ids))              # no post recorded for two deliveries
        assert kills >= 3 and leader_kills >= 1 and stopped_folder is not None
    finally:
        nodes.stop_all()
        for server in servers.values():
            server.stop()
