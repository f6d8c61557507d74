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
        # A second daemon in the same project gets its own socket and log.
        suffix = "" if not (project.root / "notify.sock").exists() else f"-{len(list(project.root.glob('notify*.sock')))}"
        self.sock_path = project.root / f"notify{suffix}.sock"
        self.log_path = project.root / f"daemon{suffix}.log"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.sock_path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self.log = open(self.log_path, "w+")
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
        return self.log_path.read_text()

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


def test_a_second_daemon_on_the_same_ledger_is_refused(fast, daemons):
    """Issue 9.2 / 10 §5: the second `run` must not plan, recover or post; it names the first's PID."""
    first = daemons(fast)
    first.wait_for("READY=1")
    # An in-flight post of the first daemon (as it is between its two ledger writes).
    ledger = Ledger(fast.root / "var" / "civicpost.db")
    in_flight = ledger.add("inflight", "log", "log", datetime.now(timezone.utc), state="publishing",
                           parts_text='["Bins"]', text="Bins")
    ledger.close()
    second = subprocess.run([sys.executable, str(ROOT / "bot.py"), "--config", str(fast.config_path), "run"],
                            capture_output=True, text=True, timeout=60, cwd=fast.root)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f"PID {first.proc.pid}" in lines[0] and "already running" in lines[0]
    assert rows(fast)["inflight"]["state"] == "publishing"          # not "recovered" by the second
    events = [e["kind"] for e in Ledger(fast.root / "var" / "civicpost.db").events(in_flight)]
    assert events == ["planned"]
    status = json.loads(bot(fast, "status", "--json").stdout)
    assert status["running"] and status["pid"] == first.proc.pid


def test_the_lock_dies_with_a_killed_daemon_and_the_rehearsal_has_its_own(fast, daemons):
    first = daemons(fast)
    first.wait_for("READY=1")
    rehearsal = daemons(fast, "--dry-run")                       # its own ledger, its own lock
    rehearsal.wait_for("READY=1")
    first.proc.kill()                                            # SIGKILL: no clean-up runs
    first.proc.wait()
    again = daemons(fast)
    again.wait_for("READY=1")
    assert again.proc.poll() is None


def test_stopping_leaves_another_process_daemon_pid_alone(fast, daemons):
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    ledger = Ledger(fast.root / "var" / "civicpost.db")
    ledger.set_meta(daemon_pid=os.getpid())                       # as if another process owned the ledger now
    assert daemon.stop() == 0
    assert ledger.get_meta("daemon_pid") == str(os.getpid())
    assert ledger.get_meta("stopped_at")
    ledger.close()


def events_of(project, delivery_id):
    ledger = Ledger(project.root / "var" / "civicpost.db")
    try:
        return ledger.events(delivery_id)
    finally:
        ledger.close()


