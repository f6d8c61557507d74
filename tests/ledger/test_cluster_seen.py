"""A node's first attempt moves to `publishing` from the row its planning read (``Publisher.
seen``, filled by ``Planning.sync_jobs``), with no read before the move (#12's burst), and a
snapshot gone stale changes nothing: the delivery does what a fresh read would have done.

Two nodes in process on a real PostgreSQL 15, the real publisher and the project's X test
server: X has no idempotency key, so a post sent twice shows as two tweets
(https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/post-tweets), and
operator commands are the functions behind `bot.py pause/cancel/release`, on the same
database.  Each stale case runs twice: once with the stale snapshot, once with none (today's
read-then-decide way), and both must end the same.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schedule import operator
from tests.ledger.test_cluster_fast_claim import two_publishers
from tests.ledger.test_hot_path import libpq_trace
from tests.test_delivery import World, servers  # noqa: F401 - the test servers fixture

SOON = datetime.now(timezone.utc) + timedelta(minutes=5)        # due for the publisher (grace 15 min)
LATE = datetime.now(timezone.utc) - timedelta(minutes=20)       # past the grace: `missed` unless released


@pytest.fixture
def two_nodes(project, monkeypatch, servers, pg_url, open_ledger_at):  # noqa: F811
    world = World(project, monkeypatch, servers, extra=f'[database]\nurl = "{pg_url}"\n')
    with two_publishers(world, pg_url, open_ledger_at) as (one, other):
        yield world, one, other


def add(world, publisher, rel: str, text: str, when: datetime = SOON) -> int:
    world.project.post(rel, f"publish_at: {when.isoformat()}\nchannels: [x]", text)
    item = world.item(rel.removesuffix(".md"))
    return publisher.ledger.add(item.id, "x", "x", when, item_digest=item.digest, source=item.rel)


def see(publisher, delivery: int) -> None:
    """What ``sync_jobs`` keeps for a job due soon: the row as read then, with its version."""
    (row,) = publisher.ledger.seen_rows([delivery])
    vars(publisher).setdefault("seen", {})[delivery] = row


def tweets(servers, text: str) -> int:  # noqa: F811
    return sum(t["text"] == text for t in servers["x"].tweets.values())


def creates(servers, *texts: str) -> int:  # noqa: F811
    """Create requests that reached X with one of these texts (a resend refused as a duplicate
    by X's own rule still counts: it was sent)."""
    return sum(r.json().get("text") in texts for r in servers["x"].calls("POST", r"/2/tweets$"))


def statements(trace: list[str]) -> list[str]:
    """The SQL of each statement the client sent, in order (libpq trace: Parse or Query)."""
    return [line for line in trace if "\tParse\t" in line or "\tQuery\t" in line]


def test_a_seen_first_attempt_makes_no_read_before_its_move(two_nodes, servers):  # noqa: F811
    world, first, _ = two_nodes
    text = "Gritters are out tonight on all main routes."
    delivery = add(world, first, "gritting.md", text)
    see(first, delivery)
    states = []
    trace = libpq_trace(first.ledger.db.live(), lambda: states.append(first.run(delivery)))
    assert states == ["posted"] and tweets(servers, text) == 1
    sent = statements(trace)
    assert sent, trace
    # The first statement is the move itself (the claim, the pause and the version in it).
    assert "UPDATE deliveries SET state" in sent[0] and "'paused'" in sent[0] and "xmin" in sent[0], sent[0]
    assert not [s for s in sent if "FROM deliveries WHERE id" in s and "UPDATE" not in s], sent
    assert len(sent) == 2, sent                    # the move, and `posted` with its part
    row = first.ledger.get(delivery)
    assert row["state"] == "posted" and row["claimed_by"] == first.node and row["attempts"] == 1


def _pause(world, publisher, other, delivery):
    operator.pause(world.config, "storm warning: every post held", actor="ops")


def _cancel(world, publisher, other, delivery):
    operator.cancel(world.config, delivery, "wrong date", actor="ops")


def _edit(world, publisher, other, delivery):
    """The file edited and the leader's re-plan recording it (plan_actions.apply_actions)."""
    row = other.ledger.get(delivery)
    world.project.post(f"{row['item']}.md", f"publish_at: {SOON.isoformat()}\nchannels: [x]", EDITED[row["item"]])
    item = world.item(row["item"])
    other.ledger.update(delivery, kind="edited", actor="planner", reason="content file changed",
                        item_digest=item.digest)


def _claimed(world, publisher, other, delivery):
    assert other.cluster.claim(delivery) is not None


def _posted(world, publisher, other, delivery):
    assert other.run(delivery) == "posted"


def _retried(world, publisher, other, delivery):
    world.servers["x"].inject("5xx")
    assert other.run(delivery) == "retrying"
    assert other.ledger.get(delivery)["attempts"] == 1


def _maybe_posted(world, publisher, other, delivery):
    """X created the tweet but the answer was lost: the next attempt must look before it
    resends (network_check), never send as a first attempt would."""
    world.servers["x"].inject("created_then_5xx")
    assert other.run(delivery) == "retrying"
    assert other.ledger.get(delivery)["attempts"] == 1


def _released(world, publisher, other, delivery):
    assert other.run(delivery) == "missed"
    operator.release(world.config, [delivery], "late is fine: still true", actor="ops")


EDITED = {}
# name: (what happens between the snapshot and the job, planned time, the end state, tweets)
CASES = {
    "paused from another node": (_pause, SOON, "held", 0),
    "cancelled by an operator": (_cancel, SOON, "cancelled", 0),
    "edited and re-planned by the leader": (_edit, SOON, "posted", 1),     # the new text, once
    "claimed by another node": (_claimed, SOON, "scheduled", 0),
    "posted by another node": (_posted, SOON, "posted", 1),
    "a failed attempt since (attempts changed)": (_retried, SOON, "posted", 1),
    "an attempt since that may have posted": (_maybe_posted, SOON, "posted", 1),
    "missed, then released by an operator": (_released, LATE, "posted", 1),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_stale_snapshot_does_what_a_fresh_read_does(two_nodes, servers, case):  # noqa: F811
    world, first, second = two_nodes
    change, when, end, posts = CASES[case]
    results = {}
    for way in ("stale snapshot", "fresh read"):
        name = f"{way.split()[0]}-{list(CASES).index(case)}"
        text = f"The {way} notice: the ferry is cancelled today."
        EDITED[name] = f"The {way} notice, edited: the ferry runs at noon."
        delivery = add(world, first, f"{name}.md", text, when)
        if way == "stale snapshot":
            see(first, delivery)
        change(world, first, second, delivery)
        state = first.run(delivery)
        row = first.ledger.get(delivery)
        results[way] = (row["state"], tweets(servers, text) + tweets(servers, EDITED[name]), row["attempts"],
                        creates(servers, text, EDITED[name]))
        assert row["state"] == end, (way, state, row["state"], row["error"])
        assert results[way][1] == posts, (way, servers["x"].tweets)
        if case.startswith("edited"):
            assert tweets(servers, text) == 0 and tweets(servers, EDITED[name]) == 1
        if case == "claimed by another node":
            assert state == "not claimed" and row["claimed_by"] == second.node
        assert delivery not in first.seen             # used (or dropped) by its job, not kept
        operator.resume(world.config, "done", actor="ops") if case.startswith("paused") else None
    assert results["stale snapshot"] == results["fresh read"]
