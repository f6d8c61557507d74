"""A full disk under a running daemon: while the ledger cannot record `publishing`, nothing
is sent and the admin is alerted once; a file deleted meanwhile is not forgotten; when
space comes back, the post goes out exactly once.

The "full disk" is the daemon process's own file-size limit (RLIMIT_FSIZE, set from
outside with prlimit): every write that would grow a file fails, as on a full disk.  The
daemon logs to a pipe, which the limit does not touch."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from schedule.ledger import Ledger
from schedule.operator import status
from tests.helpers import wait_until
from tests.servers import channel_tables, credentials_env, x

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")]


def state(project) -> dict:
    ledger = Ledger(project.root / "var" / "civicpost.db")
    try:
        return {r["item"]: r for r in ledger.deliveries()}
    finally:
        ledger.close()


class World:
    """An X test server, a project posting to it, and `bot.py run` logging to a pipe."""

    def __init__(self, project):
        self.project = project
        self.server = x.Server().start()
        self.log: list[str] = []
        self.proc = None
        project.write_config(channels=channel_tables({"x": self.server.url}), default_channels='["x"]',
                             extra="[content]\nrescan_seconds = 1\n")

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bot.py"), "--config", str(self.project.config_path), "run"],
            env={**os.environ, **credentials_env("x")}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=lambda: self.log.extend(self.proc.stdout), daemon=True).start()
        wait_until(lambda: any("civicpost running" in line for line in self.log), 30, "the daemon to start")

    def disk_full(self, full: bool) -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE, (1 if full else hard, hard))

    def logged(self, text: str) -> list[str]:
        return [line for line in self.log if text in line]

    def tweets_sent(self) -> int:
        return len(self.server.calls("POST", r"^/2/tweets$"))

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.server.stop()


@pytest.fixture
def world(project):
    made = World(project)
    yield made
    made.close()


def test_nothing_is_sent_while_the_ledger_cannot_write_and_it_posts_once_after(world, project):
    planned = datetime.now(timezone.utc) + timedelta(seconds=6)
    project.post("notice.md", f"publish_at: {planned.isoformat()}", "The library closes at 4pm today.")
    later = planned + timedelta(seconds=25)
    project.post("withdrawn.md", f"publish_at: {later.isoformat()}", "This notice is withdrawn.")
    world.start()
    assert state(project)["notice"]["state"] == "scheduled"

    world.disk_full(True)
    time.sleep(2)
    (project.root / "content" / "withdrawn.md").unlink()                 # noticed, but cannot be recorded
    time.sleep(max(0.0, (planned - datetime.now(timezone.utc)).total_seconds()) + 4)
    assert world.proc.poll() is None, "".join(world.log)
    assert world.tweets_sent() == 0                                      # nothing sent...
    assert state(project)["notice"]["state"] == "scheduled"               # ...and nothing lost
    assert world.logged("is the disk full?"), "".join(world.log[-20:])
    assert len(world.logged("ALERT civicpost cannot write its ledger")) == 1   # once, not every second
    assert not world.logged("Traceback")
    # `status` a couple of minutes into such an episode: the process is there, its heartbeat is not.
    seen = status(project.config(), now=datetime.now(timezone.utc) + timedelta(minutes=2))
    assert seen["stalled"] and not seen["running"] and seen["pid"] == world.proc.pid

    world.disk_full(False)
    row = wait_until(lambda: state(project)["notice"]["state"] == "posted" and state(project)["notice"], 30,
                     "the post after space came back")
    # Recorded by the planner as soon as the ledger can be written, well before it would be due.
    wait_until(lambda: state(project)["withdrawn"]["state"] == "cancelled", 8, "the deleted file's cancel")
    assert datetime.now(timezone.utc) < later - timedelta(seconds=5)
    assert world.tweets_sent() == 1                                      # the withdrawn one never went
    assert row["remote_id"] in world.server.tweets
    assert world.logged("can be written again")


def test_a_post_sent_just_before_the_disk_fills_is_recorded_later_and_never_resent(world, project):
    planned = datetime.now(timezone.utc) + timedelta(seconds=5)
    project.post("notice.md", f"publish_at: {planned.isoformat()}", "The library closes at 4pm today.")
    world.start()

    def fill_the_disk(request) -> None:            # while the tweet is on its way
        if request.method == "POST" and request.path == "/2/tweets":
            world.disk_full(True)

    world.server.on_request.append(fill_the_disk)
    wait_until(lambda: world.logged("it is recorded as soon as the ledger can be written"), 30,
               "the post whose record failed")
    world.server.on_request.clear()
    assert state(project)["notice"]["state"] == "publishing"              # the ledger could not say more
    time.sleep(3)
    assert world.tweets_sent() == 1                                       # and nothing was resent

    world.disk_full(False)
    row = wait_until(lambda: state(project)["notice"]["state"] == "posted" and state(project)["notice"], 30,
                     "the record once the ledger can be written")
    assert row["remote_id"] in world.server.tweets and len(world.server.tweets) == 1
    ledger = Ledger(project.root / "var" / "civicpost.db")
    assert [p["remote_id"] for p in ledger.parts(row["id"])] == [row["remote_id"]]     # the part, kept in memory
    ledger.close()
    assert world.logged("recorded delivery")
