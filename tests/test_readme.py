"""The README's two set-up commands stay true: CI runs the same test command."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^    (\S.*)$", section, re.MULTILINE)


def test_exactly_two_setup_commands():
    run, test = commands()
    assert "bot.py run" in run and "pip install" in run
    assert "pytest" in test and "pip install" in test


def test_ci_runs_the_readme_test_command_verbatim():
    assert commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_shipped_config_posts_to_log_only():
    from schedule.config import load_config

    config = load_config(ROOT / "config.toml")
    assert {c.network for c in config.channels.values()} == {"log"}


def test_files_named_in_the_example_commands_exist():
    """A newcomer pastes these: every content file they name must be there."""
    for doc in ("README.md", "docs/content.md"):
        named = re.findall(r"^    \.venv/bin/python bot\.py \w+ (content/\S+\.md)", (ROOT / doc).read_text(),
                           re.MULTILINE)
        assert named, doc
        for rel in named:
            assert (ROOT / rel).is_file(), f"{doc} names {rel}, which does not exist"
