"""`bot.py preview`: the exact parts, lengths, media and problems, as JSON and for people."""
from __future__ import annotations

import json

from click.testing import CliRunner

from bot import cli
from tests.helpers import ALL_NETWORK_CHANNELS


def preview(project, *args: str):
    return CliRunner().invoke(cli, ["--config", str(project.config_path), "preview", *args])


def test_json_shape_per_item_and_variant(project):
    project.write_config(channels=ALL_NETWORK_CHANNELS, default_channels='["x", "facebook"]')
    project.image("pool.png")
    project.post("pool.md", "id: pool-opening\npublish_at: 2030-01-14T10:00\n"
                            "media: [{path: media/pool.png, alt: The new pool}]",
                 "The pool opens on Saturday.\n---8<---\nSwimming is free all weekend.")
    result = preview(project, "--json")
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.stdout)
    assert item["id"] == "pool-opening" and item["path"] == "content/pool.md"
    assert item["publish_at"] == "2030-01-14T10:00:00+00:00"
    x, facebook = item["variants"]
    assert (x["channel"], x["network"], x["limit"]) == ("x", "x", 280)
    assert [p["text"] for p in x["parts"]] == ["The pool opens on Saturday.", "Swimming is free all weekend."]
    assert x["parts"][0]["length"] == 27
    assert x["media"] == [{"path": "media/pool.png", "alt": "The new pool"}]
    assert x["problems"] == []
    assert len(facebook["parts"]) == 1 and facebook["limit"] == 63206


def test_channel_filter_and_problems(project):
    project.write_config(channels=ALL_NETWORK_CHANNELS, default_channels='["x", "mastodon"]')
    project.post("long.md", "publish_at: 2030-01-14T10:00", "word " * 70)
    result = preview(project, "--json", "--channel", "x")
    assert result.exit_code == 1
    (item,) = json.loads(result.stdout)
    assert [v["channel"] for v in item["variants"]] == ["x"]
    assert item["variants"][0]["problems"][0]["code"] == "too-long"


def test_human_output_shows_text_time_and_length(project):
    project.post("bins.md", "publish_at: 2030-07-01T09:00", "Bins go out on Tuesday.")
    result = preview(project, str(project.content / "bins.md"))
    assert result.exit_code == 0
    assert "Bins go out on Tuesday." in result.output and "09:00" in result.output and "23/100000" in result.output


def test_preview_needs_no_credentials_or_network(project, monkeypatch):
    project.write_config(channels=ALL_NETWORK_CHANNELS, default_channels='["x", "bluesky", "mastodon", "linkedin"]')
    project.post("a.md", "publish_at: 2030-01-14T10:00", "Hello.")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")      # any network use would fail loudly
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    assert preview(project, "--json").exit_code == 0


def test_ids_and_titles_are_shown_as_written_not_as_markup(project):
    """Issue 10 §6: `[/b]oops` crashed preview and queue (rich read it as a closing tag), and
    `Budget [draft] results` lost its `[draft]` (rich read it as a style)."""
    project.post("oops.md", 'id: "[/b]oops"\ntitle: "Budget [draft] results"\npublish_at: 2030-01-14T10:00',
                 "The budget is out.")
    runner = CliRunner(env={"COLUMNS": "200"})
    base = ["--config", str(project.config_path)]
    shown = runner.invoke(cli, [*base, "preview"])
    assert shown.exception is None or isinstance(shown.exception, SystemExit), shown.exception
    assert "Traceback" not in shown.output
    assert "[/b]oops" in shown.output and "Budget [draft] results" in shown.output
    queued = runner.invoke(cli, [*base, "queue"])
    assert queued.exit_code == 0, queued.exception
    assert "[/b]oops" in queued.output
