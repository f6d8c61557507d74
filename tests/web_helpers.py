"""The web page under test: a real `bot.py serve` child process on 127.0.0.1, real HTTP.

`WebSite` builds a project (content, ledger rows in several states, `[web]` config),
starts the server, waits for its port and stops it with SIGTERM.  `http()` talks to it
with http.client from a chosen source address, so "the trusted proxy" (127.0.0.2) and
"someone else on the network" (127.0.0.1) are real, different peers.
"""
from __future__ import annotations

import html
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-web-secret-" + "0123456789abcdef" * 2
PROXY = "127.0.0.2"
OUTSIDER = "127.0.0.1"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Reply:
    status: int
    headers: dict
    body: str

    def text(self) -> str:
        """The page's words, tags removed and entities decoded (what a reader sees)."""
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", self.body)).split())

    def token(self) -> str:
        match = re.search(r'name="form_token" value="([^"]+)"', self.body)
        assert match, self.body[:2000]
        return match.group(1)


def local(naive: str) -> datetime:
    from zoneinfo import ZoneInfo
    return datetime.fromisoformat(naive).replace(tzinfo=ZoneInfo("Europe/London"))


class WebSite:
    def __init__(self, project, trusted: str = PROXY, extra_web: str = ""):
        self.project = project
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        soon = (datetime.now(timezone.utc) + timedelta(hours=3)).astimezone(local("2030-01-01").tzinfo)
        self.soon = soon.replace(second=0, microsecond=0)
        project.image("pool.png")
        project.post("pool.md", f"id: pool\ntitle: Pool opens\npublish_at: {self.soon:%Y-%m-%dT%H:%M}\n"
                     "channels: [log, x]\napproved_by: Tom Hughes\nmedia:\n  - path: media/pool.png\n"
                     "    alt: The new pool with six lanes",
                     "The pool opens on Monday. Book at https://www.example.gov.uk/pool/booking")
        project.post("summer.md", "id: summer\ntitle: Summer fair\npublish_at: 2030-07-01T10:00\napproved_by: Tom Hughes",
                     "The summer fair is on the green.")
        project.post("winter.md", "id: winter\ntitle: Winter fair\npublish_at: 2030-01-15T10:00\napproved_by: Tom Hughes",
                     "The winter fair is in the hall.")
        project.write_config(extra=(
            "[approval]\nrequired = false\n"
            "[[blackout]]\nstart = 2030-04-12T00:00:00\nend = 2030-05-07T22:00:00\nreason = \"Pre-election period\"\n"
            f"[web]\nlisten = \"127.0.0.1:{self.port}\"\nuser_header = \"X-Remote-User\"\n"
            f"trusted_proxies = [\"{trusted}\"]\n{extra_web}\n"
            "[web.roles]\nadmin = [\"alice\"]\nviewer = [\"bob\"]\napprover = [\"carol\"]\n"),
            channels='[channels.log]\nnetwork = "log"\n[channels.x]\nnetwork = "x"\n')
        self.config = project.config()
        self.ids = self._ledger_rows()
        self.process: subprocess.Popen | None = None

    def _ledger_rows(self) -> dict[str, int]:
        """Deliveries in the states the Now page must show, written the daemon's way."""
        from schedule.ledger import Ledger

        ledger = Ledger(self.config.database, self.config.timezone)
        now = datetime.now(timezone.utc)
        held = ledger.add("pool", "log", "log", now - timedelta(minutes=5), commit_sha="0123abcd" * 5,
                          author="Priya Shah <priya@example.gov.uk>", approved_by="Tom Hughes", source="pool.md")
        ledger.transition(held, "held", reason="paused by operator", hold_reason="paused")
        failed = ledger.add("pool", "x", "x", now - timedelta(hours=1), source="pool.md")
        ledger.transition(failed, "failed", reason="network refused it", error="403 duplicate content")
        posted = ledger.add("winter", "log", "log", local("2030-01-15T10:00"), source="winter.md",
                            commit_sha="feedbeef" * 5, author="Priya Shah")
        ledger.transition(posted, "publishing")
        ledger.record_part(posted, 0, "log-1", "https://social.example/posts/1")
        ledger.transition(posted, "posted", remote_id="log-1", url="https://social.example/posts/1",
                          posted_at="2030-01-15T10:00:01.000000+00:00")
        ledger.close()
        return {"held": held, "failed": failed, "posted": posted}

    # ----- the server -------------------------------------------------------------
    def start(self, env: dict | None = None) -> "WebSite":
        environ = {**os.environ, "CIVICPOST_WEB_SECRET": SECRET, **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bot.py"), "--config", str(self.project.config_path), "serve"],
            cwd=str(ROOT), env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited {self.process.returncode}: {self.process.stdout.read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("serve did not open its port within 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def http(self, method: str, path: str, user: str | None = None, form: dict | None = None,
             source: str = PROXY, headers: dict | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=(source, 0))
        sent = dict(headers or {})
        if user is not None:
            sent["X-Remote-User"] = user
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                         response.read().decode("utf-8", errors="replace"))
        finally:
            conn.close()

    def get(self, path: str, user: str | None = "alice", **kwargs) -> Reply:
        return self.http("GET", path, user, **kwargs)

    def post(self, path: str, form: dict, user: str | None = "alice", **kwargs) -> Reply:
        return self.http("POST", path, user, form=form, **kwargs)

    def ledger(self):
        from schedule.ledger import Ledger
        return Ledger(self.config.database, self.config.timezone)
