"""`bot.py validate`: one line per problem, exit status, --json shape, paths, and the shipped examples."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bot import cli
from tests.helpers import ALL_NETWORK_CHANNELS

ROOT = Path(__file__).resolve().parent.parent


def validate(project, *args: str):
    return CliRunner().invoke(cli, ["--config", str(project.config_path), "validate", *args])


def test_shipped_examples_pass():
    result = CliRunner().invoke(cli, ["--config", str(ROOT / "config.toml"), "validate"])
    assert result.exit_code == 0, result.output
    assert "error" not in result.stdout


def test_problems_are_one_line_each_with_path_and_line(project):
    project.post("ok.md", "publish_at: 2030-01-14T10:00", "Fine.")
    project.post("gap.md", "title: Clocks\npublish_at: 2030-03-31T01:30", "Spring.")
    project.post("nochan.md", "publish_at: 2030-01-14T10:00\nchannels: [twitter]", "Who?")
    result = validate(project)
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert "content/gap.md:3: error: publish_at: 2030-03-31 01:30 does not exist" in lines[0] or \
        any(line.startswith("content/gap.md:3: error: publish_at:") for line in lines)
    assert any(line.startswith("content/nochan.md:3: error: unknown channel 'twitter'") for line in lines)
    assert not any("ok.md" in line for line in lines)
    assert "Traceback" not in result.output


def test_json_shape(project):
    project.post("past.md", "publish_at: 2020-01-14T10:00", "Old news.")
    result = validate(project, "--json")
    assert result.exit_code == 0                      # a past time is only a warning
    problems = json.loads(result.stdout)
    assert problems == [{"path": "content/past.md", "line": 2, "level": "warning", "code": "past",
                         "message": problems[0]["message"], "channel": None}]
    assert "already passed" in problems[0]["message"]


def test_only_named_paths_are_checked(project):
    project.post("a/good.md", "publish_at: 2030-01-14T10:00")
    project.write("b/bad.md", "---\n- not a map\n---\n")
    assert validate(project, str(project.content / "a")).exit_code == 0
    assert validate(project, str(project.content / "b" / "bad.md")).exit_code == 1


def test_media_and_length_problems_per_network(project):
    project.write_config(channels=ALL_NETWORK_CHANNELS, default_channels='["x", "bluesky", "youtube"]')
    project.image("pool.png")
    (project.content / "media" / "notes.txt").write_text("not media")
    project.post("m.md", "publish_at: 2030-01-14T10:00\nmedia:\n  - {path: media/pool.png, alt: ''}\n"
                         "  - {path: media/notes.txt, alt: notes}", "x" * 290)
    problems = json.loads(validate(project, "--json").stdout)
    found = {(p["code"], p["channel"]) for p in problems}
    assert ("too-long", "x") in found and ("too-long", "bluesky") not in found
    assert ("media-type", "x") in found
    assert ("media-needed", "youtube") in found and ("no-title", "youtube") in found
    assert any(p["code"] == "alt-missing" for p in problems)


def test_template_error_is_reported_with_template_line(project):
    (project.root / "templates" / "default.txt.j2").write_text("{{ item.body }}\n{{ item.nope }}\n")
    project.post("a.md", "publish_at: 2030-01-14T10:00")
    lines = validate(project).stdout.splitlines()
    assert any(line.startswith("templates/default.txt.j2:2: error: template error:") for line in lines)


def test_duplicate_ids_and_blackout_warning(project):
    project.write_config(extra="[[blackout]]\nstart = 2030-01-01T00:00:00\nend = 2030-02-01T00:00:00\n"
                               "reason = \"Pre-election\"\nallow_tags = [\"ElectionInfo\"]\n")
    project.post("a.md", "id: same\npublish_at: 2030-01-14T10:00")
    project.post("b.md", "id: same\npublish_at: 2030-03-14T10:00")
    problems = json.loads(validate(project, "--json").stdout)
    codes = {(p["path"], p["code"]) for p in problems}
    assert ("content/b.md", "duplicate-id") in codes and ("content/a.md", "blackout") in codes


def test_config_error_is_one_line(project):
    project.config_path.write_text('[channels.a]\nnetwork = "myspace"\n')
    result = validate(project)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{project.config_path}:1: error: [channels.a] network = 'myspace'")


def test_config_elsewhere_works_from_any_directory(project, tmp_path):
    project.post("a.md", "publish_at: 2030-01-14T10:00")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, str(ROOT / "bot.py"), "--config", str(project.config_path), "validate"],
                          cwd=elsewhere, capture_output=True, text=True, env={**os.environ})
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_progress_bar_when_not_a_terminal(project):
    for n in range(320):
        project.post(f"bulk/{n}.md", "publish_at: 2030-01-14T10:00")
    result = validate(project)
    assert result.exit_code == 0 and "Checking content" not in result.output


def test_unapproved_items_are_errors_when_sign_off_is_required(project):
    project.write_config(extra='[approval]\nrequired = true\napprovers = ["Tom Hughes"]\n')
    project.post("ok.md", "publish_at: 2030-01-14T10:00\napproved_by: Tom Hughes")
    project.post("no.md", "publish_at: 2030-01-14T10:00")
    project.post("draft.md", "publish_at: 2030-01-14T10:00\ndraft: true")
    problems = json.loads(validate(project, "--json").stdout)
    assert [(p["path"], p["code"]) for p in problems] == [("content/no.md", "approval")]
    assert "approved_by" in problems[0]["message"]


def test_pre_commit_entry_point_checks_the_files_named(project, monkeypatch):
    import yaml

    from schedule.validate import main

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "civicpost-validate" and hooks[0]["entry"] == "civicpost-validate"
    good = project.post("good.md", "publish_at: 2030-01-14T10:00")
    bad = project.write("bad.md", "---\n- list\n---\n")
    monkeypatch.chdir(project.root)
    assert main([str(good)]) == 0
    assert main([str(good), str(bad)]) == 1
