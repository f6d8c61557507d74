"""The daemon, as a real child process, on a PostgreSQL ledger (#12): posts once on time,
and hears operator commands from other processes through LISTEN/NOTIFY."""
from __future__ import annotations

import json
import socket
import time
from zoneinfo import ZoneInfo

import pytest

from schedule.database import open_spec
from tests.test_daemon import bot, daemons, soon  # noqa: F401 - daemons is a fixture

pytestmark = pytest.mark.slow


def pg_rows(url):
    ledger = open_spec(url, ZoneInfo("Europe/London"), readonly=True)
    if ledger is None:
        return {}
    try:
        return {r["item"]: r for r in ledger.deliveries()}
    finally:
        ledger.close()


def drain(daemon) -> None:
    """Read the daemon's sd_notify messages: a full datagram queue (net.unix.max_dgram_qlen)
    would block its sends, as an unread socket never does under systemd."""
    try:
        while True:
            daemon.messages.extend(daemon.sock.recv(4096, socket.MSG_DONTWAIT).decode().split("\n"))
    except (BlockingIOError, TimeoutError):
        pass


def wait_pg_state(url, daemon, item, state, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        drain(daemon)
        row = pg_rows(url).get(item)
        if row and row["state"] == state:
            return row
        time.sleep(0.2)
    raise AssertionError(f"{item} never became {state}: {pg_rows(url).get(item)}\n{daemon.output()}")


@pytest.fixture
def on_postgres(project, pg_url):
    project.write_config(extra=f'[database]\nurl = "{pg_url}"\n[content]\nrescan_seconds = 1\n'
                               "[schedule]\ngrace_minutes = 15\n")
    return project


def test_the_daemon_posts_once_and_obeys_pause_on_postgresql(on_postgres, pg_url, daemons):  # noqa: F811
    on_postgres.post("notice.md", f"publish_at: {soon(4)}", "Bins go out on Tuesday.\n---8<---\nThanks.")
    daemon = daemons(on_postgres)
    daemon.wait_for("READY=1")
    wait_pg_state(pg_url, daemon, "notice", "posted")
    time.sleep(2)                                      # several rescans later: still exactly one post
    assert daemon.output().count("POST notice [log]") == 2

    # An operator command from another process reaches the running daemon (NOTIFY).
    assert bot(on_postgres, "pause", "--reason", "Storm").returncode == 0
    on_postgres.post("later.md", f"publish_at: {soon(2)}")
    held = wait_pg_state(pg_url, daemon, "later", "held")
    assert held["hold_reason"] == "posting is paused"
    status = json.loads(bot(on_postgres, "status", "--json").stdout)
    assert status["running"] and status["paused"] and status["ledger"] == pg_url
    assert "1 held delivery(ies) released" in bot(on_postgres, "resume", "--yes").stdout
    wait_pg_state(pg_url, daemon, "later", "posted")
    drain(daemon)
    assert daemon.stop() == 0
    assert not (on_postgres.root / "var" / "civicpost.db").exists()      # nothing went to SQLite
    history = json.loads(bot(on_postgres, "history", "--json").stdout)
    assert sorted((h["item"], h["state"]) for h in history) == [("later", "posted"), ("notice", "posted")]


def test_a_second_daemon_on_the_same_postgresql_ledger_joins_as_a_node(on_postgres, pg_url, daemons, tmp_path):  # noqa: F811
    """Another host (here: another project folder, its own checkout): PostgreSQL admits it
    as a second node of one schedule (#12), where it was refused before; `status` shows both
    nodes, one of them the leader."""
    from tests.helpers import Project
    from tests.test_daemon import ROOT
    first = daemons(on_postgres)
    first.wait_for("READY=1")
    elsewhere = Project(tmp_path / "other-host", ROOT / "templates")
    elsewhere.write_config(extra=on_postgres.config_path.read_text().split("\n[channels", 1)[0]
                           .split("default_channels = [\"log\"]\n", 1)[1])
    second = daemons(elsewhere)
    second.wait_for("READY=1")
    status = json.loads(bot(on_postgres, "status", "--json").stdout)
    running = [n for n in status["nodes"] if n["state"] == "running"]
    assert len(running) == 2 and sum(n["leader"] for n in running) == 1, status["nodes"]
    assert {n["pid"] for n in running} == {first.proc.pid, second.proc.pid}
    assert status["running"] is True
    text = bot(on_postgres, "status").stdout
    assert all(n["id"] in text for n in running) and "leader" in text
    drain(first)
    drain(second)
    assert first.stop() == 0 and second.stop() == 0
    after = json.loads(bot(on_postgres, "status", "--json").stdout)
    assert not after["running"] and {n["state"] for n in after["nodes"]} == {"stopped"}
