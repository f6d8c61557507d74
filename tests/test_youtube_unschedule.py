"""Videos YouTube would publish by itself are taken back (issue 9, case 10).

A YouTube delivery is uploaded two hours early (lead_time), private with status.publishAt
(Videos: insert; "status.publishAt: the date and time when the video is scheduled to
publish. It can be set only if the privacy status of the video is private").  From then on
YouTube publishes it.  Pausing, cancelling, a blackout, an edit or a deleted file must
un-schedule it: videos.update with part=status, privacyStatus private and no publishAt
(Videos: update: "this method will override the existing values for all of the mutable
properties that are contained in any parts that the parameter value specifies", so a status
without publishAt clears it).  Releasing it again schedules the same video: one upload only.

Run through the real daemon (`bot.py run` as a child process) and the operator commands,
against the YouTube test server.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import cli
from schedule.ledger import Ledger
from tests.helpers import poll, tiny_mp4
from tests.servers import channel_tables, credentials_env, youtube

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
TEXT = "Highlights of Tuesday's full council meeting, with captions."


class Running:
    """A project with one YouTube video item planned ``minutes`` ahead, and its daemon."""

    def __init__(self, project, monkeypatch, minutes: int = 30, extra: str = ""):
        self.project = project
        self.server = youtube.Server().start()
        self.env = {**os.environ, **credentials_env("youtube")}
        for key, value in credentials_env("youtube").items():
            monkeypatch.setenv(key, value)            # for the operator commands run in this process
        project.write_config(channels=channel_tables({"youtube": self.server.url}), default_channels='["youtube"]',
                             extra="[content]\nrescan_seconds = 1\n" + extra)
        tiny_mp4(project.content / "media" / "meeting.mp4")
        (project.content / "media" / "meeting.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:02.000\nWelcome.\n")
        self.planned = (datetime.now(timezone.utc) + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
        self.write(TEXT)
        self.proc = None
        self.ledger = Ledger(project.config().database, project.config().timezone)

    def write(self, text: str, when: datetime | None = None) -> None:
        self.project.post("meeting.md", f"""
