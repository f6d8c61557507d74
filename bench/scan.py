"""Benchmark: reading and re-planning a big content queue.

    .venv/bin/python bench/scan.py [--files 20000]

Reports: cold validate of all files, re-plan when nothing changed, re-plan when one file
changed (each the median of 5 runs), and `bot.py preview ONE_FILE` start-to-finish.  Targets on a 2-core machine:
cold < 10 s, no-change < 200 ms, one-change < 250 ms, preview < 0.5 s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schedule.daemon import Daemon  # noqa: E402
from schedule.validate import check  # noqa: E402

TARGETS = {"cold validate": 10.0, "re-plan, nothing changed": 0.200, "re-plan, one file changed": 0.250,
           "preview one file (process)": 0.5}


def make_project(root: Path, files: int) -> Path:
    (root / "content" / "media").mkdir(parents=True)
    shutil.copytree(ROOT / "templates", root / "templates")
    (root / "config.toml").write_text('timezone = "Europe/London"\ndefault_channels = ["log"]\n'
                                      '[channels.log]\nnetwork = "log"\n')
    start = datetime(2027, 1, 4, 9, 0)
    for n in range(files):
        when = start + timedelta(minutes=17 * n)
        folder = root / "content" / f"{n // 1000:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"item-{n:05d}.md").write_text(
            f"---\ntitle: Notice {n}\npublish_at: {when:%Y-%m-%dT%H:%M}+00:00\ntags: [Notice{n % 50}]\n"
            f"link: https://www.example.gov.uk/notices/{n}\n---\nNotice number {n}: the library on "
            f"Station Road closes early on Friday for staff training. Sorry for any trouble.\n")
    return root / "config.toml"


def timed(label: str, fn, results: dict, repeat: int = 1, before=None) -> None:
    """The median of `repeat` runs (one run can land on a garbage collection)."""
    times = []
    for _ in range(repeat):
        if before:
            before()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    results[label] = statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        config_path = make_project(Path(tmp), args.files)
        timed("cold validate", lambda: check(config_path), results)

        daemon = Daemon(config_path)             # the daemon's own re-plan, ledger and all

        def replan() -> None:
            daemon.replan(sync=False)

        replan()                                   # the first plan fills the ledger
        timed("re-plan, nothing changed", replan, results, repeat=5)
        one = next((Path(tmp) / "content" / "00").glob("*.md"))

        def edit_one() -> None:
            one.write_text(one.read_text().replace("Sorry", "Apologies") if "Sorry" in one.read_text()
                           else one.read_text().replace("Apologies", "Sorry"))
            os.utime(one, ns=(time.time_ns(), time.time_ns()))

        timed("re-plan, one file changed", replan, results, repeat=5, before=edit_one)
        timed("preview one file (process)", lambda: subprocess.run(
            [sys.executable, str(ROOT / "bot.py"), "--config", str(config_path), "preview", str(one)],
            capture_output=True), results)
    print(f"{args.files} content files")
    failed = False
    for label, seconds in results.items():
        target = TARGETS[label]
        ok = seconds <= target
        failed |= not ok
        print(f"  {label:<28} {seconds * 1000:9.0f} ms   target {target * 1000:6.0f} ms   {'ok' if ok else 'SLOW'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
