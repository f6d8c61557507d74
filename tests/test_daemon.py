"""The daemon as a real child process: on time, exactly once, signals, sd_notify, operator commands."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from schedule.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def soon(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).replace(microsecond=0).isoformat()


class Daemon:
    """`python bot.py run` in a child process with a real NOTIFY_SOCKET."""

    def __init__(self, project, *args: str, env: dict | None = None):
        self.project = project
        self.sock_path = project.root / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.sock_path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self.log = open(project.root / "daemon.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "run", *args],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=project.root,
            env={**os.environ, "NOTIFY_SOCKET": str(self.sock_path), **(env or {})})

    def wait_for(self, prefix: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if message.startswith(prefix):
                    return message
            try:
                self.messages.extend(self.sock.recv(4096).decode().split("\n"))
            except socket.timeout:
                if self.proc.poll() is not None:
                    break
        raise AssertionError(f"no {prefix!r} from the daemon; got {self.messages}; log:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.project.root / "daemon.log").read_text()

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
        try:
            while True:
                self.messages.extend(self.sock.recv(4096).decode().split("\n"))
        except OSError:
            pass
        self.sock.close()
        return self.proc.returncode


@pytest.fixture
def fast(project):
    project.write_config(extra="[content]\nrescan_seconds = 1\n[schedule]\ngrace_minutes = 15\n")
    return project


@pytest.fixture
def daemons():
    started = []
    yield lambda *a, **k: started.append(Daemon(*a, **k)) or started[-1]
    for daemon in started:
        daemon.stop(signal.SIGKILL)


def bot(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), *args],
                          capture_output=True, text=True, timeout=60)


def rows(project, db="civicpost.db"):
    ledger = Ledger(project.root / "var" / db)
    try:
        return {r["item"]: r for r in ledger.deliveries()}
    finally:
        ledger.close()


def wait_state(project, item, state, timeout=20, db="civicpost.db"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = rows(project, db).get(item)
        if row and row["state"] == state:
            return row
        time.sleep(0.2)
    raise AssertionError(f"{item} never became {state}: {rows(project, db).get(item)}")


def test_posts_once_on_time_and_notifies_systemd(fast, daemons):
    planned = soon(4)
    fast.post("notice.md", f"publish_at: {planned}", "Bins go out on Tuesday.\n---8<---\nThanks.")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    assert "next: notice on log" in daemon.wait_for("STATUS=")
    row = wait_state(fast, "notice", "posted")
    assert "next: notice on log" in daemon.output()          # the start-up log line says what comes next
    lateness = datetime.fromisoformat(row["posted_at"]) - datetime.fromisoformat(planned)
    assert timedelta(0) <= lateness < timedelta(seconds=3)
    time.sleep(2)                                      # several rescans later: still exactly one post
    assert daemon.output().count("POST notice [log]") == 2      # two thread parts, once each
    assert daemon.stop() == 0
    assert "STOPPING=1" in daemon.messages
    history = json.loads(bot(fast, "history", "--json").stdout)
    assert [(h["item"], h["state"], len(h["parts"])) for h in history] == [("notice", "posted", 2)]


def test_dry_run_uses_its_own_ledger(fast, daemons):
    fast.post("notice.md", f"publish_at: {soon(2)}")
    daemon = daemons(fast, "--dry-run")
    daemon.wait_for("READY=1")
    row = wait_state(fast, "notice", "posted", db="civicpost.dry-run.db")
    assert row["dry_run"] == 1 and row["remote_id"].startswith("dry-run:")
    assert "DRY-RUN notice on log" in daemon.output() and "POST notice" not in daemon.output()
    daemon.stop()
    assert not (fast.root / "var" / "civicpost.db").exists() or rows(fast) == {}
    assert json.loads(bot(fast, "history", "--json").stdout) == []
    assert len(json.loads(bot(fast, "history", "--json", "--dry-run").stdout)) == 1


def test_late_start_posts_within_grace_and_marks_older_missed(fast, daemons):
    fast.post("recent.md", f"publish_at: {soon(-5 * 60)}")
    fast.post("stale.md", f"publish_at: {soon(-60 * 60)}")
    fast.post("own-grace.md", f"publish_at: {soon(-60 * 60)}\ngrace_minutes: 120")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    wait_state(fast, "recent", "posted")
    wait_state(fast, "own-grace", "posted")
    stale = wait_state(fast, "stale", "missed")
    assert "already passed" in stale["error"]
    assert "ALERT civicpost: stale on log missed" in daemon.output()
    assert "POST stale" not in daemon.output()


def test_edits_and_deletes_are_followed(fast, daemons):
    moved = fast.post("moved.md", f"publish_at: {soon(3600)}")
    gone = fast.post("gone.md", f"publish_at: {soon(3600)}")
    fast.post("posted.md", f"publish_at: {soon(2)}", "Original text.")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    wait_state(fast, "posted", "posted")
    first = rows(fast)["moved"]["planned_at"]
    moved.write_text(f"---\npublish_at: {soon(7200)}\n---\nMoved.\n")
    gone.unlink()
    fast.post("posted.md", f"publish_at: {rows(fast)['posted']['planned_at']}", "Edited after it went out.")
    time.sleep(3)
    ledger = Ledger(fast.root / "var" / "civicpost.db")
    states = {(r["item"], r["planned_at"]): r["state"] for r in ledger.deliveries()}
    assert states[("moved", first)] == "cancelled"
    assert sorted(s for (i, _), s in states.items() if i == "moved") == ["cancelled", "scheduled"]
    assert states[next(k for k in states if k[0] == "gone")] == "cancelled"
    kinds = [e["kind"] for e in ledger.events()]
    assert "edited-after-posting" in kinds
    assert daemon.output().count("POST posted [log]") == 1


def test_pause_holds_and_resume_releases(fast, daemons):
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    result = bot(fast, "pause", "--reason", "National mourning")
    assert result.returncode == 0 and "Paused by" in result.stdout
    fast.post("notice.md", f"publish_at: {soon(2)}")
    held = wait_state(fast, "notice", "held")
    assert held["hold_reason"] == "posting is paused"
    status = json.loads(bot(fast, "status", "--json").stdout)
    assert status["running"] and status["paused"] and status["paused_reason"] == "National mourning"
    assert [a["item"] for a in status["attention"]] == ["notice"]
    resumed = bot(fast, "resume", "--yes")
    assert "1 held delivery(ies) released" in resumed.stdout
    wait_state(fast, "notice", "posted")
    events = Ledger(fast.root / "var" / "civicpost.db").events()
    assert {e["kind"] for e in events} >= {"paused", "resumed"}
    assert all(e["actor"] for e in events if e["kind"] in ("paused", "resumed"))


def test_blackout_holds_unless_the_tag_is_allowed(fast, daemons):
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    fast.write_config(extra=f"[content]\nrescan_seconds = 1\n[[blackout]]\nstart = {start:%Y-%m-%dT%H:%M:%SZ}\n"
                            f"end = {start + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}\nreason = \"Pre-election period\"\n"
                            "allow_tags = [\"ElectionInfo\"]\n")
    fast.post("news.md", f"publish_at: {soon(2)}")
    fast.post("polling.md", f"publish_at: {soon(2)}\ntags: [ElectionInfo]")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    wait_state(fast, "polling", "posted")
    assert "Pre-election" in wait_state(fast, "news", "held")["hold_reason"]


def test_sighup_reloads_and_bad_config_is_refused(fast, daemons):
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    fast.config_path.write_text("this is not toml =")
    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(2)
    assert "reload refused" in daemon.output() and daemon.proc.poll() is None
    fast.write_config(extra="[content]\nrescan_seconds = 1\n")
    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(2)
    assert "config reloaded" in daemon.output()
    assert daemon.stop() == 0


def test_watchdog_pings_while_the_scheduler_runs(fast, daemons):
    daemon = daemons(fast, env={"WATCHDOG_USEC": "2000000"})
    daemon.wait_for("READY=1")
    daemon.wait_for("WATCHDOG=1", timeout=5)


def test_operator_commands_while_running(fast, daemons):
    fast.post("one.md", f"publish_at: {soon(3600)}")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    delivery = rows(fast)["one"]["id"]
    result = bot(fast, "cancel", str(delivery), "--reason", "Event postponed")
    assert result.returncode == 0 and f"cancelled {delivery}" in result.stdout
    assert rows(fast)["one"]["state"] == "cancelled"
    again = bot(fast, "cancel", str(delivery))
    assert again.returncode == 1 and again.stderr.startswith("error: delivery") and "Traceback" not in again.stderr
    event = [e for e in Ledger(fast.root / "var" / "civicpost.db").events(delivery) if e["kind"] == "cancelled"][0]
    assert event["reason"] == "Event postponed" and event["actor"]


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "Priya Shah", "GIT_AUTHOR_EMAIL": "priya@example.gov.uk",
                               "GIT_COMMITTER_NAME": "Priya Shah", "GIT_COMMITTER_EMAIL": "priya@example.gov.uk"}
                          ).stdout


def test_git_pull_brings_new_items_and_records_commit_and_author(fast, daemons, tmp_path):
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    (upstream / "first.md").write_text(f"---\npublish_at: {soon(3600)}\n---\nFirst.\n")
    git(upstream, "add", ".")
    git(upstream, "commit", "-qm", "first")
    import shutil
    shutil.rmtree(fast.content)
    git(tmp_path, "clone", "-q", str(upstream), str(fast.content))
    fast.write_config(extra="[content]\nrescan_seconds = 1\ngit_pull = true\n")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    first = wait_state(fast, "first", "scheduled")
    assert first["commit_sha"] == git(upstream, "rev-parse", "HEAD").strip()
    assert first["author"] == "Priya Shah <priya@example.gov.uk>"
    (upstream / "second.md").write_text(f"---\npublish_at: {soon(3600)}\n---\nSecond.\n")
    git(upstream, "add", ".")
    git(upstream, "commit", "-qm", "second")
    assert wait_state(fast, "second", "scheduled")["commit_sha"] == git(upstream, "rev-parse", "HEAD").strip()
    shutil.rmtree(upstream)                            # the remote goes away: alert once, keep going
    time.sleep(4)
    assert daemon.output().count("ALERT civicpost: git pull failed") == 1
    assert daemon.proc.poll() is None
