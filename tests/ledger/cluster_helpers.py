"""Several real `bot.py run` daemons on one real PostgreSQL ledger, each with its own project
folder (its own checkout), posting to the real test servers (#12).  Shared by
tests/ledger/test_cluster_daemons.py and tests/test_chaos.py."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from schedule.database import open_spec
from tests.helpers import Project
from tests.servers import channel_tables, credentials_env
from tests.test_daemon import Daemon

ROOT = Path(__file__).resolve().parent.parent.parent
TZ = ZoneInfo("Europe/London")
FINAL = {"posted", "failed", "uncertain", "missed", "cancelled"}
# Short leases so the tests take seconds: send_margin_seconds + 2 heartbeats < lease_seconds.
# (A network call must end within the margin: the daemon caps its request timeout at 80% of it,
# 4.8 s here, which a loaded CI machine still meets.)
CLUSTER = "[cluster]\nlease_seconds = 10\nheartbeat_seconds = 1\nsend_margin_seconds = 6\n"
# In-process nodes (schedule.cluster.Cluster on a ledger of the test's own): leases of seconds.
SHORT = {"lease_seconds": 3, "heartbeat_seconds": 0.5, "send_margin_seconds": 1}


class FakeConfig:
    """Only what Cluster reads: the [cluster] table (a real Config needs a project folder)."""

    def __init__(self, **cluster):
        self.raw = {"cluster": cluster}
        self.path = "config.toml"

    def section(self, name):
        return self.raw.get(name, {})


def register(cluster) -> None:
    """An in-process node's row in `nodes`, as a daemon's start writes it (the test then
    beats by hand: no heartbeat thread)."""
    cluster._sql("INSERT INTO nodes (node_id, host, pid, token) VALUES (%s, %s, 1, %s)",
                 [cluster.node_id, cluster.host, cluster.token])


class Nodes:
    """N project folders with the same config and content; a daemon per folder."""

    def __init__(self, tmp_path: Path, url: str, servers: dict, count: int, extra: str = ""):
        self.url, self.servers = url, servers
        self.projects = [Project(tmp_path / f"node{n}", ROOT / "templates") for n in range(count)]
        for project in self.projects:
            project.write_config(
                channels=channel_tables({name: server.url for name, server in servers.items()}),
                default_channels="[" + ", ".join(f'"{n}"' for n in servers) + "]",
                extra=f'[database]\nurl = "{url}"\n[content]\nrescan_seconds = 1\n[schedule]\ngrace_minutes = 15\n'
                      f"retry_base_seconds = 0.5\nretry_max_seconds = 2\n{CLUSTER}{extra}")
        self.env = credentials_env(*servers)
        self.daemons: list[Daemon] = []

    def post(self, rel: str, front: str, body: str, only: list[int] | None = None) -> None:
        for n, project in enumerate(self.projects):
            if only is None or n in only:
                project.post(rel, front, body)

    def start(self, n: int) -> Daemon:
        daemon = Daemon(self.projects[n], env=self.env)
        self.daemons.append(daemon)
        return daemon

    def stop_all(self) -> None:
        for daemon in self.daemons:
            if daemon.proc.poll() is None:
                os.kill(daemon.proc.pid, signal.SIGCONT)
                daemon.proc.send_signal(signal.SIGKILL)
                daemon.proc.wait()
            daemon.sock.close()

    def ledger(self):
        return open_spec(self.url, TZ, readonly=True)

    def rows(self) -> list[dict]:
        ledger = self.ledger()
        if ledger is None:
            return []
        try:
            return ledger.deliveries()
        finally:
            ledger.close()

    def query(self, sql: str, args=()) -> list[dict]:
        ledger = self.ledger()
        try:
            return ledger._query(sql, args)
        finally:
            ledger.close()

    def wait(self, check, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for daemon in self.daemons:
                drain(daemon)
            found = check()
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n" + self.logs())

    def logs(self) -> str:
        return "\n".join(f"--- {d.log_path} (pid {d.proc.pid}) ---\n{d.output()[-6000:]}" for d in self.daemons)

    def leader_pid(self) -> int | None:
        rows = self.query("SELECT pid FROM nodes WHERE leader = 1 AND stopped_at IS NULL AND heartbeat_at > "
                          "extract(epoch FROM clock_timestamp()) - 10")
        return rows[0]["pid"] if rows else None


def drain(daemon) -> None:
    """Read sd_notify messages: an unread datagram queue would block the daemon's sends."""
    import socket
    try:
        while True:
            daemon.messages.extend(daemon.sock.recv(4096, socket.MSG_DONTWAIT).decode().split("\n"))
    except (BlockingIOError, TimeoutError, OSError):
        pass


def pid_of_client(port: int, pids: list[int]) -> int | None:
    """The process (of ``pids``) holding the TCP socket whose local port is ``port``: the
    kernel's socket table and each process's descriptors (/proc/net/tcp and /proc/PID/fd,
    proc(5)), read while the connection is open.  Which node made a request, by the
    server's record (its client port), not by any node's own log."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return pid
        except OSError:
            continue
    return None


def posts_by_text(servers: dict) -> dict[str, dict[str, int]]:
    """Per network, how many posts each text has on the test server (what residents see)."""
    from tests.channels.harness_mastodon import html_to_text
    counts: dict[str, dict[str, int]] = {}
    for name, server in servers.items():
        if name == "x":
            texts = [t["text"] for t in server.tweets.values()]
        elif name == "mastodon":
            texts = [html_to_text(s["content"]) for s in server.statuses.values()]
        else:
            texts = [o.get("message", "") for o in server.objects.values() if o["kind"] == "post"]
        counts[name] = {}
        for text in texts:
            counts[name][text] = counts[name].get(text, 0) + 1
    return counts


def fete_daemon(project, pg_url):
    """An in-process Daemon on the PostgreSQL ledger with a long lease (the test beats by
    hand) and one post three days ahead: the two deposed-leader tests start from it."""
    from datetime import datetime, timedelta, timezone

    from schedule.daemon import Daemon
    project.write_config(extra=f'[database]\nurl = "{pg_url}"\n[cluster]\nlease_seconds = 60\n'
                               "heartbeat_seconds = 10\nsend_margin_seconds = 35\n")
    project.post("fete.md", f"publish_at: {(datetime.now(timezone.utc) + timedelta(days=3)).isoformat()}",
                 "The summer fete is on the green on Saturday.")
    return Daemon(project.config_path)
