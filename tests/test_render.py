"""Rendering: templates, filters, threads, autothread, overrides, and template errors."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from schedule.content import read_item
from schedule.errors import ContentError
from schedule.render import Renderer, autothread_split
from tests.helpers import ALL_NETWORK_CHANNELS


@pytest.fixture
def all_networks(project):
    project.write_config(channels=ALL_NETWORK_CHANNELS)
    return project


def render(project, rel, channel="log"):
    config = project.config()
    return Renderer(config).render(read_item(project.content / rel, config), channel)


def test_default_template_puts_link_and_tags_after_the_body(project):
    project.post("a.md", "publish_at: 2027-01-14T10:00\nlink: https://example.gov.uk/a\ntags: [bin day, Recycling]",
                 "Bins go out on Tuesday.")
    variant = render(project, "a.md")
    assert variant.text == ("Bins go out on Tuesday.\n\nhttps://example.gov.uk/a?utm_source=log&utm_medium=social"
                            "&utm_campaign=a\n\n#BinDay #Recycling")
    assert variant.parts[0].length == len(variant.text)


def test_utm_settings_per_channel_and_existing_utm_is_kept(project):
    project.write_config(channels='[channels.log]\nnetwork = "log"\n[channels.log.utm]\nsource = "council-log"\n'
                                  'campaign = "winter"\n')
    project.post("a.md", "link: https://example.gov.uk/a?page=2", "Text")
    assert "https://example.gov.uk/a?page=2&utm_source=council-log&utm_medium=social&utm_campaign=winter" in \
        render(project, "a.md").text
    project.post("b.md", "link: https://example.gov.uk/a?utm_source=poster", "Text")
    assert render(project, "b.md").text.endswith("https://example.gov.uk/a?utm_source=poster")


def test_thread_parts_on_thread_networks_and_joined_elsewhere(all_networks):
    all_networks.post("t.md", "channels: [x, facebook]", "One.\n---8<---\nTwo.\n---8<---\nThree.")
    x = render(all_networks, "t.md", "x")
    assert [p.text for p in x.parts] == ["One.", "Two.", "Three."]
    facebook = render(all_networks, "t.md", "facebook")
    assert [p.text for p in facebook.parts] == ["One.\n\nTwo.\n\nThree."]


def test_too_long_for_x_is_an_error_counted_the_x_way(all_networks):
    # 141 CJK characters weigh 282 on X but are only 141 characters.
    all_networks.post("long.md", "channels: [x, mastodon]", "あ" * 141)
    x = render(all_networks, "long.md", "x")
    assert x.parts[0].length == 282
    assert [p.code for p in x.problems] == ["too-long"] and "282/280" in x.problems[0].message
    assert render(all_networks, "long.md", "mastodon").problems == []


def test_autothread_splits_at_sentences_and_numbers_the_parts(all_networks):
    sentence = "The gritters go out when the road surface will fall below freezing tonight."
    all_networks.post("g.md", "channels: [x]\nautothread: true", " ".join([sentence] * 8))
    variant = render(all_networks, "g.md", "x")
    assert len(variant.parts) > 1 and not variant.problems
    total = len(variant.parts)
    for number, part in enumerate(variant.parts, 1):
        assert part.text.endswith(f" {number}/{total}") and part.length <= 280
        assert part.text.startswith("The gritters")          # whole sentences only
    assert sum(p.text.count(sentence) for p in variant.parts) == 8


def test_autothread_cuts_a_single_huge_sentence_between_words(all_networks):
    channel = Renderer(all_networks.config()).channel("bluesky")
    parts = autothread_split(["word " * 200], channel)
    assert all(channel.count(p) <= 300 for p in parts) and len(parts) > 1


_NUMBER = re.compile(r" (\d+)/(\d+)$")
_ONLY_LINKS_AND_TAGS = re.compile(r"(?:(?:https?://\S+|#\S+)\s*)+")


@pytest.mark.parametrize("network", ["x", "bluesky", "mastodon", "threads"])
@pytest.mark.parametrize("words", range(20, 80, 3))
def test_autothread_keeps_link_and_tags_with_the_last_sentence(all_networks, network, words):
    """#10 §4: never a part made only of hashtags; the link and tags stay with the last
    sentence.  The body length varies so the tags fall at every place a part can end."""
    body = " ".join(["Gritters treat the main roads first."] * (words // 6) + ["Please check on"] + ["neighbours"] * 3)
    all_networks.post("g.md", f"channels: [{network}]\nautothread: true\nlink: https://www.example.gov.uk/gritting\n"
                              "tags: [WinterReady, Road Safety]", body + ".")
    variant = render(all_networks, "g.md", network)
    channel = Renderer(all_networks.config()).channel(network)
    assert not [p for p in variant.problems if p.code == "too-long"]
    texts = [_NUMBER.sub("", p.text) for p in variant.parts]
    assert not any(_ONLY_LINKS_AND_TAGS.fullmatch(t.strip()) for t in texts), texts
    last = texts[-1]
    assert "neighbours." in last and "#WinterReady" in last and "https://www.example.gov.uk/gritting" in last
    assert all(channel.count(p.text) <= channel.max_length for p in variant.parts)


def test_autothread_numbers_every_part_after_the_final_split(all_networks):
    """"1/N" on every part with N the final count, and room for it even past 99 parts."""
    channel = Renderer(all_networks.config()).channel("bluesky")
    parts = autothread_split(["word " * 7000], channel)
    total = len(parts)
    assert total > 100
    for number, part in enumerate(parts, 1):
        assert part.endswith(f" {number}/{total}")
        assert channel.count(part) <= 300, (number, channel.count(part))
    assert " ".join(_NUMBER.sub("", p) for p in parts).split() == ["word"] * 7000    # nothing lost


def test_autothread_cuts_a_huge_word_between_graphemes_and_keeps_every_character(all_networks):
    channel = Renderer(all_networks.config()).channel("bluesky")
    word = "क्षि" * 2000 + "👨‍👩‍👧" * 500                     # conjuncts and ZWJ emoji never cut inside
    parts = [_NUMBER.sub("", p) for p in autothread_split([word], channel)]
    assert "".join(parts) == word
    from schedule.counting import grapheme_clusters
    assert sum(len(grapheme_clusters(p)) for p in parts) == len(grapheme_clusters(word))
    assert all(channel.count(p) <= 300 and len(p.encode()) <= 3000 for p in parts)


def test_autothread_respects_blueskys_byte_limit(all_networks):
    """270 graphemes (pairs of family emoji and spaces) are 3,329 bytes: over
    app.bsky.feed.post's maxLength 3000, so autothread splits on bytes too."""
    all_networks.post("e.md", "channels: [bluesky]\nautothread: true", "👨‍👩‍👧👨‍👩‍👧 " * 90)
    variant = render(all_networks, "e.md", "bluesky")
    assert len(variant.parts) > 1 and not variant.problems
    assert all(len(p.text.encode()) <= 3000 for p in variant.parts)


