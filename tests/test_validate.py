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


# ----- issue 10 §6: validate runs the planner; content stays inside content/ ------------

def _codes(project, *args):
    result = validate(project, "--json", *args)
    assert "Traceback" not in result.output
    return {(p["path"], p["code"], p["level"]) for p in json.loads(result.stdout)}


def test_an_infinite_grace_is_refused_before_the_daemon(project):
    # YAML 1.1 spells infinity .inf (yaml.org/type/float.html); timedelta cannot hold it.
    project.post("inf.md", "publish_at: 2030-01-14T10:00\ngrace_minutes: .inf", "Fine.")
    project.post("huge.md", "publish_at: 2030-01-14T10:00\ngrace_minutes: 1e300", "Fine.")
    codes = _codes(project)
    assert ("content/inf.md", "grace", "error") in codes and ("content/huge.md", "grace", "error") in codes


def test_a_repeat_that_never_fires_is_named(project):
    # cron "0 9 31 2 *" asks for 31 February, which no year has.
    project.post("feb.md", 'publish_at: 2030-01-01T09:00\nrepeat: "0 9 31 2 *"\nuntil: 2031-12-31', "Never.")
    result = validate(project)
    assert result.exit_code == 1
    assert "content/feb.md:3: error: repeat: '0 9 31 2 *' never fires" in result.stdout
    assert "no publish_at" not in result.stdout


def test_ids_that_collide_are_errors(project):
    project.post("budget.md", "publish_at: 2030-01-14T10:00", "Budget.")
    project.post("budget-cy.md", "id: budget#cy\npublish_at: 2030-01-14T10:00", "Cyllideb.")
    project.post("other.md", "id: budget\npublish_at: 2030-01-15T10:00", "Again.")
    codes = _codes(project)
    assert ("content/budget-cy.md", "id-collides", "error") in codes
    assert ("content/other.md", "duplicate-id", "error") in codes


def test_a_file_named_alone_is_still_checked_against_every_id(project):
    """pre-commit passes only the changed file; the daemon sees the whole folder."""
    project.post("budget.md", "publish_at: 2030-01-14T10:00", "Budget.")
    new = project.post("new.md", "id: budget\npublish_at: 2030-01-15T10:00", "Again.")
    assert ("content/new.md", "duplicate-id", "error") in _codes(project, str(new))


def test_a_quoted_date_means_what_the_unquoted_date_means(project):
    project.post("bare.md", "publish_at: 2030-01-20", "Bare.")
    project.post("quoted.md", 'publish_at: "2030-01-20"', "Quoted.")
    project.post("until.md", 'publish_at: 2030-01-14T10:00\nnot_after: "2030-01-14"', "Same day.")
    codes = _codes(project)
    assert ("content/bare.md", "time", "error") in codes and ("content/quoted.md", "time", "error") in codes
    # not_after as a date means the end of that day, quoted or not: 10:00 is before it.
    assert not {c for c in codes if c[0] == "content/until.md"}


def test_a_symlinked_folder_cannot_bring_outside_files_in(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.md").write_text("---\npublish_at: 2030-01-14T10:00\n---\nNot council content.\n")
    (project.content / "shared").symlink_to(outside, target_is_directory=True)
    (project.content / "loop").symlink_to(project.content, target_is_directory=True)
    result = validate(project, "--json")
    problems = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [(p["path"], p["code"]) for p in problems] == [("content/shared", "outside")]
    from schedule.scanner import ContentScanner

    assert ContentScanner(project.config()).scan().items == []


def test_media_stays_inside_content(project, tmp_path):
    (tmp_path / "outside.png").write_bytes((project.image()).read_bytes())
    (project.content / "media" / "link.png").symlink_to(tmp_path / "outside.png")
    project.post("up.md", "publish_at: 2030-01-14T10:00\nmedia: [{path: ../outside.png, alt: \"A pool\"}]", "Up.")
    project.post("link.md", "publish_at: 2030-01-14T10:00\nmedia: [{path: media/link.png, alt: \"A pool\"}]", "L.")
    codes = _codes(project)
    assert ("content/up.md", "media-outside", "error") in codes
    assert ("content/link.md", "media-outside", "error") in codes


def test_a_passed_time_within_its_grace_says_it_goes_out_at_once(project):
    # plan.too_late is the rule: within grace_minutes (15 by default) a passed time is sent
    # as soon as the daemon sees it; past it, it is missed.  validate says which.
    from datetime import datetime, timedelta

    recent = (datetime.now().astimezone() - timedelta(minutes=5)).replace(microsecond=0).isoformat()
    project.post("recent.md", f"publish_at: {recent}", "Roadworks on the High Street today.")
    project.post("stale.md", "publish_at: 2020-01-14T10:00", "Old news.")
    messages = {p["path"]: p["message"] for p in json.loads(validate(project, "--json").stdout)}
    assert "goes out as soon as the daemon sees it" in messages["content/recent.md"]
    assert "will be marked missed, not posted" in messages["content/stale.md"]
