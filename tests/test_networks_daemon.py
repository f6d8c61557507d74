"""Every network, end to end: one `bot.py run` daemon publishes one item to each network's
test server (and to the real Bluesky PDS when it is installed)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from schedule.ledger import Ledger
from tests.channels.harness_mastodon import html_to_text
from tests.helpers import tiny_mp4
from tests.servers import channel_tables, credentials_env, graph, linkedin, mastodon, pds, x, youtube

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
TEXT = "The new leisure centre opens on Saturday at 7am."


def test_one_item_to_every_network_through_the_daemon(project):
    servers = {"x": x.Server(), "mastodon": mastodon.Server(), "graph": graph.Server(), "linkedin": linkedin.Server(),
               "youtube": youtube.Server()}
    for server in servers.values():
        server.start()
    servers["graph"].container_polls_before_finished = 0
    env = {**os.environ, **credentials_env("x", "mastodon", "facebook", "instagram", "threads", "linkedin",
                                           "youtube")}
    graph_url = servers["graph"].url
    channels = channel_tables({"x": servers["x"].url, "mastodon": servers["mastodon"].url, "facebook": graph_url,
                               "instagram": graph_url, "threads": graph_url, "linkedin": servers["linkedin"].url,
                               "youtube": servers["youtube"].url})
    names = ["x", "mastodon", "facebook", "instagram", "threads", "linkedin", "youtube"]
    pds_server = None
    if not pds.unavailable():
        pds_server = pds.shared_pds()
        pds_server.account("council-daemon.test", "daemon-app-pass")
        env["CIVICPOST_BLUESKY_APP_PASSWORD"] = "daemon-app-pass"
        channels += f'[channels.bluesky]\nnetwork = "bluesky"\nhandle = "council-daemon.test"\napi_base = "{pds_server.url}"\n'
        names.append("bluesky")
    project.write_config(channels=channels, default_channels=str(names).replace("'", '"'),
                         extra="[content]\nrescan_seconds = 1\n")
    project.image("pool.png")
    tiny_mp4(project.content / "media" / "opening.mp4")
    (project.content / "media" / "opening.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:02.000\nWelcome.\n")
    due = (datetime.now(timezone.utc) + timedelta(seconds=3)).isoformat()
    project.post("opening.md", f"""
title: Leisure centre opening
publish_at: {due}
media: [{{path: media/pool.png, alt: Children swimming in the new pool}}]
youtube: {{media: [{{path: media/opening.mp4, captions: media/opening.vtt}}]}}
""", TEXT)
    proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "run"],
                            env=env, stdout=open(project.root / "daemon.log", "w"), stderr=subprocess.STDOUT)
    try:
        ledger = Ledger(project.config().database, project.config().timezone)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = {r["channel"]: r for r in ledger.deliveries()}
            if len(rows) == len(names) and all(r["state"] in ("posted", "failed") for r in rows.values()):
                break
            time.sleep(0.3)
        states = {c: (r["state"], r["error"]) for c, r in rows.items()}
        assert {c: s for c, (s, _) in states.items()} == {n: "posted" for n in names}, \
            (states, (project.root / "daemon.log").read_text()[-3000:])
        assert rows["x"]["url"].startswith("https://x.com/")
        assert [t["text"] for t in servers["x"].tweets.values()] == [TEXT]
        assert [html_to_text(s["content"]) for s in servers["mastodon"].statuses.values()] == [TEXT]
        posts = [o for o in servers["graph"].objects.values() if o["kind"] == "post"]
        assert [p["message"] for p in posts] == [f"Leisure centre opening\n\n{TEXT}"]      # facebook.txt.j2
        assert [o["caption"] for o in servers["graph"].objects.values() if o["kind"] == "ig_media"] == [TEXT]
        assert [o["text"] for o in servers["graph"].objects.values() if o["kind"] == "thread"] == [TEXT]
        assert list(servers["linkedin"].posts.values())[0]["content"]["media"]["altText"] == \
            "Children swimming in the new pool"
        (video,) = servers["youtube"].videos.values()
        assert video["snippet"]["title"] == "Leisure centre opening" and video["status"]["privacyStatus"] == "public"
        assert servers["youtube"].captions[video["id"]]["language"] == "en"
        if pds_server:
            assert rows["bluesky"]["url"].startswith("https://bsky.app/profile/council-daemon.test/post/")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        for server in servers.values():
            server.stop()
