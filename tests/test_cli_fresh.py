"""Every read-only command answers on a fresh install: no ledger yet, no daemon ever run.

Issue #10 §4: `status` printed a traceback (`'list' object has no attribute 'items'`).
Each command here must exit cleanly, print no traceback, and create no ledger (a reader
that created the database would also hide "nothing has run yet")."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot import cli

READ_ONLY = [
    ("status",), ("status", "--json"), ("status", "--dry-run"),
    ("queue",), ("queue", "--json"), ("queue", "--dry-run"), ("queue", "--item", "pool", "--channel", "log"),
    ("history",), ("history", "--json"), ("history", "--dry-run"),
    ("export",), ("export", "--format", "json"),
    ("calendar", "--ics", "{tmp}/out.ics", "--html", "{tmp}/out.html"),
    ("validate",), ("validate", "--json"), ("preview",), ("preview", "--json"),
    ("channels", "check"),
    ("resume",),           # not paused: says so and writes nothing
]


@pytest.fixture
def fresh(project):
    project.post("pool.md", "title: Pool opens\npublish_at: 2030-01-14T10:00", "The pool opens on Saturday.")
    return project


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a).replace("{tmp}/", ""))
def test_read_only_command_answers_on_a_fresh_install(fresh, tmp_path, args):
    args = [a.format(tmp=tmp_path) for a in args]
    result = CliRunner().invoke(cli, ["--config", str(fresh.config_path), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert not (fresh.root / "var").exists(), "a read-only command created the ledger"


def test_status_on_a_fresh_install_says_nothing_has_run(fresh):
    result = CliRunner().invoke(cli, ["--config", str(fresh.config_path), "status"])
    assert result.exit_code == 0, result.output
    assert "NOT running" in result.output and "No ledger yet" in result.output
    data = json.loads(CliRunner().invoke(cli, ["--config", str(fresh.config_path), "status", "--json"]).stdout)
    assert data["running"] is False and data["bad_credentials"] == {} and data["attention"] == []
    assert data["ledger_exists"] is False and data["rehearsal"] is None
