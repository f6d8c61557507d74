"""Lengths exactly as each network counts them (#10 §3).

Every expected value here comes from the network's own rules, cited beside the test, and
where the network publishes test data we run it (Unicode's GraphemeBreakTest, twitter-text's
conformance suite, Mastodon's own validator spec).  tests/data/README.md says where each
data file comes from.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from schedule import counting
from schedule.channels import make_channel
from schedule.config import load_config
from schedule.model import Part, Variant
from tests.helpers import ALL_NETWORK_CHANNELS

DATA = Path(__file__).parent / "data"


def _break_test(name: str) -> list[tuple[str, list[str], str]]:
    """(text, expected clusters, line) from a Unicode GraphemeBreakTest file."""
    cases = []
    for raw in (DATA / name).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        clusters = ["".join(chr(int(cp, 16)) for cp in segment.replace("×", " ").split())
                    for segment in line.strip("÷").split("÷") if segment.strip()]
        cases.append(("".join(clusters), clusters, raw))
    return cases


# ----- graphemes: Unicode's own test data ----------------------------------------------
def test_graphemes_follow_unicode_18_grapheme_break_test():
    """UAX #29 as Unicode tests it: GraphemeBreakTest-18.0.0 (the Unicode 18 data file from
    unicode-org/unicodetools, 2026-06), every line."""
    wrong = [line for text, clusters, line in _break_test("GraphemeBreakTest-18.0.0.txt")
             if counting.graphemes(text) != len(clusters) or counting.grapheme_clusters(text) != clusters]
    assert wrong == []


def test_graphemes_follow_unicode_17_except_where_unicode_18_changed_gb9c():
    """GraphemeBreakTest-17.0.0, every line; the only ones that differ are the four where
    Unicode 18 changed GB9c (a virama with no consonant before it now also joins the next
    consonant), and for those we give Unicode 18's answer."""
    newer = {text: clusters for text, clusters, _ in _break_test("GraphemeBreakTest-18.0.0.txt")}
    differ = []
    for text, clusters, line in _break_test("GraphemeBreakTest-17.0.0.txt"):
        if counting.grapheme_clusters(text) != clusters or counting.graphemes(text) != len(clusters):
            differ.append(line)
            assert counting.grapheme_clusters(text) == newer[text], line
    assert len(differ) == 4 and all("094D" in line for line in differ)


def test_graphemes_shortcut_below_u0300_agrees_with_segmentation():
    """counting.graphemes counts characters below U+0300 without segmenting: each is its
    own cluster except CR LF.  Check every one of them, in and out of CR LF, against \\X."""
    import regex

    text = "".join(chr(c) for c in range(0x300)) + "\r\n\r\n\n\r\re\u00e9"
    assert counting.graphemes(text) == len(regex.findall(r"\X", text))


@pytest.mark.parametrize("word, script", [("क्षि", "Devanagari"), ("ক্ষ", "Bengali"), ("ક્ષ", "Gujarati"),
                                          ("स्त्री", "Devanagari")])
def test_indic_conjuncts_are_one_grapheme(word, script):
    """Unicode 15.1's GB9c: consonant + virama + consonant is one cluster (UAX #29,
    Indic_Conjunct_Break).  The old `grapheme` package (Unicode 13) split these."""
    assert counting.graphemes(word) == 1, script


# ----- Bluesky -------------------------------------------------------------------------
@pytest.fixture
def channels(tmp_path):
    (tmp_path / "content").mkdir()
    (tmp_path / "templates").mkdir()
    (tmp_path / "config.toml").write_text(ALL_NETWORK_CHANNELS)
    config = load_config(tmp_path / "config.toml")
    return {name: make_channel(config.channels[name]) for name in config.channels}


def problems(channel, text: str, title: str = "A title") -> list:
    variant = Variant(item_id="i", channel=channel.name, network=channel.network,
                      parts=(Part(text, channel.count(text)),), limit=channel.max_length, title=title,
                      source="content/i.md", line=5)
    return [p for p in channel.validate(variant) if p.code in ("too-long", "text-refused")]


