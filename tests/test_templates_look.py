"""A burst's jobs share one look at templates/ (#12): each job used to stat every file under
templates/ before its delivery; now a job reuses a look another job began less than
``TEMPLATES_LOOK_SECONDS`` before, and an edit is still judged with the new template by the
first job after it (tests/test_daemon_templates.py has the edit-while-running cases).
In process: the real Daemon, its jobs run by hand."""
from __future__ import annotations

import os
import time

from schedule import daemon as daemon_module


def _walks_of(folder, monkeypatch) -> list:
    walks = []
    real = os.walk

    def counted(top, *args, **kwargs):
        if os.path.abspath(top) == os.path.abspath(folder):
            walks.append(top)
        return real(top, *args, **kwargs)

    monkeypatch.setattr(os, "walk", counted)
    return walks


def test_jobs_close_together_share_one_look_at_the_templates(planned_daemon, project, monkeypatch):
    daemon = planned_daemon
    monkeypatch.setattr(daemon_module, "TEMPLATES_LOOK_SECONDS", 60.0)
    walks = _walks_of(daemon.config.templates_dir, monkeypatch)
    (row,) = daemon.ledger.deliveries(item="library")
    for _ in range(20):
        daemon._run_job(row["id"])          # not due yet: each job only looks and decides
    assert len(walks) == 1, f"{len(walks)} walks of templates/ for 20 jobs"


def test_a_job_after_the_window_sees_an_edit(planned_daemon, project, monkeypatch):
    daemon = planned_daemon
    monkeypatch.setattr(daemon_module, "TEMPLATES_LOOK_SECONDS", 0.2)
    (pool,) = daemon.ledger.deliveries(item="pool")
    (row,) = daemon.ledger.deliveries(item="library")
    daemon._run_job(pool["id"])                # looks (and posts the pool notice)
    (project.root / "templates" / "mastodon.txt.j2").write_text("{{ item.body }} " + "x" * 500 + "\n")
    time.sleep(0.25)
    daemon._run_job(row["id"])
    row = daemon.ledger.get(row["id"])
    assert row["state"] == "blocked" and "text is 531/500 as mastodon counts" in row["error"], row


def test_a_change_one_job_found_is_judged_by_the_jobs_that_share_its_look(planned_daemon, project, monkeypatch):
    daemon = planned_daemon
    monkeypatch.setattr(daemon_module, "TEMPLATES_LOOK_SECONDS", 60.0)
    (row,) = daemon.ledger.deliveries(item="library")
    (project.root / "templates" / "mastodon.txt.j2").write_text("{{ item.body }} " + "x" * 500 + "\n")
    daemon._run_job(10 ** 9)                # another delivery's job (none: it finds the change)
    assert daemon.templates_unjudged
    daemon._run_job(row["id"])              # inside that look's window: no look of its own
    row = daemon.ledger.get(row["id"])
    assert row["state"] == "blocked" and "text is 531/500 as mastodon counts" in row["error"], row
