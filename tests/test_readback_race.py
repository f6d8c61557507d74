"""A read-back (after a crash or an ambiguous failure) racing another delivery's post.

The weekly bin reminder says the same thing every week and on every item, so on X (no
idempotency keys) a delivery that may have posted before a crash finds "its" post by
text, time and the ledger.  Another delivery of the same text, posting at that very
moment in another worker, makes a post the ledger does not hold yet: the read-back must
never take it, or two rows hold one tweet and one delivery is recorded `posted` with no
post of its own (found by tests/test_crash.py, which failed once that way).
"""
from __future__ import annotations

import json
import re
import threading

from tests.test_delivery import BIN_TEXT, NOW, World, crashed_in_publishing, servers, world  # noqa: F401 (fixtures)


def test_a_read_back_never_takes_a_post_another_delivery_is_making_meanwhile(project, monkeypatch):
    from tests.servers import x

    server = x.Server().start()
    try:
        server.reject_duplicates = False          # a double post must show, not be refused
        world = World(project, monkeypatch, {"x": server})
        recovered = world.plan("bins.md", BIN_TEXT, NOW, "x")
        other = world.plan("bins-again.md", BIN_TEXT, NOW, "x")
        crashed_in_publishing(world, recovered, BIN_TEXT)          # died before its request went out
        assert world.publisher.recover(world.state(recovered)) == "retrying"
        assert not server.tweets

        # The other delivery posts exactly while the recovered one reads X's timeline: its
        # tweet is made (and recorded) after the read-back began and before X answers it.
        other_states: list[str] = []
        other_done = threading.Event()

        def other_posts_now(request) -> None:
            if request.method == "GET" and re.match(r"^/2/users/\d+/tweets$", request.path) and not other_done.is_set() \
                    and not other_states:
                other_states.append("started")
                worker = threading.Thread(target=lambda: (other_states.append(world.publisher.run(other)),
                                                          other_done.set()))
                worker.start()
                other_done.wait(2)               # a correct read-back holds the other post back: it waits

        server.on_request.append(other_posts_now)
        assert world.publisher.run(recovered) == "posted"
        assert other_done.wait(10), "the other delivery never finished"
        server.on_request.remove(other_posts_now)

        ids = {d: world.state(d)["remote_id"] for d in (recovered, other)}
        assert other_states[-1] == "posted", other_states
        assert ids[recovered] != ids[other], f"one tweet recorded for both deliveries: {ids}"
        assert set(ids.values()) == set(server.tweets), (ids, list(server.tweets))
        assert len(server.tweets) == 2            # one each: nothing lost, nothing posted twice
    finally:
        server.stop()


def test_a_post_that_two_different_deliveries_may_have_made_is_uncertain_not_taken(world, servers):
    """Two threads start with the same words and end differently; the process died with both
    in `publishing`, after the second one's first tweet went out.  That tweet may be either
    one's: the first cannot take it (it would be recorded `posted` without a post of its
    own, and its second part would hang under the other's first), so it is `uncertain`; the
    second, whose first part it could be, takes it and finishes its own thread."""
    servers["x"].reject_duplicates = False
    first = world.plan("bins.md", f"{BIN_TEXT}\n---8<---\nCheck which bin goes out this week on our website.",
                       NOW, "x")
    second = world.plan("garden.md", f"{BIN_TEXT}\n---8<---\nGarden waste goes out for the last time this year.",
                        NOW, "x")
    for delivery, last in ((first, "Check which bin goes out this week on our website."),
                           (second, "Garden waste goes out for the last time this year.")):
        world.ledger.transition(delivery, "publishing", attempts=1, parts_text=json.dumps([BIN_TEXT, last]),
                                media="[]", idem_key=f"civicpost-{delivery}", retry_until="2999-01-01T00:00:00+00:00")
    channel = world.renderer.channel("x")
    variant = world.publisher.recorded_variant(world.state(second), channel, None)
    made = channel.post_part(variant, 0, variant.parts[0], None, None, "k")    # the second's, then the kill

    assert world.publisher.recover(world.state(first)) == "uncertain"
    assert world.state(first)["remote_id"] is None and not world.ledger.parts(first)
    assert "cannot be told" in world.state(first)["error"]
    assert world.publisher.recover(world.state(second)) == "retrying"          # 1 of 2 parts found
    assert [p["remote_id"] for p in world.ledger.parts(second)] == [made.remote_id]
    assert world.publisher.run(second) == "posted"
    tweets = servers["x"].tweets
    assert len(tweets) == 2 and tweets[world.ledger.parts(second)[1]["remote_id"]]["in_reply_to_tweet_id"] == \
        made.remote_id
