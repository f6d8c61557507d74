"""[inbox] settings (#11): `validate` and the daemon's config load refuse the same bad key
with the same one line (schedule/inbox/settings.py, called by load_config): no second check."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot import cli
from schedule.config import load_config
from schedule.errors import ConfigError

MASTODON = '[channels.mastodon]\nnetwork = "mastodon"\ninstance = "https://m.example"\n'


@pytest.mark.parametrize("inbox, key, fix", [
    ("[inbox]\npol_minutes = 5", "pol_minutes", "did you mean poll_minutes?"),
    ("[inbox]\npoll_minutes = \"ten\"", "poll_minutes", "must be a number without quotes"),
    ("[inbox]\nhours = \"9 till 5\"", "hours", "write it like \"09:00-17:00\""),
    ("[inbox]\nreply_approval = \"yes\"", "reply_approval", "must be true or false"),
    ("[inbox]\ntarget_hours = 0", "target_hours", "give a number of office hours"),
    ("[inbox]\ndigest_at = \"half eight\"", "digest_at", "write a time like"),
    ("[inbox]\nretention_days = \"two years\"", "retention_days", "give a number of days"),
    ("[inbox]\nlanguages = [\"en\", \"welsh\"]", "languages", "'welsh' is not an ISO 639-1 code"),
    ("[inbox.flags]\nfoi_wrds = [\"foi\"]", "foi_wrds", "is not a flag rule"),
    ("[inbox.channels.mastodon]\ndirect = \"on\"", "direct", "must be true or false"),
    ("[inbox.channels.mastodon]\nmentoins = false", "mentoins", "is not an inbox setting"),
    ("[inbox.channels.council_x]\nenabled = false", "inbox.channels.council_x", "names no [channels.council_x]"),
])
def test_validate_and_the_daemon_refuse_a_bad_inbox_setting_with_one_line(project, inbox, key, fix):
    project.write_config(channels=MASTODON, default_channels='["mastodon"]', extra=inbox)
    text = project.config_path.read_text()
    line = next(n for n, row in enumerate(text.splitlines(), 1)
                if row.startswith(key) or row.strip("[]") == key)
    # The daemon loads its config (at start and on SIGHUP) with load_config: refused there.
    with pytest.raises(ConfigError) as refused:
        load_config(project.config_path)
    assert refused.value.line == line and fix in refused.value.message and key in refused.value.message
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate"])
    assert result.exit_code == 1
    lines = [row for row in result.output.splitlines() if ": error" in row]
    assert len(lines) == 1 and f"config.toml:{line}: error" in lines[0] and refused.value.message in lines[0], \
        result.output
    assert "Traceback" not in result.output


def test_the_documented_inbox_settings_load(project):
    """Every key docs/inbox.md's "Settings" shows is accepted."""
    project.write_config(channels=MASTODON, default_channels='["mastodon"]', extra=(
        '[inbox]\npoll_minutes = 5\nlookback_days = 14\nlanguages = ["en", "cy"]\nhours = "09:00-17:00"\n'
        'target_hours = 8\nreply_approval = false\ndigest_at = "08:30"\nretention_days = 730\n'
        '[inbox.flags]\ncomplaint_words = ["complaint"]\n'
        '[inbox.channels.mastodon]\npoll_minutes = 15\nmentions = false\ndirect = true\n'))
    assert load_config(project.config_path).section("inbox")["channels"]["mastodon"]["direct"] is True


def test_direct_messages_on_a_network_without_them_is_refused_with_the_fix(project):
    """Threads, YouTube and LinkedIn organisations give apps no direct messages (docs/channels.md)."""
    project.write_config(channels='[channels.threads]\nnetwork = "threads"\nthreads_user_id = "1"\n' + MASTODON,
                         default_channels='["mastodon"]', extra="[inbox]\ndirect = true\n")
    with pytest.raises(ConfigError) as refused:
        load_config(project.config_path)
    assert "channel threads: Threads gives apps no direct messages" in refused.value.message
    assert "[inbox.channels.threads] direct = false" in refused.value.message and refused.value.line == 4
    project.write_config(channels='[channels.threads]\nnetwork = "threads"\nthreads_user_id = "1"\n' + MASTODON,
                         default_channels='["mastodon"]',
                         extra="[inbox]\ndirect = true\n[inbox.channels.threads]\ndirect = false\n")
    assert load_config(project.config_path)                  # the fix it names works
