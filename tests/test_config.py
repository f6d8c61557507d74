"""config.toml: paths relative to its folder, no secrets, clear one-line errors."""
from __future__ import annotations

from datetime import datetime

import pytest

from schedule.config import load_config
from schedule.errors import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_relative_paths_are_relative_to_the_config_folder(tmp_path, monkeypatch):
    path = write(tmp_path, '[paths]\ncontent = "../queue"\n[channels.log]\nnetwork = "log"\n')
    monkeypatch.chdir("/")
    config = load_config(path)
    assert config.content_dir == (tmp_path / "queue").resolve()
    assert config.templates_dir == (tmp_path / "conf" / "templates").resolve()
    assert config.database == (tmp_path / "conf" / "var" / "civicpost.db").resolve()
    assert config.timezone.key == "Europe/London" and config.default_channels == ("log",)


def test_secrets_in_config_are_refused_naming_the_env_var(tmp_path):
    path = write(tmp_path, '[channels.council_x]\nnetwork = "x"\naccess_token = "abc"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 1 and "CIVICPOST_COUNCIL_X_ACCESS_TOKEN" in str(info.value)
    assert "abc" not in str(info.value)


@pytest.mark.parametrize("text, words, line", [
    ('timezone = "Mars/Olympus"\n', "unknown timezone", 1),
    ('[channels.a]\nnetwork = "myspace"\n', "not one of", 1),
    ('[channels.a]\nnetwork = "twitter"\n', 'did you mean network = "x"?', 1),
    ('[channels.a]\nnetwork = "mastadon"\n', 'did you mean network = "mastodon"?', 1),
    ('default_channels = ["nope"]\n[channels.a]\nnetwork = "log"\n', "no [channels.nope]", 1),
    ('x = \n', "not valid TOML", 1),
    ('[channels.a]\nnetwork = "log"\n[[blackout]]\nstart = "soon"\nend = 2027-05-07T22:00:00\n', "not a date-time", 4),
])
def test_bad_config_is_one_line_with_a_line_number(tmp_path, text, words, line):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert words in str(info.value) and info.value.line == line and "\n" not in str(info.value)


def test_blackout_windows_are_local_and_aware(tmp_path):
    config = load_config(write(tmp_path, '[channels.a]\nnetwork = "log"\n[[blackout]]\nstart = 2027-04-12T00:00:00\n'
                                         'end = 2027-05-07T22:00:00\nreason = "Pre-election"\nallow_tags = ["ElectionInfo"]\n'))
    window = config.blackouts[0]
    assert window.start.utcoffset().total_seconds() == 3600
    assert window.covers(datetime.fromisoformat("2027-05-01T12:00+01:00"))
    assert not window.covers(datetime.fromisoformat("2027-05-07T22:00+01:00"))


def test_missing_config_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="--config"):
        load_config(tmp_path / "nope.toml")