def test_bluesky_checks_300_graphemes_and_3000_utf8_bytes(channels):
    """lexicons/app/bsky/feed/post.json: text {maxGraphemes: 300, maxLength: 3000}; the
    lexicon validator (packages/lexicon/src/validators/primitives.ts) measures maxLength
    with utf8Len and maxGraphemes with graphemeLen."""
    bluesky = channels["bluesky"]
    family = "👨‍👩‍👧"                        # one grapheme, 18 UTF-8 bytes
    assert bluesky.count(family * 300) == 300
    found = problems(bluesky, family * 300)
    assert [p.code for p in found] == ["too-long"] and "5,400/3,000 UTF-8 bytes" in found[0].message
    assert problems(bluesky, "🇬🇧" * 300) == []     # 300 graphemes, 2,400 bytes: fits both
    assert [p.code for p in problems(bluesky, "a" * 301)] == ["too-long"]


# ----- Mastodon: its own validator spec -------------------------------------------------
# spec/validators/status_length_validator_spec.rb (mastodon/mastodon), MAX_CHARS = 500.
MASTODON_SPEC = [
    ("reduces calculated length of auto-linkable space-separated URLs",
     "a" * 476 + " " + "http://" + "b" * 30 + ".com/example", True),
    ("does not reduce calculated length of non-autolinkable URLs",
     "a" * 476 + "http://" + "b" * 30 + ".com/example", False),
    ("does not reduce calculated length of count overly long URLs",
     "http://example.com/valid?" + "#foo?" * 1000, False),
    ("counts only the front part of remote usernames", "a" * 475 + " @alice@" + "b" * 30 + ".com", True),
    ("does count both parts of remote usernames for overly long domains", "@alice@" + "b" * 500 + ".com", False),
    ("counts multi byte emoji as single character", "✨" * 500, True),
    ("counts ZWJ sequence emoji as single character", "🏳️‍⚧️" * 500, True),
    ("adds an error when text is over character limit", "a" * 520, False),
]


@pytest.mark.parametrize("name, text, valid", MASTODON_SPEC, ids=[c[0] for c in MASTODON_SPEC])
def test_mastodon_validator_spec(name, text, valid, channels):
    assert (channels["mastodon"].count(text) <= 500) is valid


@pytest.mark.parametrize("text, expected, why", [
    ("🇬🇧" * 500, 500, "a flag is one grapheme cluster (each_grapheme_cluster)"),
    ("👨‍👩‍👧 " * 250, 500, "a family emoji is one grapheme cluster"),
    ("Hi @bins@council.example.gov.uk", 8, "a remote mention counts as @user"),
    ("Hi Https://example.gov.uk/a", 26, "the scheme is case-insensitive (twitter_regex.rb is /iox)"),
    ("See https://example.gov.uk/a.", 28, "a URL does not take the full stop after it"),
    ("https://example.com/日本語 now", 27, "Mastodon's path takes any non-space character"),
    ("gemini://example.org/capsule", 23, "Mastodon adds schemes (dat, dweb, ipfs, ipns, ssb, gopher, gemini)"),
    ("see example.gov.uk/bins", 23, "no scheme: extract_url_without_protocol: false, counted as written"),
    ("नमस्ते", 3, "Devanagari conjuncts are one grapheme each"),
])
def test_mastodon_countable_length(text, expected, why, channels):
    """StatusLengthValidator: countable_text (URLs as 23, @user@domain as @user), then
    each_grapheme_cluster.size."""
    assert channels["mastodon"].count(text) == expected, why


def test_mastodon_channel_accepts_what_mastodon_accepts(channels):
    assert problems(channels["mastodon"], "🇬🇧" * 500) == []
    assert problems(channels["mastodon"], "a" * 460 + " @bins@council.example.gov.uk") == []