def test_overrides_text_skip_and_network_level(all_networks):
    all_networks.post("o.md", """
channels: [x, facebook, mastodon]
x: {text: "Short for X"}
mastodon: {skip: true}
facebook: {link: "https://example.gov.uk/fb"}
""", "The long version.")
    config = all_networks.config()
    item = read_item(all_networks.content / "o.md", config)
    variants = {v.channel: v for v in Renderer(config).variants(item)}
    assert set(variants) == {"x", "facebook"}
    assert variants["x"].text == "Short for X"
    assert "https://example.gov.uk/fb?utm_source=facebook" in variants["facebook"].text


def test_custom_fields_reach_the_template(project):
    (project.root / "templates" / "log.txt.j2").write_text("{{ item.title }} at {{ item.venue }}: {{ item.body }}")
    project.post("c.md", "title: Market\nvenue: Town Square", "Come along.")
    assert render(project, "c.md").text == "Market at Town Square: Come along."


def test_undefined_field_names_the_template_and_line(project):
    (project.root / "templates" / "log.txt.j2").write_text("{{ item.body }}\n{{ item.no_such_field }}\n")
    project.post("c.md", "title: x", "Body")
    variant = render(project, "c.md")
    problem = variant.problems[0]
    assert problem.path == "templates/log.txt.j2" and problem.line == 2 and "no_such_field" in problem.message
    assert variant.parts == ()


def test_syntax_error_names_the_template_and_line(project):
    (project.root / "templates" / "log.txt.j2").write_text("ok\n{% if %}\n")
    problems = Renderer(project.config()).template_problems()
    assert [(p.path, p.line) for p in problems] == [("templates/log.txt.j2", 2)]


def test_sandbox_blocks_python_internals(project):
    (project.root / "templates" / "log.txt.j2").write_text("{{ item.body.__class__.__mro__[1].__subclasses__() }}")
    project.post("c.md", "title: x", "Body")
    problem = render(project, "c.md").problems[0]
    assert problem.code == "template" and "unsafe" in problem.message


def test_fit_filter_counts_the_network_way(all_networks):
    (all_networks.root / "templates" / "x.txt.j2").write_text("{{ item.body | fit(30) }}")
    all_networks.post("f.md", "channels: [x]", "あ" * 40)
    variant = render(all_networks, "f.md", "x")
    assert variant.parts[0].length <= 30 and variant.text.endswith("…")


def test_camelcase_tags_filter(project):
    project.post("c.md", "tags: ['#blackburn leisure', bin-day, NHS]", "Body")
    assert render(project, "c.md").text.endswith("#BlackburnLeisure #BinDay #NHS")


_WORDS = st.sampled_from(["Bins", "go", "out", "#BinDay", "#bin_day", "@council.example", "https://example.gov.uk/a",
                          "bit.ly/x", "café", "🗑️", "👨‍👩‍👧", "ﷺ", "\u200d", "{{ item.title }}", "{%", "---8<---",
                          "**bold**", "[link](https://example.gov.uk)", "\n", "\n\n", ".", "!", "あ" * 20])


_PRINTABLE = st.characters(blacklist_categories=("Cs", "Cc"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(_WORDS, max_size=120).map(" ".join), title=st.text(_PRINTABLE, max_size=60),
       autothread=st.booleans(), tags=st.lists(st.text(_PRINTABLE, min_size=1, max_size=15), max_size=4))
def test_any_item_renders_on_every_network_or_says_why(all_networks, body, title, autothread, tags):
    """The renderer never raises on content that parsed: each channel gives a variant whose
    parts are counted, or problems that name the file and a line."""
    import json

    front = {"title": title, "autothread": autothread, "tags": tags,
             "channels": ["log", "x", "facebook", "instagram", "threads", "youtube", "mastodon", "bluesky",
                          "linkedin"], "publish_at": "2027-01-04T09:00"}
    path = all_networks.write("fuzz.md", "---\n" + json.dumps(front, ensure_ascii=False) + "\n---\n" + body)
    config = all_networks.config()
    try:
        item = read_item(path, config)
    except ContentError:
        return
    for variant in Renderer(config).variants(item):
        assert variant.parts or variant.problems
        assert all(part.length == Renderer(config).channel(variant.channel).count(part.text) for part in variant.parts)
        assert all(p.path and p.line >= 1 and p.message for p in variant.problems)
