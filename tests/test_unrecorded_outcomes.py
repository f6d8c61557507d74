"""Issue 9 §6: a ledger write that fails after the network call never parks the row in
`publishing`.  The outcome (here: a thread whose first part went out and whose second got a
503) is kept in memory with the part, said loudly, and recorded once the ledger can be
written; the thread then finishes from the part that is missing, posting nothing twice.

The full disk is real, as in test_full_disk.py: the daemon's own RLIMIT_FSIZE."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from schedule.ledger import Ledger
from schedule.operator import status
# The same world (X test server, project, daemon with a real RLIMIT_FSIZE) and marks as there.
from tests.servers import channel_tables
from tests.helpers import wait_until
from tests.test_full_disk import pytestmark, state, world  # noqa: F401 - pytestmark, fixture


def test_an_outcome_the_ledger_cannot_record_is_kept_with_its_parts_and_recorded_later(world, project):
    planned = datetime.now(timezone.utc) + timedelta(seconds=5)
    project.post("notice.md", f"publish_at: {planned.isoformat()}",
                 "The library closes at 4pm today.\n---8<---\nIt opens again at 9am tomorrow.")
    # The 503'd part is retried after seconds, not the default half-minute backoff.
    project.write_config(channels=channel_tables({"x": world.server.url}), default_channels='["x"]',
                         extra="[content]\nrescan_seconds = 1\n[schedule]\nretry_base_seconds = 2\n")
    world.start()

    def fill_the_disk(request) -> None:            # while the first part is on its way
        if request.method == "POST" and request.path == "/2/tweets":
            world.disk_full(True)

    world.server.on_request.append(fill_the_disk)
    world.server.inject("5xx", match=r"^POST /2/tweets$", after=1)      # the second part: a 503
    wait_until(lambda: world.logged("kept in memory"), 30, "the outcome the ledger could not take")
    world.server.on_request.clear()
    assert state(project)["notice"]["state"] == "publishing"               # all the ledger could say...
    assert world.logged("ALERT civicpost: delivery")                      # ...but it is said, not silent
    # ...and `status` a couple of minutes on (heartbeat stale) lists it, not only the log.
    seen = status(project.config(), now=datetime.now(timezone.utc) + timedelta(minutes=2))
    assert [(r["item"], r["state"]) for r in seen["attention"]] == [("notice", "publishing")]
    assert "held in its memory" in seen["attention"][0]["error"]
    time.sleep(2)
    assert len(world.server.tweets) == 1

    world.disk_full(False)
    row = wait_until(lambda: state(project)["notice"]["state"] == "posted" and state(project)["notice"], 60,
                     "the thread once the ledger can be written")
    tweets = sorted(world.server.tweets.values(), key=lambda t: int(t["id"]))
    assert [t["text"] for t in tweets] == ["The library closes at 4pm today.", "It opens again at 9am tomorrow."]
    ledger = Ledger(project.root / "var" / "civicpost.db")
    parts = [p["remote_id"] for p in ledger.parts(row["id"])]
    kinds = [e["kind"] for e in ledger.events(row["id"])]
    ledger.close()
    assert parts == [t["id"] for t in tweets]                             # the part held in memory is kept
    assert tweets[1]["in_reply_to_tweet_id"] == tweets[0]["id"]
    assert "ambiguous" in kinds                                            # the 503 was recorded, late
    assert world.logged("now that the ledger can be written")