# ----- X: twitter-text's conformance suite ----------------------------------------------
def _conformance(section: str) -> list[dict]:
    suite = yaml.safe_load((DATA / "twitter-text-validate.yml").read_text(encoding="utf-8"))
    return suite["tests"][section]


@pytest.mark.parametrize("case", _conformance("WeightedTweetsWithDiscountedEmojiCounterTest")
                         + _conformance("UnicodeDirectionalMarkerCounterTest"), ids=lambda c: c["description"])
def test_x_conformance_validate_yml(case, channels):
    """twitter/twitter-text conformance/validate.yml: weighted length and validity (the
    sections for the v3 configuration X uses)."""
    x = channels["x"]
    text = case["text"]
    assert x.count(text) == case["expected"]["weightedLength"]
    found = problems(x, text)
    assert (found == []) is case["expected"]["valid"]


@pytest.mark.parametrize("char", ["\ufffe", "\ufeff", "\uffff"])
def test_x_refuses_the_characters_twitter_text_forbids(char, channels):
    """twitter-text's INVALID_CHARACTERS (rb/lib/twitter-text/regex.rb: U+FFFE, U+FEFF,
    U+FFFF): parse_tweet says valid: false whatever the length."""
    found = problems(channels["x"], f"Bins go out on Tuesday.{char}")
    assert [p.code for p in found] == ["text-refused"]
    assert f"U+{ord(char):04X}" in found[0].message and "X refuses" in found[0].message


# ----- Threads, Facebook, Instagram, LinkedIn, YouTube ---------------------------------
@pytest.mark.parametrize("text, expected", [
    ("👍", 4), ("👨‍👩‍👧", 18), ("🇬🇧", 8), ("café", 4), ("cafe\u0301", 5), ("日本語", 3), ("𠀀", 1),
])
def test_threads_counts_characters_and_emoji_as_utf8_bytes(text, expected, channels):
    """Threads API, Posts, Limitations: "Text posts are limited to 500 characters. Emojis
    are counted as the number of UTF-8 bytes." (developers.facebook.com/docs/threads/posts)"""
    assert channels["threads"].count(text) == expected


def test_threads_channel_limit(channels):
    assert problems(channels["threads"], "👍" * 125) == []          # 500
    assert [p.code for p in problems(channels["threads"], "👍" * 126)] == ["too-long"]   # 504


@pytest.mark.parametrize("network, limit", [("facebook", 63206), ("instagram", 2200), ("linkedin", 3000)])
def test_unit_less_character_limits_count_utf16_units(network, limit, channels):
    """Facebook (63,206), Instagram (caption "Maximum 2200 characters", IG User Media
    reference) and LinkedIn (Posts API commentary, 3,000) give "characters" without a unit.
    We count UTF-16 code units, the largest of the character counts (an emoji or a CJK
    Extension B ideograph is 2; combining marks and BMP CJK are 1 each), so nothing we pass
    can be over the limit whichever unit the network means."""
    channel = channels[network]
    assert channel.count("😀") == 2 and channel.count("𠀀") == 2
    assert channel.count("e\u0301") == 2 and channel.count("日本") == 2
    half = limit // 2
    assert problems(channel, "😀" * half) == []
    assert [p.code for p in problems(channel, "😀" * (half + 1))] == ["too-long"]
    assert problems(channel, "日" * limit) == []


def test_youtube_description_is_5000_utf8_bytes_without_angle_brackets(channels):
    """YouTube Data API, videos resource: snippet.description "has a maximum length of 5000
    bytes and may contain all valid UTF-8 characters except < and >"; snippet.title "100
    characters ... except < and >"."""
    youtube = channels["youtube"]
    assert problems(youtube, "é" * 2500) == []                       # 5,000 bytes
    assert [p.code for p in problems(youtube, "é" * 2501)] == ["too-long"]
    assert [p.code for p in problems(youtube, "Bins <today>")] == ["text-refused"]
    assert [p.code for p in problems(youtube, "Bins", title="Bins > recycling")] == ["text-refused"]


