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


# ----- issue 10 §6: config type errors are one line naming the key, never a traceback ----

LOG = '[channels.log]\nnetwork = "log"\n'


@pytest.mark.parametrize("text, words, line", [
    # 2027-03-28 01:30 does not exist in Europe/London: the clocks go forward at 01:00 GMT
    # (The Summer Time Order 2002, last Sunday of March).
    (LOG + '[[blackout]]\nstart = 2027-03-28T01:30:00\nend = 2027-04-01T00:00:00\n', "does not exist", 4),
    (LOG + '[[blackout]]\nstart = 2027-10-31T01:30:00\nend = 2027-11-01T00:00:00\n', "happens twice", 4),
    (LOG + '[content]\nmax_file_bytes = "1MB"\n', "max_file_bytes = '1MB' must be a whole number", 4),
    (LOG + '[schedule]\ngrace_minutes = "fifteen"\n', "grace_minutes = 'fifteen' must be a number", 4),
    (LOG + '[schedule]\ngrace_minutes = inf\n', "grace_minutes = inf must be a number from 0 to 525600", 4),
    (LOG + '[schedule]\ngrace_minutes = -5\n', "grace_minutes = -5 must be a number", 4),
    (LOG + '[content]\nrescan_seconds = "30s"\n', "rescan_seconds = '30s' must be a number", 4),
    (LOG + '[content]\ngit_pull = "yes"\n', "git_pull = 'yes' must be true or false", 4),
    ('paths = "x"\n' + LOG, "paths = 'x' must be a table", 1),
    (LOG + '[paths]\ncontent = 5\n', "[paths] content = 5 must be a path in quotes", 4),
    ('blackout = ["x"]\n' + LOG, "[[blackout]] tables", 1),
    ('default_channels = "log"\n' + LOG, "default_channels = 'log' must be a list of texts", 1),
    (LOG + '[alerts]\nurls = "mailto://a:pw1234@mail.example.org"\n', "[alerts] urls are secrets", 4),
    (LOG + '[channels_check]\ntoken_warn_days = "two weeks"\n', "token_warn_days = 'two weeks'", 4),
    (LOG + '[[blackout]]\nstart = 2027-05-07T00:00:00\nend = 2027-04-12T00:00:00\n', "is not after its start", 5),
    (LOG + '[languages]\nrequired = ["cy", "en"]\nmode = "pairs"\n', "mode = 'pairs' must be", 5),
    (LOG + '[utm]\nenabled = "no"\n', "enabled = 'no' must be true or false", 4),
    (LOG + '[languages]\nrequired = "cy"\n', "required = 'cy' must be a list of texts", 4),
    (LOG + '[approval]\napprovers = "Tom Hughes"\n', "approvers = 'Tom Hughes' must be a list", 4),
    (LOG + '[schedule]\nretry_max_seconds = "15 minutes"\n', "retry_max_seconds = '15 minutes' must be", 4),
    (LOG + '[[blackout]]\nstart = 2027-04-12T00:00:00\nend = 2027-05-07T22:00:00\nallow_tags = "Vote"\n',
     "allow_tags = 'Vote' must be a list", 6),
])
def test_a_config_value_of_the_wrong_type_is_one_line_naming_the_key(tmp_path, text, words, line):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert words in message and info.value.line == line and "\n" not in message, message
    assert "pw1234" not in message                      # secrets never in error text


def test_config_type_errors_through_the_cli_have_no_traceback(tmp_path):
    from click.testing import CliRunner

    from bot import cli

    path = write(tmp_path, LOG + '[content]\nmax_file_bytes = "1MB"\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "validate"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "config.toml:4:" in result.output and "max_file_bytes" in result.output


def test_alert_urls_in_config_are_refused_with_the_fix(tmp_path):
    secret = "s3cretSMTPpass"
    path = write(tmp_path, LOG + f'[alerts]\nurls = ["mailto://alerts:{secret}@mail.example.gov.uk"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "CIVICPOST_ALERT_URLS" in str(info.value) and info.value.line == 4
    assert secret not in str(info.value)
    assert load_config(write(tmp_path, LOG + "[alerts]\nurls = []\n")).alert_urls == ()


def test_alert_urls_come_from_the_environment_or_credentials_and_are_masked(tmp_path, monkeypatch):
    from schedule.secrets import mask

    # Slack's apprise form is slack://TokenA/TokenB/TokenC (github.com/caronc/apprise/wiki/Notify_slack).
    slack = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnl2v4Hs0ed3iv0HCt"
    mail = "mailtos://alerts:Pa55word-smtp@mail.example.gov.uk?to=comms@example.gov.uk"
    monkeypatch.setenv("CIVICPOST_ALERT_URLS", f"{slack}\n{mail}")
    config = load_config(write(tmp_path, LOG))
    assert config.alert_urls == (slack, mail)
    shown = mask(f"apprise could not reach {mail}; token TIiajkdnl2v4Hs0ed3iv0HCt; password Pa55word-smtp")
    assert "Pa55word-smtp" not in shown and "TIiajkdnl2v4Hs0ed3iv0HCt" not in shown and "T1JJ3T3L2" not in shown
    monkeypatch.delenv("CIVICPOST_ALERT_URLS")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "alert_urls").write_text(f"{slack}\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert load_config(write(tmp_path, LOG)).alert_urls == (slack,)


def test_blocked_reminder_hours_is_a_number(project):
    """Issue 10 §2: [schedule] blocked_reminder_hours (default 24) is checked like the other numbers."""
    from schedule.errors import ConfigError

    project.write_config(extra='[schedule]\nblocked_reminder_hours = "a day"\n')
    try:
        project.config()
    except ConfigError as exc:
        assert "blocked_reminder_hours" in str(exc) and "blocked_reminder_hours = 24" in str(exc)
    else:
        raise AssertionError("a text was accepted as blocked_reminder_hours")
    project.write_config(extra="[schedule]\nblocked_reminder_hours = 48\n")
    assert project.config().section("schedule")["blocked_reminder_hours"] == 48
