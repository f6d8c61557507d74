"""Accessibility and plain-English rules: each with content that passes and content that fails."""
from __future__ import annotations

import pytest

from schedule.accessibility import camelcase_tag, check_item, check_variant, emoji_clusters
from schedule.model import Part, Variant
from tests.helpers import image, tiny_mp4, tiny_png, video


def codes(problems):
    return [p.code for p in problems]


def item_with(project, front: str, body: str = "Bins go out on Tuesday."):
    from schedule.content import read_item

    project.post("a.md", front, body)
    return read_item(project.content / "a.md", project.config())


def variant(text: str, tags=(), link=None) -> Variant:
    return Variant(item_id="a", channel="log", network="log", parts=(Part(text, len(text)),), limit=500,
                   tags=tuple(tags), link=link, source="content/a.md", line=5)


@pytest.mark.parametrize("tag, expected", [
    ("blackburn leisure", "BlackburnLeisure"), ("#bin-day", "BinDay"), ("NHS", "NHS"), ("bin_day", "BinDay"),
    ("iPhone tips", "iPhoneTips"), ("recycling", "Recycling"), ("Cymraeg", "Cymraeg"), ("", ""),
])
def test_camelcase_tag(tag, expected):
    assert camelcase_tag(tag) == expected


def test_alt_text_rules(project):
    project.image("pool.png")
    good = item_with(project, "media: [{path: media/pool.png, alt: Children swimming in the new pool}]")
    assert check_item(good) == []
    missing = check_item(item_with(project, "media: [{path: media/pool.png}]"))
    assert codes(missing) == ["alt-missing"] and missing[0].level == "error" and missing[0].line == 2
    assert codes(check_item(item_with(project, "media: [{path: media/pool.png, alt: IMG_2041.jpg}]"))) == \
        ["alt-filename"]
    assert codes(check_item(item_with(project, "media: [{path: media/pool.png, alt: pool.png}]"))) == ["alt-filename"]
    assert codes(check_item(item_with(project, "media: [{path: media/pool.png, alt: Image of a pool}]"))) == \
        ["alt-image-of"]


def test_video_needs_captions_unless_configured(project):
    tiny_mp4(project.content / "media" / "clip.mp4")
    (project.content / "media" / "clip.vtt").write_text("WEBVTT\n")
    assert check_item(item_with(project, "media: [{path: media/clip.mp4, captions: media/clip.vtt}]")) == []
    bare = item_with(project, "media: [{path: media/clip.mp4}]")
    assert codes(check_item(bare)) == ["captions-missing"] and check_item(bare)[0].level == "error"
    assert check_item(bare, {"require_captions": False}) == []


def test_captions_that_cannot_be_read_are_an_error(project):
    tiny_mp4(project.content / "media" / "clip.mp4")
    (project.content / "media" / "clip.srt").write_text("1\n00:00:00,000 --> 00:00:02,000\nWelcome.\n")
    assert check_item(item_with(project, "media: [{path: media/clip.mp4, captions: media/clip.srt}]")) == []
    (project.content / "media" / "bad.vtt").write_text("this is a letter, not captions\n")
    found = check_item(item_with(project, "media: [{path: media/clip.mp4, captions: media/bad.vtt}]"))
    assert codes(found) == ["captions-invalid"] and found[0].level == "error"
    assert "save it as WebVTT (.vtt) or SubRip (.srt)" in found[0].message


def test_hashtags(project):
    assert codes(check_item(item_with(project, "tags: [BlackburnLeisure, NHS]"))) == []
    found = check_item(item_with(project, "tags: [blackburnleisure]"))
    assert codes(found) == ["hashtag-case"] and "#BlackburnLeisure" in found[0].message
    spaced = check_item(item_with(project, "tags: [bin day]"))
    assert "#BinDay" in spaced[0].message
    assert codes(check_variant(variant("Come along #summerreadingchallenge"))) == ["hashtag-case"]
    assert check_variant(variant("Come along #SummerReadingChallenge")) == []


def test_emoji(project):
    assert check_variant(variant("Bins go out on Tuesday 🗑️")) == []
    assert codes(check_variant(variant("Fun 🎉🎉🎉🎉 for all"))) == ["emoji-count"]
    assert codes(check_variant(variant("Put your 🗑️ out on Tuesday"))) == ["emoji-words"]
    assert check_variant(variant("🎉🎉🎉🎉 party"), {"max_emoji": 5}) == []
    assert len(emoji_clusters("👩‍👩‍👧 and 🇬🇧")) == 2        # one per grapheme, however many code points


def test_capitals_and_short_links(project):
    assert codes(check_variant(variant("ROAD CLOSED TODAY due to flooding"))) == ["capitals"]
    assert check_variant(variant("The NHS and DVLA offices are open")) == []
    assert codes(check_variant(variant("Details: https://bit.ly/3xYz"))) == ["short-link"]
    assert codes(check_item(item_with(project, "link: https://tinyurl.com/abc"))) == ["short-link"]
    assert check_item(item_with(project, "link: https://www.example.gov.uk/bins")) == []


def test_readability(project):
    plain = "Our new pool opens on Saturday. Swimming is free for children. " * 4
    assert check_variant(variant(plain)) == []
    dense = ("Notwithstanding the aforementioned considerations, the municipal administration's comprehensive "
             "infrastructural rehabilitation programme necessitates temporary circumvention arrangements, "
             "incorporating multidirectional supplementary transportation alternatives. ") * 2
    found = check_variant(variant(dense))
    assert codes(found) == ["readability"] and "grade" in found[0].message
    assert check_variant(variant(dense), {"max_grade": 40}) == []
    assert check_variant(variant("Notwithstanding circumvention.")) == []        # too short to score


def test_helpers_make_real_media(tmp_path):
    assert image(tiny_png(tmp_path / "a.png")).size > 0 and video(tiny_mp4(tmp_path / "a.mp4")).kind == "video"
