"""The rehearsal (`bot.py run --dry-run`) as a real child process (#10 §4): the operator
commands see it, the kill switch stops it, and it plays the next deliveries at once
while their planned times stay as they are."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from bot import cli
from schedule.ledger import Ledger
from tests.test_daemon import ROOT, bot, daemons, fast, rows, soon, wait_state  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow
REHEARSAL = "civicpost.dry-run.db"


@pytest.fixture
def draining():
    """Read the daemon's sd_notify datagrams as systemd would.  The test harness reads them
    only inside wait_for(); a Unix datagram queue holds ~10 (net.unix.max_dgram_qlen), and
    with a rescan every second the daemon's STATUS= sendto() would then block its loop."""
    stop = threading.Event()

    def start(daemon):
        def read() -> None:
            while not stop.is_set():
                try:
                    daemon.messages.extend(daemon.sock.recv(4096).decode().split("\n"))
                except OSError:
                    time.sleep(0.1)
        threading.Thread(target=read, daemon=True).start()
    yield start
    stop.set()


def later(days: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(second=0, microsecond=0).isoformat()


def test_rehearsal_plays_the_next_deliveries_now_and_keeps_their_planned_times(fast, daemons, draining):
    planned = {"first": later(1), "second": later(2), "third": later(7)}
    for name, when in planned.items():
        fast.post(f"{name}.md", f"publish_at: {when}", f"The {name} post.")
    daemon = daemons(fast, "--dry-run", "--play-next", "2")
    daemon.wait_for("READY=1")
    draining(daemon)
    first = wait_state(fast, "first", "posted", timeout=30, db=REHEARSAL)
    second = wait_state(fast, "second", "posted", timeout=30, db=REHEARSAL)
    # Honest times: the ledger keeps the planned time; only when it was played moved.
    assert datetime.fromisoformat(first["planned_at"]) == datetime.fromisoformat(planned["first"])
    assert datetime.fromisoformat(second["planned_at"]) == datetime.fromisoformat(planned["second"])
    assert datetime.fromisoformat(first["posted_at"]) < datetime.fromisoformat(planned["first"])
    time.sleep(2)
    assert rows(fast, REHEARSAL)["third"]["state"] == "scheduled"
    out = daemon.output()
    assert "rehearsal: playing the next 2 deliveries now" in out and "DRY-RUN first on log" in out
    assert "DRY-RUN third" not in out
    assert not (fast.root / "var" / "civicpost.db").exists(), "a rehearsal must not touch the real ledger"
    queued = {r["item"]: r for r in json.loads(bot(fast, "queue", "--dry-run", "--json").stdout)}
    assert queued["first"]["state"] == "posted" and queued["third"]["state"] == "scheduled"
    assert datetime.fromisoformat(queued["first"]["planned_at"]) == datetime.fromisoformat(planned["first"])


def test_the_kill_switch_works_in_a_rehearsal(fast, daemons, draining):
    fast.post("cheerful.md", f"publish_at: {soon(20)}", "The Christmas market is back!")
    daemon = daemons(fast, "--dry-run", "--play-next", "0")
    daemon.wait_for("READY=1")
    draining(daemon)
    seen = bot(fast, "status")
    assert f"A rehearsal (run --dry-run) is running as process {daemon.proc.pid}" in seen.stdout, seen.stdout
    assert json.loads(bot(fast, "status", "--dry-run", "--json").stdout)["running"] is True
    paused = bot(fast, "pause", "--reason", "Practice: major incident")
    assert paused.returncode == 0 and f"rehearsal (process {daemon.proc.pid}) is paused too" in paused.stdout
    held = wait_state(fast, "cheerful", "held", timeout=40, db=REHEARSAL)
    assert held["hold_reason"] == "posting is paused"
    assert "DRY-RUN cheerful" not in daemon.output()
    status = json.loads(bot(fast, "status", "--dry-run", "--json").stdout)
    assert status["paused"] and status["paused_reason"] == "Practice: major incident"
    assert [a["item"] for a in status["attention"]] == ["cheerful"]
    real = bot(fast, "resume", "--yes")                      # lifts the real pause only, and says so
    assert real.returncode == 0 and "rehearsal" in real.stdout and "still paused" in real.stdout, real.stdout
    asked = bot(fast, "resume", "--dry-run")                 # no one to answer: refused, still paused
    assert asked.returncode == 1 and "cheerful" in asked.stdout and "--yes" in asked.stderr
    resumed = bot(fast, "resume", "--dry-run", "--yes")
    assert resumed.returncode == 0 and "1 held delivery(ies) released" in resumed.stdout
    wait_state(fast, "cheerful", "posted", timeout=20, db=REHEARSAL)
    assert daemon.output().count("DRY-RUN cheerful") == 1


def test_pause_dry_run_pauses_only_the_rehearsal(project):
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "pause", "--dry-run", "--reason", "drill"])
    assert result.exit_code == 0 and "The rehearsal is paused" in result.stdout
    config = project.config()
    assert not config.database.exists()
    ledger = Ledger(config.database.with_name("civicpost.dry-run.db"), config.timezone)
    assert ledger.get_meta("paused") == "1" and ledger.get_meta("paused_reason") == "drill"
    ledger.close()


def test_the_readme_rehearsal_shows_posts_within_two_minutes(tmp_path):
    """The README's first command, on the shipped examples: a newcomer sees posts go out
    at once, not a week later."""
    for name in ("config.toml", "content", "templates"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    log = open(tmp_path / "run.log", "w+")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "run", "--dry-run"], cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        while time.monotonic() - started < 120 and "DRY-RUN" not in (tmp_path / "run.log").read_text():
            time.sleep(0.5)
        text = (tmp_path / "run.log").read_text()
        assert "DRY-RUN" in text, text[-3000:]
        assert "rehearsal: playing the next" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
