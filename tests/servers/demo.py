"""The daemon against every network's test server, on the shipped examples:

    .venv/bin/python -m tests.servers.demo [--until-done] [--lead 10] [--gap 5]

Starts each network's local test server on 127.0.0.1 (and the real Bluesky PDS when it is
installed: bash .ci/pds-install.sh), copies the shipped content/ and templates/ into a
temporary project whose channels point at those servers, moves every shipped item to a
few seconds from now (one after another), and runs `bot.py run` on it.  Every post goes
through the network's real client library to its server.  Ctrl-C stops it; with
--until-done it stops once every delivery is final and prints what each server received.
Nothing here talks to anything but 127.0.0.1.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.servers import channel_tables, credentials_env, graph, linkedin, mastodon, pds, x, youtube  # noqa: E402

# Which networks each kind of item goes to: YouTube needs a video, Instagram a picture.
CHANNELS = {
    "video": ["youtube", "x", "facebook", "mastodon", "bluesky", "linkedin"],
    "image": ["x", "facebook", "instagram", "threads", "mastodon", "linkedin", "bluesky"],
    "text": ["x", "facebook", "threads", "mastodon", "linkedin", "bluesky"],
}
FINAL = {"posted", "failed", "missed", "cancelled", "uncertain", "held"}


def start_servers() -> dict:
    servers = {"x": x.Server(), "mastodon": mastodon.Server(), "graph": graph.Server(),
               "linkedin": linkedin.Server(), "youtube": youtube.Server()}
    for server in servers.values():
        server.start()
    servers["graph"].container_polls_before_finished = 1
    return servers


def retime(text: str, when: datetime, networks: list[str]) -> str:
    """The item's front matter with publish_at moved to `when`, no repeat, and the demo's channels."""
    kind = "video" if re.search(r"\.(mp4|mov|webm)\b", text) else "image" if re.search(r"\.(png|jpe?g)\b", text) \
        else "text"
    wanted = [n for n in CHANNELS[kind] if n in networks]
    text = re.sub(r"(?m)^(repeat|until):.*\n", "", text)
    return re.sub(r"(?m)^publish_at:.*$", f"publish_at: {when.isoformat(timespec='seconds')}\n"
                  f"channels: [{', '.join(wanted)}]", text, count=1)


def make_project(root: Path, urls: dict[str, str], lead: float, gap: float, **extra: dict) -> Path:
    shutil.copytree(ROOT / "templates", root / "templates")
    shutil.copytree(ROOT / "content", root / "content")
    start = datetime.now(timezone.utc) + timedelta(seconds=lead)
    items = sorted(p for p in (root / "content").glob("*.md") if "draft: true" not in p.read_text())
    for n, path in enumerate(items):
        path.write_text(retime(path.read_text(), start + timedelta(seconds=gap * n), list(urls)))
    config = root / "config.toml"
    config.write_text('timezone = "Europe/London"\ndefault_channels = ["x"]\n[content]\nrescan_seconds = 5\n'
                      + channel_tables(urls, **extra))
    return config


def summary(servers: dict, pds_server) -> list[str]:
    lines = [f"x: {len(servers['x'].tweets)} tweet(s)", f"mastodon: {len(servers['mastodon'].statuses)} status(es)"]
    kinds = {"post": "facebook", "ig_media": "instagram", "thread": "threads"}
    for kind, name in kinds.items():
        count = sum(1 for o in servers["graph"].objects.values() if o["kind"] == kind)
        lines.append(f"{name}: {count} post(s)")
    lines.append(f"linkedin: {len(servers['linkedin'].posts)} post(s)")
    lines.append(f"youtube: {len(servers['youtube'].videos)} video(s)")
    if pds_server:
        lines.append(f"bluesky: posted to the real PDS at {pds_server.url}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.servers.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--until-done", action="store_true", help="stop once every delivery is final")
    parser.add_argument("--lead", type=float, default=10, help="seconds until the first item is due")
    parser.add_argument("--gap", type=float, default=5, help="seconds between one item and the next")
    args = parser.parse_args(argv)
    servers = start_servers()
    graph_url = servers["graph"].url
    urls = {"x": servers["x"].url, "mastodon": servers["mastodon"].url, "facebook": graph_url,
            "instagram": graph_url, "threads": graph_url, "linkedin": servers["linkedin"].url,
            "youtube": servers["youtube"].url}
    env = {**os.environ, **credentials_env("x", "mastodon", "facebook", "instagram", "threads", "linkedin",
                                           "youtube")}
    pds_server = None
    if pds.unavailable() is None:
        pds_server = pds.PDS()
        pds_server.account("council-demo.test", "demo-app-password")
        urls["bluesky"] = pds_server.url
        env["CIVICPOST_BLUESKY_APP_PASSWORD"] = "demo-app-password"
    else:
        print(f"(no Bluesky: {pds.unavailable()})", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="civicpost-demo-"))
    proc = None
    try:
        config = make_project(tmp, urls, args.lead, args.gap, bluesky={"handle": "council-demo.test"})
        print(f"demo project: {tmp}; servers: " + ", ".join(f"{n} {u}" for n, u in urls.items()), file=sys.stderr)
        proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "--config", str(config), "run"], env=env)
        ok = wait(proc, config) if args.until_done else proc.wait() == 0
    except KeyboardInterrupt:
        ok = True
    finally:
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        for server in servers.values():
            server.stop()
        if pds_server:
            pds_server.stop()
    print("What the servers received:\n  " + "\n  ".join(summary(servers, pds_server)))
    if args.until_done:
        listing = subprocess.run([sys.executable, str(ROOT / "bot.py"), "--config", str(tmp / "config.toml"),
                                  "history", "--json"], capture_output=True, text=True)
        print("The ledger (bot.py history):")
        for row in json.loads(listing.stdout or "[]"):
            print(f"  {row['state']:<8} {row['item']} on {row['channel']}: {row['url'] or row['error'] or ''}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


def wait(proc: subprocess.Popen, config: Path, timeout: float = 300) -> bool:
    """Until every delivery is final; True when all of them were posted."""
    from schedule.config import load_config
    from schedule.ledger import open_ledger

    settings = load_config(config)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(1)
        ledger = open_ledger(settings.database, settings.timezone, readonly=True)
        rows = list(ledger.deliveries()) if ledger else []
        if ledger:
            ledger.close()
        if rows and all(r["state"] in FINAL for r in rows):
            bad = [f"{r['item']} on {r['channel']}: {r['state']} {r['error'] or ''}" for r in rows
                   if r["state"] != "posted"]
            for line in bad:
                print("NOT POSTED", line, file=sys.stderr)
            return not bad
    return False


if __name__ == "__main__":
    sys.exit(main())
