"""Benchmark: the web page's answer times with a big queue (issue 13: < 200 ms a page).

    .venv/bin/python bench/web.py [--deliveries 20000]

Builds a project with that many content files (one channel each), all planned from the
next hour on and all already in the ledger (as the daemon would have them), starts
`bot.py serve` as a real process and times each page over real HTTP on 127.0.0.1 (the
median of 5 requests after one warm-up).  The inbox's 100,000 messages are not measured:
the inbox has not landed yet.
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
from schedule.ledger import Ledger  # noqa: E402

TARGET = 0.200
SECRET = "bench-web-secret-" + "0" * 32


def make_project(root: Path, count: int, port: int) -> Path:
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
    ledger.close()
    return config_path


def get(port: int, path: str) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers={"X-Remote-User": "alice"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise SystemExit(f"{path}: HTTP {response.status}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=20_000)
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(tempfile.mkdtemp(prefix="civicpost-bench-web-"))
    try:
        made = time.perf_counter()
        config_path = make_project(root, args.deliveries, port)
        print(f"project with {args.deliveries} deliveries made in {time.perf_counter() - made:.1f} s")
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
                     "/preview/item-00100", "/actions/pause"]
            failed = False
            for path in pages:
                first = get(port, path)
                median = statistics.median(get(port, path) for _ in range(5))
                ok = median < TARGET
                failed |= not ok
                print(f"{path:45s} first {first * 1000:7.0f} ms   median {median * 1000:7.0f} ms   "
                      f"{'ok' if ok else 'SLOW'} (target {TARGET * 1000:.0f} ms)")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        sys.exit(1 if failed else 0)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
