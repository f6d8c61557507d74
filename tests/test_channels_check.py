"""`bot.py channels check`: credentials checked against the networks' test servers."""
from __future__ import annotations

import json

from click.testing import CliRunner

from bot import cli
from tests.servers import channel_tables, graph, linkedin, mastodon


def test_check_reports_accounts_expiry_warnings_and_failures(project, monkeypatch):
    servers = [mastodon.Server().start(), graph.Server().start(), linkedin.Server().start()]
    try:
        project.write_config(extra="[channels_check]\ntoken_warn_days = 90\n", channels=channel_tables(
            {"mastodon": servers[0].url, "facebook": servers[1].url, "linkedin": servers[2].url},
            linkedin={"token_expires": "2020-01-31"}) + '[channels.x]\nnetwork = "x"\n', default_channels='["mastodon"]')
        monkeypatch.setenv("CIVICPOST_MASTODON_ACCESS_TOKEN", mastodon.TOKEN)
        monkeypatch.setenv("CIVICPOST_FACEBOOK_ACCESS_TOKEN", graph.TOKEN)
        monkeypatch.setenv("CIVICPOST_LINKEDIN_ACCESS_TOKEN", linkedin.TOKEN)
        result = CliRunner().invoke(cli, ["--config", str(project.config_path), "channels", "check", "--json"])
        assert result.exit_code == 1
        found = {r["channel"]: r for r in json.loads(result.stdout)}
        assert found["mastodon"]["ok"] and found["mastodon"]["account"].startswith("@council@")
        assert found["facebook"]["ok"] and found["facebook"]["account"] == "Blackburn Council"
        assert "renew it soon" in found["facebook"]["warning"] and 58 < found["facebook"]["days_left"] < 61
        assert not found["linkedin"]["ok"] and "expired on 2020-01-31" in found["linkedin"]["error"]
        assert "CIVICPOST_X_CONSUMER_KEY" in found["x"]["error"]
        assert mastodon.TOKEN not in result.stdout and graph.TOKEN not in result.stdout
        human = CliRunner().invoke(cli, ["--config", str(project.config_path), "channels", "check"])
        assert "mastodon (mastodon): ok, @council@" in human.stdout and "x (x): FAILED" in human.stdout
    finally:
        for server in servers:
            server.stop()


def test_an_old_linkedin_version_is_a_warning_and_a_malformed_one_an_error(project, monkeypatch):
    server = linkedin.Server().start()
    try:
        project.write_config(channels=channel_tables({"linkedin": server.url},
                                                     linkedin={"api_version": "202501"}),
                             default_channels='["linkedin"]')
        monkeypatch.setenv("CIVICPOST_LINKEDIN_ACCESS_TOKEN", linkedin.TOKEN)
        result = CliRunner().invoke(cli, ["--config", str(project.config_path), "channels", "check", "--json"])
        (found,) = json.loads(result.stdout)
        assert result.exit_code == 0 and found["ok"]
        assert "LinkedIn-Version 202501 is" in found["warning"] and "set api_version" in found["warning"]
        assert server.calls("GET")[0].header("LinkedIn-Version") == "202501"

        project.write_config(channels=channel_tables({"linkedin": server.url}, linkedin={"api_version": "2025-01"}),
                             default_channels='["linkedin"]')
        checked = CliRunner().invoke(cli, ["--config", str(project.config_path), "validate"])
        assert checked.exit_code == 1 and "api_version = '2025-01' is not a LinkedIn version" in checked.output
    finally:
        server.stop()


def test_check_results_are_kept_for_the_web_page(project, monkeypatch):
    # The Graph test server's token loses data access in 60 days (tests/servers/graph.py,
    # debug_token data_access_expires_at), inside a 90-day warning window: the Now page lists it.
    from schedule.ledger import Ledger
    from schedule.tokens import needing_attention

    server = graph.Server().start()
    try:
        project.write_config(extra="[channels_check]\ntoken_warn_days = 90\n",
                             channels=channel_tables({"facebook": server.url}), default_channels='["facebook"]')
        config = project.config()
        Ledger(config.database, config.timezone).close()          # the daemon has run once
        monkeypatch.setenv("CIVICPOST_FACEBOOK_ACCESS_TOKEN", graph.TOKEN)
        result = CliRunner().invoke(cli, ["--config", str(project.config_path), "channels", "check", "--json"])
        assert result.exit_code == 0, result.output
        [entry] = needing_attention(config)
        assert entry["channel"] == "facebook" and 58 < entry["days_left"] < 61 and entry["error"] is None
        stored = b"".join(p.read_bytes() for p in config.database.parent.glob(config.database.name + "*"))
        assert graph.TOKEN.encode() not in stored
    finally:
        server.stop()
