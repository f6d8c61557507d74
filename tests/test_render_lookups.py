"""A channel with no template of its own (most: `mastodon-001` uses templates/mastodon.txt.j2)
is looked for on disk once per Renderer, not on every render (#12's burst: a failed stat per
delivery).  A Renderer lives until anything under templates/ changes; the daemon then makes
a new one, which finds a channel template added meanwhile."""
from __future__ import annotations

import pathlib

from schedule.content import read_item
from schedule.render import Renderer

CHANNELS = '[channels.mastodon-001]\nnetwork = "mastodon"\ninstance = "https://mastodon.example"\n'


def _item(project):
    project.write_config(channels=CHANNELS, default_channels='["mastodon-001"]')
    project.post("a.md", "publish_at: 2027-01-14T10:00", "Bins go out on Tuesday.")
    config = project.config()
    return config, read_item(project.content / "a.md", config)


def test_a_missing_channel_template_is_looked_for_once(project, monkeypatch):
    config, item = _item(project)
    renderer = Renderer(config)
    looked = []
    real = pathlib.Path.is_file
    monkeypatch.setattr(pathlib.Path, "is_file", lambda path: looked.append(path.name) or real(path))
    texts = [renderer.render(item, "mastodon-001").text for _ in range(5)]
    assert texts == ["Bins go out on Tuesday."] * 5
    assert looked.count("mastodon-001.txt.j2") == 1, looked
    assert looked.count("mastodon.txt.j2") <= 1, looked


def test_a_channel_template_added_is_used_by_the_next_renderer(project):
    config, item = _item(project)
    assert Renderer(config).render(item, "mastodon-001").text == "Bins go out on Tuesday."
    (config.templates_dir / "mastodon-001.txt.j2").write_text("Council: {{ item.body }}\n")
    assert Renderer(config).render(item, "mastodon-001").text == "Council: Bins go out on Tuesday."
