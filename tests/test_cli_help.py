"""Every command explains itself: `--help` works and says something useful."""
from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from bot import cli


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + (name,))


COMMANDS = list(all_commands(cli))


def test_the_documented_commands_exist():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"validate", "preview", "queue", "run", "pause", "resume", "release", "status", "history", "retry",
            "cancel"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p))
def test_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    command = dict(COMMANDS)[path]
    assert command.help and len(command.help.split()) >= 5
    assert " ".join(command.help.split()[:4]) in " ".join(result.output.split())


def test_global_config_option_is_documented():
    result = CliRunner().invoke(cli, ["--help"])
    assert "--config" in result.output and "config.toml" in result.output
