"""Several real `bot.py run` daemons on one real PostgreSQL ledger (#12), posting to the real
test servers, with real signals: each delivery is posted exactly once (counted at the
server), a killed node's post is recovered by read-back (never resent), a stopped node past
its lease is fenced, and the leader's death is taken over within seconds.

X has no idempotency key, so a recovery must read the account back
(https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/post-tweets:
POST /2/tweets takes no key); its own duplicate check is switched off so a double post shows.

Who posts what is checked against the sharing-out rule as docs/admin.md states it, written
out here (`rendezvous_owner`), never against schedule/cluster.py's own function.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.ledger.cluster_helpers import FINAL, Nodes
from tests.servers import mastodon, x
from tests.test_daemon import bot

pytestmark = pytest.mark.slow


def due(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def servers():
    started = {"x": x.Server(latency=0.05).start(), "mastodon": mastodon.Server(latency=0.05).start()}
    started["x"].reject_duplicates = False
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def cluster(tmp_path, pg_url, servers):
    made = []

    def build(count: int, only: tuple[str, ...] = ("x", "mastodon")) -> Nodes:
        made.append(Nodes(tmp_path, pg_url, {n: servers[n] for n in only}, count))
        return made[-1]
    yield build
    for nodes in made:
        nodes.stop_all()


def node_pid(node_id: str) -> int:
    return int(node_id.rsplit(":", 2)[1])


def rendezvous_owner(node_ids, delivery_id: int) -> str:
    """Rendezvous (highest random weight) hashing (Thaler & Ravishankar, "Using name-based
    mappings to increase hit rates", IEEE/ACM ToN 1998; https://en.wikipedia.org/wiki/Rendezvous_hashing):
    each node's weight for an object is a hash of the pair, and the heaviest node owns it.
    The weight, as docs/admin.md fixes it so that nodes of two versions agree during a
    rolling upgrade: the 8-byte BLAKE2b digest (RFC 7693) of "<node id>/<delivery id>",
    read as a big-endian number."""
    def weight(node: str) -> int:
        return int.from_bytes(hashlib.blake2b(f"{node}/{delivery_id}".encode(), digest_size=8).digest(), "big")
    return max(node_ids, key=weight)


def shared_out_by_the_rule(nodes, rows: list[dict]) -> None:
    """Each delivery was claimed by exactly one of the running daemons, the one the rule
    names among them (the other only backs it up `backup_seconds` later, and none was that
    late here), and neither took (nearly) all: with 24 deliveries and two nodes a fair
    split is Binomial(24, 1/2), below 4 with probability 3e-4."""
    ours = {d.proc.pid for d in nodes.daemons if d.proc.poll() is None}
    live = sorted(r["node_id"] for r in nodes.query("SELECT node_id, pid FROM nodes WHERE stopped_at IS NULL")
                  if r["pid"] in ours)
    assert len(live) == 2, live
    wrong = [(r["id"], r["claimed_by"], rendezvous_owner(live, r["id"])) for r in rows
             if r["claimed_by"] != rendezvous_owner(live, r["id"])]
    assert not wrong, wrong
    shares = {node: sum(r["claimed_by"] == node for r in rows) for node in live}
    print(f"deliveries per node: {shares}")
    assert min(shares.values()) >= 4, shares


def test_two_daemons_share_one_schedule_and_post_each_delivery_once(cluster, servers):
    nodes = cluster(2)
    for n in range(2):
        nodes.start(n).wait_for("READY=1", timeout=60)
    texts = [f"Notice {n}: the library on Elm Street opens late today." for n in range(12)]
    for n, text in enumerate(texts):
        nodes.post(f"notice{n}.md", f"publish_at: {due(4 + 0.4 * n)}", text)
    rows = nodes.wait(lambda: (r := nodes.rows()) and len(r) == 24 and all(x["state"] in FINAL for x in r) and r,
                      90, "every delivery to end")
    assert {r["state"] for r in rows} == {"posted"}, nodes.logs()
    tweets = [t["text"] for t in servers["x"].tweets.values()]
    toots = [s["content"] for s in servers["mastodon"].statuses.values()]
    assert sorted(tweets) == sorted(texts), nodes.logs()                 # each once: counted at the server
    assert len(toots) == len(texts) and len(servers["mastodon"].calls("POST", r"/api/v1/statuses$")) == 12
    shared_out_by_the_rule(nodes, rows)          # shared out, not raced for

    status = json.loads(bot(nodes.projects[1], "status", "--json").stdout)
    running = [n for n in status["nodes"] if n["state"] == "running"]
    assert {n["pid"] for n in running} == {d.proc.pid for d in nodes.daemons}
    assert sum(n["leader"] for n in running) == 1 and status["running"]

    # An operator command from one node's folder reaches both daemons (LISTEN/NOTIFY).
    assert bot(nodes.projects[0], "pause", "--reason", "Storm").returncode == 0
    nodes.post("later.md", f"publish_at: {due(3)}", "A later notice about the storm.")
    nodes.wait(lambda: [r["state"] for r in nodes.rows() if r["item"] == "later"] == ["held", "held"], 30,
               "the paused deliveries to be held on both channels")
    assert all("later" not in t for t in (t["text"] for t in servers["x"].tweets.values()))


def test_a_node_that_joins_takes_its_share_of_what_was_already_planned(cluster, servers):
    """The first node planned every delivery while it was alone (all its own); the second
    joins before they are due: the first re-times its jobs when it sees it, so each delivery
    is still sent by its owner among the two, not raced for."""
    nodes = cluster(2)
    nodes.start(0).wait_for("READY=1", timeout=60)
    texts = [f"Notice {n}: the leisure centre opens at 7 tomorrow." for n in range(12)]
    for n, text in enumerate(texts):
        nodes.post(f"notice{n}.md", f"publish_at: {due(14 + 0.3 * n)}", text)
    nodes.wait(lambda: len(nodes.rows()) == 24 or None, 30, "the first node to plan everything")
    nodes.start(1).wait_for("READY=1", timeout=60)
    rows = nodes.wait(lambda: (r := nodes.rows()) and all(x["state"] in FINAL for x in r) and r, 90,
                      "every delivery to end")
    assert {r["state"] for r in rows} == {"posted"}, nodes.logs()
    assert sorted(t["text"] for t in servers["x"].tweets.values()) == sorted(texts)
    shared_out_by_the_rule(nodes, rows)


def test_a_killed_nodes_post_is_recovered_by_another_by_read_back_not_resent(cluster, servers):
    nodes = cluster(2, only=("x",))
    for n in range(2):
        nodes.start(n).wait_for("READY=1", timeout=60)
    servers["x"].latency = 1.0
    killed: list[int] = []

    def kill_the_sender(request):
        if request.method == "POST" and request.path == "/2/tweets" and not killed:
            row = nodes.query("SELECT claimed_by FROM deliveries WHERE state = 'publishing'")[0]
            killed.append(node_pid(row["claimed_by"]))
            os.kill(killed[0], signal.SIGKILL)          # mid-call: X makes the post, nobody records it

    servers["x"].on_request.append(kill_the_sender)
    text = "Road closure: Mill Lane is shut on Saturday for resurfacing."
    nodes.post("closure.md", f"publish_at: {due(2)}", text)
    row = nodes.wait(lambda: [r for r in nodes.rows() if r["state"] in FINAL] or None, 60, "the recovery")[0]
    assert killed and row["state"] == "posted", nodes.logs()
    assert [t["text"] for t in servers["x"].tweets.values()] == [text]   # found on the account, not resent
    assert len(servers["x"].calls("POST", r"/2/tweets$")) == 1
    survivor = next(d for d in nodes.daemons if d.proc.pid != killed[0])
    assert node_pid(row["claimed_by"]) == survivor.proc.pid
    events = nodes.query("SELECT kind, reason FROM events WHERE delivery_id = ? ORDER BY id", [row["id"]])
    assert ("recovered", "found on the network after a crash") in [(e["kind"], e["reason"]) for e in events]


def test_a_stopped_node_past_its_lease_is_fenced_and_posts_nothing_more(cluster, servers):
    nodes = cluster(2, only=("x",))
    for n in range(2):
        nodes.start(n).wait_for("READY=1", timeout=60)
    servers["x"].latency = 1.0
    stopped: list[int] = []

    def stop_the_sender(request):
        if request.method == "POST" and request.path == "/2/tweets" and not stopped:
            row = nodes.query("SELECT claimed_by FROM deliveries WHERE state = 'publishing'")[0]
            stopped.append(node_pid(row["claimed_by"]))
            os.kill(stopped[0], signal.SIGSTOP)         # part 1 of 2 is being made; the node freezes

    servers["x"].on_request.append(stop_the_sender)
    first, second = "Bins: collections move a day later next week.", "Check your day at example.gov.uk/bins."
    nodes.post("bins.md", f"publish_at: {due(2)}", f"{first}\n---8<---\n{second}")
    row = nodes.wait(lambda: [r for r in nodes.rows() if r["state"] in FINAL] or None, 60, "the takeover")[0]
    assert stopped and row["state"] == "posted", nodes.logs()
    assert node_pid(row["claimed_by"]) != stopped[0]
    os.kill(stopped[0], signal.SIGCONT)                 # it wakes with part 2 still to send
    frozen = next(d for d in nodes.daemons if d.proc.pid == stopped[0])
    nodes.wait(lambda: "NOT SENT bins on x" in frozen.output(), 20, "the stopped node to refuse to send")
    time.sleep(3)
    texts = sorted(t["text"] for t in servers["x"].tweets.values())
    assert texts == sorted([first, second]), nodes.logs()               # each part exactly once
    assert len(servers["x"].calls("POST", r"/2/tweets$")) == 2
    # Its sessions were ended by the other node; continued, it is a node again (not a second leader).
    nodes.wait(lambda: len([n for n in json.loads(bot(nodes.projects[0], "status", "--json").stdout)["nodes"]
                            if n["state"] == "running"]) == 2, 20, "the continued node to rejoin")
    survivor = next(d for d in nodes.daemons if d.proc.pid != stopped[0])
    assert f":{stopped[0]}:" in survivor.output() and "session(s) ended" in survivor.output()
    leaders = nodes.query("SELECT count(*) AS n FROM nodes WHERE leader = 1 AND stopped_at IS NULL")
    assert leaders[0]["n"] == 1


def test_the_leaders_death_is_taken_over_within_seconds(cluster, servers):
    nodes = cluster(2, only=("x",))
    for n in range(2):
        nodes.start(n).wait_for("READY=1", timeout=60)
    leader = nodes.wait(nodes.leader_pid, 20, "a leader")
    old = nodes.query("SELECT value FROM meta WHERE key = 'replanned_by'")[0]["value"]
    assert node_pid(old) == leader
    killed_at = time.monotonic()
    os.kill(leader, signal.SIGKILL)
    new = nodes.wait(lambda: (v := nodes.query("SELECT value FROM meta WHERE key = 'replanned_by'")[0]["value"])
                     != old and v, 30, "another node to re-plan")
    failover = time.monotonic() - killed_at
    print(f"failover: leader killed -> re-plan by another node in {failover:.1f} s")
    assert failover < 15 and node_pid(new) != leader
    # The new leader plans from content: an item added after the kill is planned and posted.
    nodes.post("after.md", f"publish_at: {due(3)}", "Planned by the new leader after the old one died.")
    row = nodes.wait(lambda: [r for r in nodes.rows() if r["item"] == "after" and r["state"] == "posted"] or None,
                     30, "the new item to be posted")[0]
    assert node_pid(row["claimed_by"]) != leader


def test_a_node_whose_checkout_lags_posts_the_leaders_rendered_variant(cluster, servers):
    """Node 1's checkout has last week's version of the file; the leader (node 0) has the
    edit.  Node 1 posts the delivery, and posts exactly what the leader rendered."""
    nodes = cluster(2, only=("x",))
    leader = nodes.start(0)
    leader.wait_for("READY=1", timeout=60)
    nodes.start(1).wait_for("READY=1", timeout=60)
    when = due(8)
    new = ("Storm update: the seafront road is closed until further notice.", "Updates at example.gov.uk/storm.")
    nodes.post("storm.md", f"publish_at: {when}", f"{new[0]}\n---8<---\n{new[1]}", only=[0])
    nodes.post("storm.md", f"publish_at: {when}", "Storm update: the seafront road is open.", only=[1])
    stored = nodes.wait(lambda: [r for r in nodes.rows() if r["variant"]] or None, 20, "the leader's stored variant")
    assert json.loads(stored[0]["variant"])["parts"] == list(new)
    # The leader is frozen for a moment (less than its lease) while the delivery comes due.
    time.sleep(max(0.0, (datetime.fromisoformat(when) - datetime.now(timezone.utc)).total_seconds() - 1.5))
    os.kill(leader.proc.pid, signal.SIGSTOP)
    try:
        row = nodes.wait(lambda: [r for r in nodes.rows() if r["state"] in FINAL] or None, 20, "the post")[0]
    finally:
        os.kill(leader.proc.pid, signal.SIGCONT)
    assert row["state"] == "posted" and node_pid(row["claimed_by"]) == nodes.daemons[1].proc.pid, nodes.logs()
    assert sorted(t["text"] for t in servers["x"].tweets.values()) == sorted(new)   # the edit, as a thread
    assert json.loads(row["parts_text"]) == list(new)
