"""Benchmark: the web page's answer times with a big queue and inbox (issue 13: < 200 ms a page
with 20,000 planned deliveries and 100,000 inbox messages).

    .venv/bin/python bench/web.py [--deliveries 20000] [--messages 100000]

Builds a project with that many content files (one channel each), all planned from the
next hour on and all already in the ledger (as the daemon would have them), and that many
inbox messages over the last 60 days (replies to posts and mentions; some flagged, some
assigned, answered or closed), starts `bot.py serve` as a real process and times every
page over real HTTP on 127.0.0.1: the first request after start, and the median of 5 after
it.  The Inbox pages are timed when the web page has them (HTTP 200 from /inbox).
"""
from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schedule.config import load_config  # noqa: E402
from schedule.inbox import store  # noqa: E402
from schedule.ledger import Ledger  # noqa: E402
from schedule.model import Incoming  # noqa: E402
from schedule.timeutil import to_utc_key  # noqa: E402

TARGET = 0.200
SECRET = "bench-web-secret-" + "0" * 32


def note_on_a_message(config_path: Path, salt: float) -> None:
    """One inbox change through the CLI's own function (`inbox note`)."""
    from schedule.inbox import commands

    commands.note(load_config(config_path), 1, f"bench note {salt}")


def make_project(root: Path, count: int, port: int, messages: int = 0) -> Path:
    (root / "content" / "media").mkdir(parents=True)
    shutil.copytree(ROOT / "templates", root / "templates")
    config_path = root / "config.toml"
    config_path.write_text('timezone = "Europe/London"\ndefault_channels = ["log"]\n[channels.log]\nnetwork = "log"\n'
                           f'[web]\nlisten = "127.0.0.1:{port}"\ntrusted_proxies = ["127.0.0.1"]\n'
                           '[web.roles]\nadmin = ["alice"]\n')
    start = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(second=0, microsecond=0)
    config = load_config(config_path)
    ledger = Ledger(config.database, config.timezone)
    with ledger.transaction():                 # one commit for the lot: this is set-up, not measured
        for n in range(count):
            when = start + timedelta(minutes=17 * n)
            folder = root / "content" / f"{n // 1000:02d}"
            folder.mkdir(exist_ok=True)
            (folder / f"item-{n:05d}.md").write_text(
                f"---\nid: item-{n:05d}\ntitle: Notice {n}\npublish_at: {when:%Y-%m-%dT%H:%M}+00:00\n---\n"
                f"Notice number {n}: the library on Station Road closes early on Friday for staff training.\n")
            ledger.add(f"item-{n:05d}", "log", "log", when)
    add_messages(ledger, messages, count)
    ledger.close()
    return config_path


def add_messages(ledger: Ledger, count: int, deliveries: int) -> None:
    """``count`` messages over the last 60 days, newest now: a third replies to the council's
    posts, the rest mentions; 10% complaints, 2% FOI, 1% Welsh; states spread over every one."""
    now = datetime.now(timezone.utc)
    step = timedelta(days=60) / max(count, 1)
    with ledger.transaction():
        for n in range(count):
            when = now - step * (count - n)
            flags = ["complaint"] if n % 10 == 0 else ["foi"] if n % 50 == 1 else ["welsh"] if n % 100 == 2 else []
            delivery = {"id": 1 + n % max(deliveries, 1), "item": f"item-{n % max(deliveries, 1):05d}"} \
                if n % 3 == 0 and deliveries else None
            message_id, _ = store.record(
                ledger, "log", "log", Incoming(f"m{n}", "reply" if delivery else "mention",
                                               f"Message {n}: the bins on Station Road were not collected again.",
                                               when, author=f"@resident{n % 997}"),
                delivery=delivery, flags=flags)
            if n % 4 == 1:
                store.change(ledger, message_id, "assigned", actor="bench", to_state="assigned", assignee="Ann")
            elif n % 4 == 2:
                answered = when + timedelta(hours=1 + n % 30)
                store.change(ledger, message_id, "answered", actor="bench", to_state="answered",
                             answered_at=to_utc_key(answered), answered_by="council",
                             first_response_seconds=int((answered - when).total_seconds()))
            elif n % 40 == 3:
                store.change(ledger, message_id, "closed", actor="bench", to_state="closed", reason="spam")


def get(port: int, path: str, expect: int | None = 200) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers={"X-Remote-User": "alice"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if expect is not None and response.status != expect:
        raise SystemExit(f"{path}: HTTP {response.status}")
    return time.perf_counter() - started if expect is not None else response.status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(tempfile.mkdtemp(prefix="civicpost-bench-web-"))
    try:
        made = time.perf_counter()
        config_path = make_project(root, args.deliveries, port, args.messages)
        print(f"project with {args.deliveries} deliveries and {args.messages} inbox messages made in "
              f"{time.perf_counter() - made:.1f} s")
        server = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "--config", str(config_path), "serve"],
                                  env={**os.environ, "CIVICPOST_WEB_SECRET": SECRET},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.1)
            soon = (datetime.now(timezone.utc) + timedelta(days=2)).date().isoformat()
            pages = ["/", f"/calendar?start={soon}", f"/calendar?view=month&start={soon}", "/items/item-00100",
                     "/preview/item-00100", "/actions/pause", "/reports"]
            inbox = get(port, "/inbox", expect=None)
            if inbox == 200:
                pages += ["/inbox", "/inbox?state=new", "/inbox?flag=foi", "/inbox?channel=log&page=200",
                          f"/inbox/{max(args.messages // 2, 1)}"]
            else:
                print(f"(no Inbox page on this web page yet: /inbox answered HTTP {inbox})")
            failed = False
            for path in pages:
                first = get(port, path)
                median = statistics.median(get(port, path) for _ in range(5))
                ok = median < TARGET
                failed |= not ok
                print(f"{path:45s} first {first * 1000:7.0f} ms   median {median * 1000:7.0f} ms   "
                      f"{'ok' if ok else 'SLOW'} (target {TARGET * 1000:.0f} ms)")
            if args.messages:
                # Reports after the inbox changes (a triage note, as an officer's action makes):
                # at once, and a few seconds on, once the page's background count has run.
                for wait in (0.0, 3.0):
                    note_on_a_message(config_path, wait)
                    time.sleep(wait)
                    took = get(port, "/reports")
                    print(f"{'/reports ' + f'{wait:.0f} s after an inbox change':45s} first {took * 1000:7.0f} ms   "
                          f"{'ok' if took < TARGET else 'SLOW'} (target {TARGET * 1000:.0f} ms)")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        sys.exit(1 if failed else 0)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
