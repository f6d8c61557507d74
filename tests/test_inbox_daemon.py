"""The daemon polls the inbox (#11) on `[inbox] poll_minutes`, in its own thread: a real
`bot.py run` child process, the Mastodon test double, a real reply."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from schedule.inbox import store
from schedule.ledger import Ledger
from tests.helpers import poll
from tests.servers import channel_tables, credentials_env, mastodon

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _wait(what, seconds=20.0):
    return poll(what, seconds)


def test_daemon_reads_replies_and_a_slow_inbox_never_delays_a_post(project):
    server = mastodon.Server().start()
    env = {**os.environ, **credentials_env("mastodon")}
    # poll_minutes = 0.02: every 1.2 s, so the test is quick; the default is 5 minutes.
    project.write_config(channels=channel_tables({"mastodon": server.url}), default_channels='["mastodon"]',
                         extra="[content]\nrescan_seconds = 1\n[inbox]\npoll_minutes = 0.02\n")
    first = (datetime.now(timezone.utc) + timedelta(seconds=3)).isoformat()
    project.post("tip.md", f"title: Tip\npublish_at: {first}", "The tip is open 9am to 5pm.")
    proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "run"],
                            env=env, stdout=open(project.root / "daemon.log", "w"), stderr=subprocess.STDOUT)
    try:
        config = project.config()
        ledger = Ledger(config.database, config.timezone)
        posted = _wait(lambda: [d for d in ledger.deliveries(states=["posted"])])
        assert posted, (project.root / "daemon.log").read_text()
        server.resident_status("Is it open on Sunday too?", posted[0]["remote_id"])
        found = _wait(lambda: store.messages(ledger))
        assert [m["text"] for m in found] == ["Is it open on Sunday too?"], (project.root / "daemon.log").read_text()
        assert found[0]["item"] == posted[0]["item"]

        # Every inbox read now hangs for 8 s; a post due in 3 s must still go out on time.
        server.inject("slow", delay=8.0, match=r"GET /api/v1/(notifications|statuses/\d+/context)", times=50)
        due = datetime.now(timezone.utc) + timedelta(seconds=3)
        project.post("pool.md", f"title: Pool\npublish_at: {due.isoformat()}", "The pool reopens on Monday.")
        out = _wait(lambda: [d for d in ledger.deliveries(states=["posted"]) if d["item"] == "pool"], 12)
        assert out, (project.root / "daemon.log").read_text()
        late = datetime.fromisoformat(out[0]["posted_at"]) - due
        assert late < timedelta(seconds=5), late
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        server.stop()


def test_inbox_reply_goes_out_once_as_a_native_reply_and_answers_the_message(project):
    from click.testing import CliRunner

    from bot import cli

    server = mastodon.Server().start()
    env = {**os.environ, **credentials_env("mastodon")}
    project.write_config(channels=channel_tables({"mastodon": server.url}), default_channels='["mastodon"]',
                         extra="[content]\nrescan_seconds = 1\n[inbox]\npoll_minutes = 0.02\n")
    question = server.resident_status("@council is the library open on Sunday?")
    proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "run"],
                            env=env, stdout=open(project.root / "daemon.log", "w"), stderr=subprocess.STDOUT)
    try:
        config = project.config()
        ledger = Ledger(config.database, config.timezone)
        [message] = _wait(lambda: store.messages(ledger)) or [None]
        assert message, (project.root / "daemon.log").read_text()
        written = CliRunner().invoke(cli, ["--config", str(project.config_path), "inbox", "reply",
                                           str(message["id"]), "--text", "Yes, 10am to 4pm on Sundays."])
        assert written.exit_code == 0, written.output
        answered = _wait(lambda: store.message(ledger, message["id"])["state"] == "answered")
        assert answered, (project.root / "daemon.log").read_text()
        replies = [s for s in server.statuses.values() if "10am to 4pm" in s["content"]]
        assert len(replies) == 1 and replies[0]["in_reply_to_id"] == question["id"]
        [delivery] = ledger.deliveries(states=["posted"])
        assert delivery["remote_id"] == replies[0]["id"] and delivery["item"].startswith("reply-mastodon-")
        row = store.message(ledger, message["id"])
        assert row["answered_by"] == replies[0]["id"] and row["first_response_seconds"] is not None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        server.stop()
