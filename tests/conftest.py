"""Shared fixtures: every test gets its own content folder, config and ledger in tmp_path."""
from __future__ import annotations

import os

import pytest

# Tests never read the developer's real credentials.
for key in list(os.environ):
    if (key.startswith("CIVICPOST_") and key not in ("CIVICPOST_PDS_DIR", "CIVICPOST_AXE_DIR", "CIVICPOST_CHAOS_QUICK",
                                                                  "CIVICPOST_CHAOS_SEED")) \
            or key == "CREDENTIALS_DIRECTORY":
        del os.environ[key]


ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path):
    """A throw-away civicpost project: config.toml, templates/ (the shipped ones), content/."""
    from tests.helpers import Project
    return Project(tmp_path / "project", ROOT / "templates")


@pytest.fixture
def on_mastodon(project, monkeypatch):
    """`project` set to post to one Mastodon test server only (due items judged with 15
    minutes' grace, content rescanned every second), its credentials in the environment (a
    child `bot.py` inherits them); yields the running server."""
    from tests.servers import channel_tables, credentials_env, mastodon
    with mastodon.Server() as server:
        project.write_config(channels=channel_tables({"mastodon": server.url}), default_channels='["mastodon"]',
                             extra="[content]\nrescan_seconds = 1\n[schedule]\ngrace_minutes = 15\n")
        for key, value in credentials_env("mastodon").items():
            monkeypatch.setenv(key, value)
        yield server


@pytest.fixture
def planned_daemon(project, on_mastodon):
    """The real Daemon in process on `on_mastodon`, its jobs run by the test (no scheduler
    thread), with two notices five minutes ahead planned: `library` ("The library reopens
    on Monday.") and `pool`."""
    from schedule.daemon import Daemon
    from tests.test_daemon import soon

    project.post("library.md", f"publish_at: {soon(300)}", "The library reopens on Monday.")
    project.post("pool.md", f"publish_at: {soon(300)}", "The pool closes early on Friday.")
    daemon = Daemon(project.config_path)
    daemon.replan(sync=False)
    yield daemon
    daemon.ledger.close()


# Skips that mean "a real server was not there" (the Bluesky PDS, Chromium), as opposed to
# a contract case a network cannot have (log has no 429).  A local run says so loudly at the
# end, so nobody mistakes a green run without the real servers for a full one; under CI the
# harnesses refuse to skip (they raise), so these never pass silently there.
_MISSING_SERVER_WORDS = ("not installed", "pds", "chromium", "not found")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = terminalreporter.stats.get("skipped", [])
    missing: dict[str, int] = {}
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if any(word in reason.lower() for word in _MISSING_SERVER_WORDS):
            reason = reason.removeprefix("Skipped: ")
            missing[reason] = missing.get(reason, 0) + 1
    if not missing:
        return
    terminalreporter.section("NOT TESTED: real servers missing", sep="!", red=True, bold=True)
    for reason, count in sorted(missing.items()):
        terminalreporter.write_line(f"{count} test(s) skipped: {reason}", red=True, bold=True)
    terminalreporter.write_line("Install them (bash .ci/pds-install.sh; bash .ci/browser-install.sh) for a full "
                                "run; CI refuses to skip these.", red=True)