def test_cancelled_by_the_content_comes_back_when_the_content_asks_again(fast, daemons):
    """Issue 9.3: draft -> undraft, a file briefly gone, a time changed and changed back."""
    later = soon(3600)
    drafted = fast.post("drafted.md", f"publish_at: {later}")
    gone = fast.post("gone.md", f"publish_at: {later}")
    moved = fast.post("moved.md", f"publish_at: {later}")
    kept = fast.post("kept.md", f"publish_at: {later}")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    for name in ("drafted", "gone", "moved", "kept"):
        wait_state(fast, name, "scheduled")
    assert bot(fast, "cancel", str(rows(fast)["kept"]["id"]), "--reason", "Event called off").returncode == 0
    drafted.write_text(f"---\npublish_at: {later}\ndraft: true\n---\nBins go out on Tuesday this week.\n")
    text = gone.read_text()
    gone.unlink()                                       # an editor's delete-and-recreate, a branch switch
    moved.write_text(f"---\npublish_at: {soon(7200)}\n---\nBins go out on Tuesday this week.\n")
    for name in ("drafted", "gone"):
        wait_state(fast, name, "cancelled")
    deadline = time.monotonic() + 20
    ledger = Ledger(fast.root / "var" / "civicpost.db")
    while len(ledger.deliveries(item="moved")) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    drafted.write_text(f"---\npublish_at: {later}\n---\nBins go out on Tuesday this week.\n")
    gone.write_text(text)
    moved.write_text(f"---\npublish_at: {later}\n---\nBins go out on Tuesday this week.\n")
    kept.write_text(f"---\npublish_at: {later}\n---\nEdited after the operator cancelled it.\n")
    for name in ("drafted", "gone"):
        row = wait_state(fast, name, "scheduled")
        assert [e["kind"] for e in events_of(fast, row["id"])][-1] == "replanned"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        states = {r["planned_at"]: r["state"] for r in ledger.deliveries(item="moved")}
        if sorted(states.values()) == ["cancelled", "scheduled"] and states[min(states)] == "scheduled":
            break
        time.sleep(0.2)
    assert states[min(states)] == "scheduled" and states[max(states)] == "cancelled", states
    ledger.close()
    time.sleep(2)
    assert rows(fast)["kept"]["state"] == "cancelled"          # an operator's cancel sticks
    assert daemon.proc.poll() is None