_ASCII_WORDS = ["Bins", "go", "out", " ", "\r\n", "\n", ".", "https://example.gov.uk/a?b=1", "example.com", "t.co/abc",
                "http://t.co/" + "a" * 50, "#BinDay", "@council", "*", "#", "0", "1", "(c)", "www.example.org/x.", ":", "/",
                "Ffordd ŵyr", "e\u0301", "Привіт", "नमस्ते", "مرحبا", "\u00a9", "\u00ae", "\u20e3", "\ufe0f", "🗑️", "日本",
                "\u10ff", "\u1100", "https://café.example/ŵ"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_ASCII_WORDS), max_size=80).map("".join))
def test_x_shortcut_agrees_with_parse_tweet(text):
    """x_weighted skips parse_tweet's emoji search for text below U+1100 without (c) or
    (r) (no emoji there); it must give exactly parse_tweet's weightedLength, for any text."""
    from twitter_text import parse_tweet

    assert counting.x_weighted(text) == parse_tweet(text).weightedLength


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_ASCII_WORDS + ["\ufffe", "\ufeff", "\uffff", "👍" * 100, "x" * 150]),
                max_size=40).map("".join))
def test_x_refuses_shortcut_agrees_with_parse_tweet(text):
    """x_refuses skips parse_tweet when the text holds none of twitter-text's invalid
    characters; whether it refuses must be exactly parse_tweet's verdict (valid false
    with a length in 1-280), for any text."""
    from twitter_text import parse_tweet

    result = parse_tweet(text)
    assert bool(counting.x_refuses(text)) == (not result.valid and 0 < result.weightedLength <= 280)


@pytest.mark.pds
def test_the_real_pds_refuses_exactly_what_bluesky_counting_refuses(tmp_path, monkeypatch):
    """The Bluesky PDS validates app.bsky.feed.post on createRecord: for texts at each side
    of both limits (bytes, and graphemes with flags and Devanagari conjuncts), what
    `validate` says must be what the real server does."""
    from schedule.errors import ChannelError
    from tests.channels.harness_bluesky import SKIP_REASON, Harness

    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    harness = Harness(tmp_path, monkeypatch)
    try:
        channel = harness.channel
        pair = "👨‍👩‍👧👨‍👩‍👧 "                       # 3 graphemes, 37 bytes
        cases = {"2,996 bytes": (pair * 81).strip(), "3,033 bytes": (pair * 82).strip(),
                 "300 flags": "🇬🇧" * 300, "301 flags": "🇬🇧" * 301,
                 "300 conjuncts": "क्ष" * 300, "301 conjuncts": "क्ष" * 301}
        verdicts = {}
        for name, text in cases.items():
            ours = problems(channel, text) == []
            variant = Variant(item_id="i", channel=channel.name, network="bluesky",
                              parts=(Part(text, channel.count(text)),), limit=300, source="content/i.md")
            try:
                channel.publish(variant, f"count-{name}")
                server = True
            except ChannelError:
                server = False
            verdicts[name] = (ours, server)
        assert verdicts == {name: (name in ("2,996 bytes", "300 flags", "300 conjuncts"),) * 2 for name in cases}
    finally:
        harness.close()


def test_first_counts_in_many_threads_at_once_import_twitter_text_safely():
    """The daemon's worker threads may count X and Mastodon texts for the first time
    together; twitter-text imports its modules in a cycle, so an unguarded lazy import
    could hand a thread a half-built module (seen as ImportError in test_crash)."""
    import subprocess
    import sys

    program = """
import threading
from schedule import counting
barrier = threading.Barrier(16)
errors = []
def work(n):
    barrier.wait()
    try:
        (counting.x_weighted if n % 2 else counting.mastodon_length)("Notice %d: see https://example.gov.uk. 👍" % n)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
[t.start() for t in threads]
[t.join() for t in threads]
print(errors)
"""
    for _ in range(3):
        run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60,
                             cwd=Path(__file__).resolve().parent.parent)
        assert run.returncode == 0 and run.stdout.strip() == "[]", run.stdout + run.stderr