id: council-meeting
title: Full council meeting highlights
publish_at: {(when or self.planned).isoformat()}
media: [{{path: media/meeting.mp4, captions: media/meeting.vtt}}]
""", text)

    def start(self) -> "Running":
        self.log = open(self.project.root / "daemon.log", "w")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "--config",
                                      str(self.project.config_path), "run"], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.server.stop()
        self.ledger.close()

    def daemon_log(self) -> str:
        return (self.project.root / "daemon.log").read_text()[-3000:]

    def until(self, condition, what: str, seconds: float = 30):
        found = poll(condition, seconds)
        if not found:
            raise AssertionError(f"timed out waiting for {what}\n{self.daemon_log()}")
        return found

    def row(self) -> dict | None:
        rows = self.ledger.deliveries(item="council-meeting")
        return rows[-1] if rows else None

    def video(self) -> dict:
        (video,) = self.server.videos.values()        # exactly one upload, always
        return video

    def uploaded(self) -> dict:
        return self.until(lambda: (r := self.row()) and r["state"] == "posted" and r, "the early upload")

    def cli(self, *args: str, stdin: str | None = None):
        return CliRunner().invoke(cli, ["--config", str(self.project.config_path), *args], input=stdin)


@pytest.fixture
def running(project, monkeypatch):
    made = []

    def make(**kwargs) -> Running:
        made.append(Running(project, monkeypatch, **kwargs))
        return made[-1]

    yield make
    for run in made:
        run.stop()


def publish_at(run: Running) -> str:
    return run.planned.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_pause_in_the_lead_window_unschedules_and_the_planned_time_passes_private(running):
    run = running().start()
    row = run.uploaded()
    assert run.video()["status"] == {**run.video()["status"], "privacyStatus": "private",
                                     "publishAt": publish_at(run)}
    result = run.cli("pause", "--reason", "major incident in the town centre")
    assert result.exit_code == 0, result.output
    assert "un-scheduled on youtube" in result.output and row["remote_id"] in result.output
    status = run.video()["status"]
    assert status["privacyStatus"] == "private" and "publishAt" not in status
    assert status["selfDeclaredMadeForKids"] is False           # the other settings were sent back
    held = run.row()
    assert held["state"] == "held" and held["remote_id"] == row["remote_id"]
    kinds = [e["kind"] for e in run.ledger.events(delivery_id=row["id"])]
    assert "unscheduling" in kinds and "unscheduled" in kinds
    alerts = [e for e in run.ledger.events(kind="alert") if e["delivery_id"] == row["id"]]
    assert alerts and "un-scheduled" in alerts[-1]["detail"]

    run.server.advance_clock(31 * 60)                           # YouTube's clock passes the planned time
    time.sleep(2.5)                                             # two rescans of the running daemon
    status = run.video()["status"]
    assert status["privacyStatus"] == "private" and "publishAt" not in status
    assert run.row()["state"] == "held"


def test_resume_schedules_the_same_video_again(running):
    run = running().start()
    video_id = run.uploaded()["remote_id"]
    assert run.cli("pause", "--reason", "checking a complaint").exit_code == 0
    assert "publishAt" not in run.video()["status"]
    result = run.cli("resume", "--yes")
    assert result.exit_code == 0, result.output
    run.until(lambda: run.video()["status"].get("publishAt") == publish_at(run), "publishAt set again")
    assert run.video()["id"] == video_id and run.video()["status"]["privacyStatus"] == "private"
    row = run.until(lambda: (r := run.row())["state"] == "posted" and r, "the delivery posted again")
    assert row["remote_id"] == video_id
    assert len(run.server.calls("POST", r"^/upload/youtube/v3/videos$")) == 1


def test_cancel_unschedules(running):
    run = running().start()
    row = run.uploaded()
    result = run.cli("cancel", str(row["id"]), "--reason", "event postponed")
    assert result.exit_code == 0, result.output
    assert f"cancelled {row['id']}" in result.output and "un-scheduled on youtube" in result.output
    assert "publishAt" not in run.video()["status"] and run.video()["status"]["privacyStatus"] == "private"
    assert run.row()["state"] == "cancelled" and run.row()["remote_id"] == row["remote_id"]


def test_a_deleted_file_unschedules(running):
    run = running().start()
    run.uploaded()
    (run.project.content / "meeting.md").unlink()
    run.until(lambda: "publishAt" not in run.video()["status"], "the daemon to un-schedule the video")
    row = run.until(lambda: (r := run.row())["state"] == "cancelled" and r, "the delivery cancelled")
    assert row["remote_id"] == run.video()["id"]


def test_an_edit_schedules_the_same_video_with_the_new_text(running):
    run = running().start()
    video_id = run.uploaded()["remote_id"]
    run.write("Highlights of Tuesday's full council meeting, with captions and a BSL interpreter.")
    run.until(lambda: "BSL" in run.video()["snippet"]["description"], "the new description on YouTube")
    video = run.video()
    assert video["id"] == video_id and video["status"].get("publishAt") == publish_at(run)
    # The old text was taken off the schedule before the new one was put on.
    updates = video["updates"]
    assert "publishAt" not in updates[0] and updates[-1]["publishAt"] == publish_at(run)
    run.until(lambda: run.row()["state"] == "posted", "the delivery posted again")
    assert len(run.server.calls("POST", r"^/upload/youtube/v3/videos$")) == 1


def test_a_new_time_unschedules_the_old_video(running):
    run = running().start()
    old = run.uploaded()
    run.write(TEXT, when=run.planned + timedelta(days=2))
    run.until(lambda: "publishAt" not in run.server.videos[old["remote_id"]]["status"], "the old video un-scheduled")
    assert run.ledger.get(old["id"])["state"] == "cancelled"


def test_a_blackout_that_starts_unschedules(running):
    run = running()
    start = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run.start()
    run.uploaded()
    config = run.project.config_path.read_text()
    run.project.config_path.write_text(config.replace(
        "[content]", f'[[blackout]]\nstart = {start}\nend = {end}\nreason = "by-election purdah"\n\n[content]'))
    run.proc.send_signal(signal.SIGHUP)                          # reload: the blackout is in force
    run.until(lambda: "publishAt" not in run.video()["status"], "the daemon to un-schedule the video")
    row = run.until(lambda: (r := run.row())["state"] == "held" and r, "the delivery held")
    assert "blackout" in row["hold_reason"]


def test_an_unschedule_youtube_refuses_is_reported_and_tried_again(running):
    """YouTube answers 503 to the un-scheduling: the pause says so loudly, the ledger keeps
    the video's publishAt (what YouTube still believes), and the daemon tries again."""
    run = running().start()
    row = run.uploaded()
    run.server.inject("5xx", match=r"^PUT /youtube/v3/videos$")
    result = run.cli("pause", "--reason", "major incident")
    assert result.exit_code == 0
    assert "WARNING" in result.output and "could not un-schedule" in result.output and "goes public at" in result.output
    assert run.row()["state"] == "held"
    alerts = [e for e in run.ledger.events(kind="alert") if e["delivery_id"] == row["id"]]
    assert alerts and "could not be un-scheduled" in alerts[-1]["detail"]
    run.until(lambda: "unscheduled" in [e["kind"] for e in run.ledger.events(delivery_id=row["id"])],
              "the daemon's second try")
    assert "publishAt" not in run.video()["status"]
    kinds = [e["kind"] for e in run.ledger.events(delivery_id=row["id"])]
    assert kinds.index("unschedule-failed") < len(kinds) - 1 - kinds[::-1].index("unscheduled")


