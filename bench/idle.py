"""Benchmark: an idle daemon holding 20,000 planned deliveries.

    .venv/bin/python bench/idle.py [--files 20000] [--seconds 30]

Starts `bot.py run` as a real child process, waits for READY=1 (sd_notify on a real
socket), then samples its resident memory and CPU time between rescans.
Targets: RSS < 100 MB, CPU < 1 % between rescans.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scan import make_project  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = make_project(Path(tmp), args.files)
        with open(config, "a") as f:
            f.write(f"[content]\nrescan_seconds = {int(args.seconds * 3)}\n")
        sock_path = Path(tmp) / "notify.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(sock_path))
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "--config", str(config), "run"],
                                env={**os.environ, "NOTIFY_SOCKET": str(sock_path)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            sock.settimeout(600)
            while b"READY=1" not in sock.recv(4096):
                pass
            ready = time.perf_counter() - started
            time.sleep(2)
            cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
            time.sleep(args.seconds)
            cpu = (cpu_seconds(proc.pid) - cpu0) / (time.perf_counter() - t0) * 100
            rss = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print(f"{args.files} planned deliveries; first plan and READY after {ready:.1f} s")
    print(f"  RSS {rss:6.1f} MB   target 100 MB   {'ok' if rss < 100 else 'HIGH'}")
    print(f"  CPU {cpu:6.2f} %    target 1 %      {'ok' if cpu < 1 else 'HIGH'}   (idle, between rescans)")
    return 0 if rss < 100 and cpu < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
