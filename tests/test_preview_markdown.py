"""`bot.py preview --format markdown` (a pull-request comment) and docs/content-ci.yml, which posts it."""
from __future__ import annotations

import json

from click.testing import CliRunner

from bot import cli
from tests.helpers import ALL_NETWORK_CHANNELS


def preview(project, *args: str):
    return CliRunner().invoke(cli, ["--config", str(project.config_path), "preview", *args])


def test_markdown_keeps_each_part_exact_for_a_pull_request_comment(project):
    # Parsed back with markdown-it-py, a CommonMark parser: each part must come back as one
    # code block holding exactly the text, even with backticks and Markdown syntax inside
    # (CommonMark 0.31 "Fenced code blocks": the closing fence is at least as long).
    from markdown_it import MarkdownIt

    project.write_config(channels=ALL_NETWORK_CHANNELS, default_channels='["x", "mastodon"]')
    project.image("pool.png")
    tricky = "# Not a heading\n*not bold* <b>raw</b> [link](https://x.example)\n```\nafter a line of backticks"
    project.post("pool.md", "id: pool\ntitle: Pool *opens*\npublish_at: 2030-07-01T10:00\n"
                            "media: [{path: media/pool.png, alt: The new pool}]",
                 f"{tricky}\n---8<---\nSecond part.")
    result = preview(project, "--format", "markdown")
    assert result.exit_code == 0, result.output
    tokens = MarkdownIt("commonmark").parse(result.stdout)
    blocks = [t.content.rstrip("\n") for t in tokens if t.type == "fence"]
    (item,) = json.loads(preview(project, "--json").stdout)                  # the same data, as JSON
    parts = [p["text"] for v in item["variants"] for p in v["parts"]]
    assert len(parts) == 4 and "\n```\n" in parts[0] and "<b>raw</b>" in parts[0]
    assert blocks == parts
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[0] == r"Pool \*opens\*"                                 # shown literally, not bold
    html = MarkdownIt("commonmark").render(result.stdout)
    assert "<em>" not in html and "<b>raw</b>" not in html
    # Europe/London in July is BST, UTC+1 (the Summer Time Order 2002).
    assert "Mon 01 Jul 2030 10:00 BST" in result.stdout
    assert "alt text: The new pool" in result.stdout


def test_content_ci_example_comments_the_markdown_preview(project):
    # docs/content-ci.yml runs `preview --format markdown` on the changed files and posts it
    # with `gh pr comment`; the command it runs must exist and work as written.
    import shlex
    from pathlib import Path

    import yaml

    workflow = yaml.safe_load((Path(__file__).parent.parent / "docs" / "content-ci.yml").read_text())
    steps = {s.get("name"): s for s in workflow["jobs"]["validate"]["steps"]}
    script = steps["Preview the changed posts"]["run"]
    assert workflow["permissions"]["pull-requests"] == "write"
    assert "gh pr comment" in steps["Comment the preview on the pull request"]["run"]
    line = next(l for l in script.splitlines() if "bot.py" in l)
    words = shlex.split(line.split("bot.py", 1)[1].replace("$changed", "").replace("\\", ""))
    assert words == ["--config", "config.toml", "preview", "--format", "markdown"]
    project.post("bins.md", "title: Bin day\npublish_at: 2030-07-01T09:00", "Bins go out on Tuesday.")
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), *words[2:],
                                      str(project.content / "bins.md")])
    assert result.exit_code == 0 and "## Bin day" in result.stdout and "Bins go out on Tuesday." in result.stdout