def test_repeats_missed_in_an_outage_are_missed_and_alert_like_one_offs(fast, daemons):
    """Issue 9.5: the daemon was down for two hours; last hours' repeats and a one-off were due."""
    from schedule.content import read_item

    start = (datetime.now(timezone.utc) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    fast.post("hourly.md", f'publish_at: {start.isoformat()}\nrepeat: "0 * * * *"\n'
                           f'until: {(start + timedelta(days=1)).date()}')
    fast.post("oneoff.md", f"publish_at: {(start + timedelta(hours=2)).isoformat()}")
    config = fast.config()
    ledger = Ledger(config.database)            # what the ledger held when the outage began
    outage = [ledger.add(name, "log", "log", start + timedelta(hours=hours), source=f"content/{name}.md",
                         item_digest=read_item(fast.content / f"{name}.md", config).digest)
              for name, hours in (("hourly", 1), ("hourly", 2), ("oneoff", 2))]
    ledger.close()
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ledger = Ledger(config.database)
        states = {(r["item"], r["planned_at"]): r for r in ledger.deliveries() if r["id"] in outage}
        ledger.close()
        if all(r["state"] == "missed" for r in states.values()):
            break
        time.sleep(0.2)
    assert sorted((k[0], r["state"]) for k, r in states.items()) == [
        ("hourly", "missed"), ("hourly", "missed"), ("oneoff", "missed")]
    assert all("changed" not in (r["error"] or "") for r in states.values())
    time.sleep(1)
    assert daemon.output().count("ALERT civicpost: hourly on log missed") == 2
    assert daemon.output().count("ALERT civicpost: oneoff on log missed") == 1


TWO_LOGS = '[channels.log]\nnetwork = "log"\n[channels.archive]\nnetwork = "log"\n'


def test_a_file_with_errors_is_blocked_at_once_and_a_fix_unblocks_it(fast, daemons):
    """Issue 10 §2: blocked when the file lands, one alert per problem (not per channel),
    naming file, line and fix; fixed -> scheduled with no command; then it posts once."""
    fast.write_config(extra="[content]\nrescan_seconds = 1\n", channels=TWO_LOGS, default_channels='["log", "archive"]')
    fast.image("pool.png")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    planned = soon(3600)
    broken = f"publish_at: {planned}\nmedia:\n  - {{path: media/pool.png}}"
    fast.post("pool.md", broken, "The new pool opens on Saturday.")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "ALERT civicpost: pool is blocked" not in daemon.output():
        time.sleep(0.2)
    ledger = Ledger(fast.root / "var" / "civicpost.db")
    states = sorted((r["channel"], r["state"]) for r in ledger.deliveries(item="pool"))
    assert states == [("archive", "blocked"), ("log", "blocked")]
    alerts = [line for line in daemon.output().splitlines() if "ALERT civicpost: pool is blocked" in line]
    assert len(alerts) == 1                                  # one problem, two channels: one alert
    assert "content/pool.md:3: error: media/pool.png has no alt text" in alerts[0] and "alt" in alerts[0] and "archive, log" in alerts[0]
    status = json.loads(bot(fast, "status", "--json").stdout)
    assert sorted(a["state"] for a in status["attention"] if a["item"] == "pool") == ["blocked", "blocked"]
    time.sleep(2)                                            # rescans later: still one alert
    assert daemon.output().count("ALERT civicpost: pool is blocked") == 1
    fast.post("pool.md", f"publish_at: {soon(3)}\nmedia:\n  - {{path: media/pool.png, alt: \"The new pool\"}}",
              "The new pool opens on Saturday.")
    for channel in ("log", "archive"):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = [r for r in ledger.deliveries(item="pool", states=["posted"]) if r["channel"] == channel]
            if found:
                break
            time.sleep(0.2)
        assert found, ledger.deliveries(item="pool")
    blocked_rows = [r for r in ledger.deliveries(item="pool") if r["planned_at"] != found[0]["planned_at"]]
    assert {r["state"] for r in blocked_rows} == {"cancelled"}           # the old time, moved
    ledger.close()
    assert daemon.output().count("POST pool [") == 2


def test_a_blocked_item_reminds_once_before_it_is_due_and_is_never_sent(fast, daemons):
    fast.write_config(extra="[content]\nrescan_seconds = 1\n[schedule]\nblocked_reminder_hours = 1\n")
    fast.image("pool.png")
    fast.post("later.md", f"publish_at: {soon(3 * 3600)}\nmedia: [{{path: media/pool.png}}]")
    fast.post("soon.md", f"publish_at: {soon(1800)}\nmedia: [{{path: media/pool.png}}]")
    fast.post("now.md", f"publish_at: {soon(3)}\nmedia: [{{path: media/pool.png}}]\ngrace_minutes: 0.05")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    wait_state(fast, "now", "missed", timeout=30)
    time.sleep(2)
    out = daemon.output()
    assert out.count("ALERT civicpost: reminder: soon is still blocked") == 1
    assert "reminder: later" not in out
    assert "POST " not in out
    assert rows(fast)["soon"]["state"] == rows(fast)["later"]["state"] == "blocked"
    assert "still had errors" in rows(fast)["now"]["error"]


def test_bad_inputs_are_reported_and_held_and_everything_else_goes_on(fast, daemons):
    """Issue 9.7: each of these stopped the daemon (systemd would restart it into the same crash)."""
    ledger = Ledger(fast.root / "var" / "civicpost.db")
    stranded = ledger.add("old-news", "retired", "mastodon", datetime.now(timezone.utc) - timedelta(minutes=2),
                          state="publishing", parts_text='["Old news"]', text="Old news", attempts=1)
    ledger.close()
    os.symlink("loop.md", fast.content / "loop.md")
    fast.post("forever.md", f"publish_at: {soon(3600)}\ngrace_minutes: .inf")
    fast.post("never.md", f"publish_at: {soon(3600)}\ngrace_minutes: .nan")
    fast.post("ok.md", f"publish_at: {soon(4)}")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    wait_state(fast, "ok", "posted")
    row = rows(fast)["old-news"]
    assert row["id"] == stranded and row["state"] == "uncertain"
    assert "'retired' is no longer in config.toml" in row["error"] and f"retry {stranded}" in row["error"]
    out = daemon.output()
    assert "ALERT civicpost: old-news on retired uncertain" in out
    assert "content/loop.md:1: error: symlink loop" in out
    assert "content/forever.md:3: error: grace_minutes: must be a number of minutes" in out
    assert "content/never.md:3: error: grace_minutes" in out
    assert "forever" not in rows(fast) or rows(fast)["forever"]["state"] == "blocked"
    assert "Traceback" not in out and daemon.proc.poll() is None


def test_a_file_that_cannot_be_read_alerts_once_when_it_lands_and_its_deliveries_wait(fast, daemons):
    """Issue 10 §2 and 9.9: an id like budget#faq (read as a language pair before) and a file
    that cannot be read at all are errors the moment they land, alerted once with the fix;
    the delivery already planned waits (blocked, not cancelled) and comes back when fixed."""
    planned = soon(3600)
    fast.post("faq.md", f"id: budget-faq\npublish_at: {planned}")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    wait_state(fast, "budget-faq", "scheduled")
    fast.post("faq.md", f"id: budget#faq\npublish_at: {planned}")
    row = wait_state(fast, "budget-faq", "blocked")
    assert "use id: budget-faq" in row["error"]
    assert rows(fast)["budget#faq"]["state"] == "blocked"             # never sent under the colliding id
    time.sleep(2)
    out = daemon.output()
    assert out.count("ALERT civicpost: budget") == 1                    # one problem: one alert
    assert "content/faq.md:2: error: id: 'budget#faq' contains '#'" in out
    fast.post("faq.md", f"id: budget-faq\npublish_at: {planned}")
    wait_state(fast, "budget-faq", "scheduled")
    fast.write("faq.md", "---\nid: budget-faq\npublish_at: [unclosed\n---\nBins.\n")
    wait_state(fast, "budget-faq", "blocked")
    time.sleep(2)
    out = daemon.output()
    assert out.count("ALERT civicpost: content/faq.md cannot be read") == 1
    assert out.count("ALERT civicpost: budget") == 1                    # no second alert for the same file
    fast.post("faq.md", f"id: budget-faq\npublish_at: {planned}")
    wait_state(fast, "budget-faq", "scheduled")


def test_a_past_date_on_several_channels_is_one_alert(fast, daemons):
    """Issue 10 §2: alerts are one per item and problem, not one per channel (a past date gave five)."""
    fast.write_config(extra="[content]\nrescan_seconds = 1\n", channels=TWO_LOGS, default_channels='["log", "archive"]')
    fast.post("stale.md", f"publish_at: {soon(-60 * 60)}")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    ledger = Ledger(fast.root / "var" / "civicpost.db")
    assert sorted(r["state"] for r in ledger.deliveries(item="stale")) == ["missed", "missed"]
    ledger.close()
    time.sleep(1)
    alerts = [line for line in daemon.output().splitlines() if "ALERT civicpost: stale on" in line]
    assert len(alerts) == 1 and "(and 1 more channel(s))" in alerts[0]


def test_a_second_file_with_the_same_id_blocks_and_cancels_nothing(fast, daemons):
    planned = soon(3600)
    fast.post("first.md", f"id: budget\npublish_at: {planned}")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    wait_state(fast, "budget", "scheduled")
    second = fast.post("second.md", f"id: budget\npublish_at: {planned}")
    row = wait_state(fast, "budget", "blocked")
    assert "already used by content/first.md" in row["error"]
    second.unlink()
    wait_state(fast, "budget", "scheduled")
    assert [e["to_state"] for e in events_of(fast, row["id"]) if e["to_state"] == "cancelled"] == []


def test_a_post_awaiting_sign_off_is_blocked_with_an_alert_and_goes_out_once_signed(fast, daemons):
    """Issue 10 §2 with `[approval] required`: a file that lands without `approved_by:` is an
    error like any other, so its deliveries are blocked at once with one alert naming the fix
    (not left out of the ledger, where nobody would hear of it), and signing it off in the
    file sends it with no command."""
    fast.write_config(extra="[content]\nrescan_seconds = 1\n[approval]\nrequired = true\n")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    fast.post("fete.md", f"publish_at: {soon(3600)}", "The summer fete is on Saturday.")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "ALERT civicpost: fete is blocked" not in daemon.output():
        time.sleep(0.2)
    alerts = [line for line in daemon.output().splitlines() if "ALERT civicpost: fete is blocked" in line]
    assert len(alerts) == 1 and "approved_by" in alerts[0]
    ledger = Ledger(fast.root / "var" / "civicpost.db")
    assert [r["state"] for r in ledger.deliveries(item="fete")] == ["blocked"]
    fast.post("fete.md", f"publish_at: {soon(3)}\napproved_by: Head of Comms", "The summer fete is on Saturday.")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not ledger.deliveries(item="fete", states=["posted"]):
        time.sleep(0.2)
    assert len(ledger.deliveries(item="fete", states=["posted"])) == 1
    ledger.close()
    assert daemon.output().count("POST fete [") == 1


def left_ambiguous(project, when: datetime, error: str) -> int:
    """A `notice` delivery as the publisher leaves it after an attempt that got no answer
    (read timeout, dropped connection): `retrying`, with an `ambiguous` event.  Its id."""
    from schedule.content import read_item

    notice = project.content / "notice.md"
    config = project.config()
    ledger = Ledger(config.database)
    delivery = ledger.add("notice", "log", "log", when, source="content/notice.md",
                          item_digest=read_item(notice, config).digest)
    ledger.transition(delivery, "publishing", attempts=1, idem_key=f"civicpost-{delivery}")
    ledger.transition(delivery, "retrying", kind="ambiguous", reason="Ambiguous: the post may have been made",
                      next_attempt_at=soon(1800), error=error)
    ledger.close()
    return delivery


def test_a_delivery_that_may_be_live_is_never_silently_cancelled_by_the_content(fast, daemons):
    """Issue 9.1 with 9.3: an attempt got no answer (the post may be live), then the file was
    made a draft.  The planner must not forget it as `cancelled`: it is `uncertain` and alerts."""
    later = datetime.fromisoformat(soon(3600))
    notice = fast.post("notice.md", f"publish_at: {later.isoformat()}")
    delivery = left_ambiguous(fast, later, "read timed out")
    notice.write_text(f"---\npublish_at: {later.isoformat()}\ndraft: true\n---\nBins go out on Tuesday.\n")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    row = wait_state(fast, "notice", "uncertain")
    assert "may be live" in row["error"] and f"bot.py cancel {delivery}" in row["error"]
    time.sleep(1)
    assert "ALERT civicpost: notice on log uncertain" in daemon.output()


def test_a_post_missed_in_an_outage_on_several_channels_is_one_alert(fast, daemons):
    """Issue 10 §2 with 9.5: the daemon was down when a post for three channels was due; the
    publisher marks them missed at start-up: one alert for the item and problem, naming all."""
    from schedule.content import read_item

    three = TWO_LOGS + '[channels.board]\nnetwork = "log"\n'
    fast.write_config(extra="[content]\nrescan_seconds = 1\n[schedule]\ngrace_minutes = 15\n", channels=three,
                      default_channels='["log", "archive", "board"]')
    planned = datetime.fromisoformat(soon(-2 * 60 * 60))
    notice = fast.post("notice.md", f"publish_at: {planned.isoformat()}")
    config = fast.config()
    ledger = Ledger(config.database)            # what the ledger held when the outage began
    for name in ("log", "archive", "board"):
        ledger.add("notice", name, "log", planned, source="content/notice.md",
                   item_digest=read_item(notice, config).digest)
    ledger.close()
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ledger = Ledger(config.database)
        states = sorted(r["state"] for r in ledger.deliveries(item="notice"))
        ledger.close()
        if states == ["missed"] * 3:
            break
        time.sleep(0.2)
    assert states == ["missed"] * 3
    time.sleep(1)
    alerts = [line for line in daemon.output().splitlines() if "ALERT civicpost: notice on" in line]
    assert len(alerts) == 1 and "(and 2 more channel(s))" in alerts[0], alerts


def test_a_delivery_that_may_be_live_is_never_marked_missed_while_its_file_has_errors(fast, daemons):
    """Issue 9.1 with 10 §2: an attempt got no answer (the post may be live), then its file got
    an error and stayed broken past the grace: not `missed` (nothing went out) but `uncertain`."""
    planned = datetime.fromisoformat(soon(-2 * 60 * 60))
    notice = fast.post("notice.md", f"publish_at: {planned.isoformat()}")
    left_ambiguous(fast, planned, "connection dropped")
    notice.write_text(f"---\npublish_at: {planned.isoformat()}\ngrace_minutes: .inf\n---\nBins go out on Tuesday.\n")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    row = wait_state(fast, "notice", "uncertain")
    assert "earlier attempt got no answer" in row["error"] and "check the account by hand" in row["error"]
    time.sleep(1)
    assert "ALERT civicpost: notice on log uncertain" in daemon.output()


def test_a_delivery_that_may_be_live_is_never_marked_missed_when_its_file_is_fixed_late(fast, daemons):
    """As above, but the file is fixed after the grace: unblocked as `uncertain`, not `missed`."""
    planned = datetime.fromisoformat(soon(-2 * 60 * 60))
    fast.post("notice.md", f"publish_at: {planned.isoformat()}")
    delivery = left_ambiguous(fast, planned, "connection dropped")   # ...then the file broke (blocked)
    ledger = Ledger(fast.config().database)
    ledger.transition(delivery, "blocked", actor="planner", reason="content file has an error",
                      hold_reason="content file has an error")
    ledger.close()
    daemon = daemons(fast)                      # ...and the file is fine again now
    daemon.wait_for("READY=1")
    row = wait_state(fast, "notice", "uncertain")
    assert "earlier attempt got no answer" in row["error"]
    assert daemon.proc.poll() is None


def test_a_sign_off_on_the_page_sends_a_blocked_post_and_an_edit_voids_it(fast, daemons):
    """Issue 13 "Sign-off from the page": a sign-off recorded by the web page's own function
    (another process's ledger write, no file change) lets a post blocked for approval go out
    once; a sign-off of an earlier text of the file does not count (it is bound to the digest)."""
    from schedule.content import read_item
    from schedule.signoff import sign_off

    fast.write_config(extra="[content]\nrescan_seconds = 1\n[approval]\nrequired = true\n")
    daemon = daemons(fast)
    daemon.wait_for("READY=1")
    fete = fast.post("fete.md", f"publish_at: {soon(5)}", "The summer fete is on Saturday.")
    wait_state(fast, "fete", "blocked")
    config = fast.config()
    item = read_item(fete, config)
    sign_off(config, item, item.digest, "Head of Comms")
    ledger = Ledger(config.database)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not ledger.deliveries(item="fete", states=["posted"]):
        time.sleep(0.2)
    assert len(ledger.deliveries(item="fete", states=["posted"])) == 1
    # Signed off, then edited: the sign-off no longer covers the text, so it is blocked again and not sent.
    due = soon(15)
    fair = fast.post("fair.md", f"publish_at: {due}", "The craft fair is on Sunday.")
    wait_state(fast, "fair", "blocked")
    signed = read_item(fair, config)
    sign_off(config, signed, signed.digest, "Head of Comms")
    wait_state(fast, "fair", "scheduled")
    fair.write_text(fair.read_text().replace("Sunday", "Monday"))
    row = wait_state(fast, "fair", "blocked")
    assert "approv" in row["error"]
    time.sleep(max(0.0, (datetime.fromisoformat(due) - datetime.now(timezone.utc)).total_seconds()) + 3)
    assert [r["state"] for r in ledger.deliveries(item="fair")] == ["blocked"]
    ledger.close()
    assert daemon.output().count("POST fete [") == 1 and "POST fair [" not in daemon.output()