def test_a_new_video_file_is_not_put_on_the_old_video(running):
    """YouTube cannot replace a video's file (videos.update changes metadata only): when the
    item's video file changes after the upload, the old video comes off the schedule and
    the delivery fails with the fix, rather than publish the old file or upload a second."""
    run = running().start()
    video_id = run.uploaded()["remote_id"]
    path = run.project.content / "media" / "meeting.mp4"
    path.write_bytes(path.read_bytes() + b"\x00" * 512)       # a re-exported file
    run.write(TEXT)
    row = run.until(lambda: (r := run.row())["state"] == "failed" and r, "the delivery to fail")
    assert "cannot replace a video's file" in row["error"]
    assert "publishAt" not in run.video()["status"] and run.video()["id"] == video_id
    assert len(run.server.calls("POST", r"^/upload/youtube/v3/videos$")) == 1


def test_a_crash_while_scheduling_again_is_finished_after_restart(running):
    """SIGKILL at the moment the re-scheduling request reaches YouTube, which never gets it
    (the connection drops).  Crash recovery finds part 0 (the video) and calls the delivery
    posted; the video is still un-scheduled, so the daemon schedules it again."""
    run = running().start()
    video_id = run.uploaded()["remote_id"]
    assert run.cli("pause", "--reason", "checking a complaint").exit_code == 0
    killed = []

    def kill_on_reschedule(request):
        if request.method == "PUT" and b"publishAt" in request.body and not killed:
            run.proc.kill()                                     # SIGKILL, mid-request
            killed.append(request)

    run.server.on_request.append(kill_on_reschedule)
    run.server.inject("drop", match=r"^PUT /youtube/v3/videos$")
    assert run.cli("resume", "--yes").exit_code == 0
    run.until(lambda: killed and run.proc.poll() is not None, "the daemon killed mid-request")
    assert run.row()["state"] == "publishing" and "publishAt" not in run.video()["status"]
    run.start()
    run.until(lambda: run.video()["status"].get("publishAt") == publish_at(run), "publishAt set after the restart")
    run.until(lambda: run.row()["state"] == "posted", "the delivery posted")
    assert run.video()["id"] == video_id
    assert len(run.server.calls("POST", r"^/upload/youtube/v3/videos$")) == 1


def test_an_edit_with_an_error_unschedules_and_holds(running):
    """An edit that YouTube would refuse (a title over 100 characters: Videos resource,
    snippet.title "maximum length of 100 characters") takes the old text off the schedule
    and holds the delivery with the error; nothing new is sent."""
    run = running().start()
    run.uploaded()
    run.project.post("meeting.md", f"""
id: council-meeting
title: {"Full council meeting highlights " * 4}
publish_at: {run.planned.isoformat()}
media: [{{path: media/meeting.mp4, captions: media/meeting.vtt}}]
""", TEXT)
    # Held by the un-scheduling, then `blocked` by the daemon's gate until the file is fixed.
    row = run.until(lambda: (r := run.row())["state"] in ("held", "blocked") and r, "the delivery held")
    assert "content file has an error" in row["hold_reason"] and "title" in row["hold_reason"]
    # The row is held before the call to YouTube (ledger first), so wait for the call itself.
    status = run.until(lambda: "publishAt" not in (s := run.video()["status"]) and s, "the video un-scheduled")
    assert status["privacyStatus"] == "private"
    assert run.video()["snippet"]["title"] == "Full council meeting highlights"


def test_cancel_after_a_failed_unschedule_cancels_and_unschedules(running):
    run = running().start()
    row = run.uploaded()
    run.proc.send_signal(signal.SIGTERM)                       # no daemon to try again meanwhile
    run.proc.wait(timeout=30)
    run.server.inject("5xx", match=r"^PUT /youtube/v3/videos$")
    assert "could not un-schedule" in run.cli("pause", "--reason", "incident").output
    assert run.row()["state"] == "held" and run.video()["status"].get("publishAt")
    result = run.cli("cancel", str(row["id"]), "--reason", "event off")
    assert result.exit_code == 0 and "un-scheduled on youtube" in result.output, result.output
    assert run.row()["state"] == "cancelled" and "publishAt" not in run.video()["status"]
