"""A template edited while the daemon runs takes effect at once: what `bot.py preview`
shows is what the daemon posts (the project's "one truth" rule), and a template that makes
a post too long blocks it, alerted, as an edited content file would; never posted over the
limit.  A real `bot.py run` against the Mastodon test server."""
from __future__ import annotations

import json
import time

import pytest

from schedule.ledger import Ledger
from tests.channels.harness_mastodon import html_to_text
from tests.test_daemon import Daemon, bot, soon, wait_state

pytestmark = pytest.mark.slow
TEXT = "The library reopens on Monday."


@pytest.fixture
def running(on_mastodon, project):
    started = []
    yield lambda: started.append(Daemon(project)) or started[-1]
    for daemon in started:
        daemon.stop()


def preview_text(project) -> str:
    result = bot(project, "preview", "--json")
    (item,) = json.loads(result.stdout)                  # `preview --json`: one dict per item
    (variant,) = item["variants"]
    (part,) = variant["parts"]
    return part["text"]


def test_a_template_edited_while_running_is_what_gets_posted(project, on_mastodon, running):
    project.post("library.md", f"publish_at: {soon(6)}", TEXT)
    daemon = running()
    daemon.wait_for("READY=1")
    wait_state(project, "library", "scheduled")
    # The daemon has planned (and rendered, and gated) the post: now the comms officer edits
    # the template it uses (templates/mastodon.txt.j2, the network's own).
    (project.root / "templates" / "mastodon.txt.j2").write_text("Library news: {{ item.body }}\n")
    shown = preview_text(project)
    assert shown == f"Library news: {TEXT}"             # preview reads the files afresh
    row = wait_state(project, "library", "posted", timeout=30)
    assert [html_to_text(s["content"]) for s in on_mastodon.statuses.values()] == [shown], daemon.output()
    assert row["text"] == shown


def test_a_template_that_makes_the_post_too_long_blocks_it_with_an_alert(project, on_mastodon, running):
    project.post("library.md", f"publish_at: {soon(8)}", TEXT)
    daemon = running()
    daemon.wait_for("READY=1")
    wait_state(project, "library", "scheduled")
    # Mastodon's default limit is 500 characters (docs.joinmastodon.org, "statuses: max_characters";
    # the test server answers 422 over it, as Mastodon does): this template makes 531.
    (project.root / "templates" / "mastodon.txt.j2").write_text("{{ item.body }} " + "x" * 500 + "\n")
    row = wait_state(project, "library", "blocked", timeout=30)
    # 30 characters of body, a space and 500 x's: 531, no URL (Mastodon counts a URL as 23,
    # everything else one per character, docs.joinmastodon.org/user/posting/#text).
    assert "text is 531/500 as mastodon counts" in (row["error"] or ""), row
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "ALERT civicpost: library is blocked" not in daemon.output():
        time.sleep(0.2)
    alert = next(line for line in daemon.output().splitlines() if "ALERT civicpost: library is blocked" in line)
    assert "text is 531/500 as mastodon counts" in alert
    time.sleep(10)                                       # past its time: still nothing posted
    assert on_mastodon.statuses == {}
    assert rows_state(project) == "blocked"


def rows_state(project) -> str:
    ledger = Ledger(project.root / "var" / "civicpost.db")
    try:
        (row,) = ledger.deliveries(item="library")
        return row["state"]
    finally:
        ledger.close()


def test_a_delivery_due_before_the_rescan_is_judged_with_the_edited_template(project, on_mastodon, planned_daemon):
    """The moment between a template edit and the re-plan that re-gates the queue: the
    delivery's own job notices the edit and judges it with the new template, so it is
    blocked (as the re-plan would block it), not sent with the old rendering nor failed.
    In process: the real Daemon and publisher, its job run by hand before any rescan."""
    daemon = planned_daemon
    (row,) = daemon.ledger.deliveries(item="library")
    assert row["state"] == "scheduled"
    (project.root / "templates" / "mastodon.txt.j2").write_text("{{ item.body }} " + "x" * 500 + "\n")
    daemon._run_job(row["id"])
    row = daemon.ledger.get(row["id"])
    assert on_mastodon.statuses == {}, "sent with a template since edited"
    assert row["state"] == "blocked" and "text is 531/500 as mastodon counts" in row["error"], row
