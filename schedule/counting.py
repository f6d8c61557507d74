"""How each network counts a post's length.  Channels name these as class data.

Every rule here is read from the network's own source or documentation (cited beside it),
and tests/test_counting.py checks it against that network's own test data where one exists.

Grapheme clusters come from the ``regex`` module's ``\\X``: its 2026 releases carry Unicode
17 data and segment exactly as Unicode's GraphemeBreakTest says, including the GB9c Indic
conjunct rule (Devanagari, Bengali, Gujarati...) that the old ``grapheme`` package (Unicode
13) lacked.  tests/test_counting.py runs the whole of Unicode's test file against it.
"""
from __future__ import annotations

from functools import lru_cache

import threading
from types import SimpleNamespace

import regex

_GRAPHEME = regex.compile(r"\X")
_IMPORT_LOCK = threading.Lock()
_TWITTER_TEXT: SimpleNamespace | None = None


def _twitter_text() -> SimpleNamespace:
    """twitter-text's functions and patterns, imported once, under a lock.  Imported late
    (its emoji tables take ~0.2 s, and validate/preview start fast); the lock because the
    package imports its own modules in a cycle, and two daemon worker threads importing it
    at once can get a half-built module (ImportError: partially initialized module)."""
    global _TWITTER_TEXT
    if _TWITTER_TEXT is None:
        with _IMPORT_LOCK:
            if _TWITTER_TEXT is None:
                from twitter_text.extract_urls import extract_urls_with_indices, is_valid_url
                from twitter_text.parse_tweet import convert_line_ending, parse_tweet
                from twitter_text.regexp.invalid_chars import invalid_chars
                from twitter_text.regexp.latin_accent_chars import latin_accent_chars
                from twitter_text.regexp.valid_domain import valid_domain
                from twitter_text.regexp.valid_port_number import valid_port_number
                from twitter_text.regexp.valid_tco_url import valid_tco_url
                from twitter_text.regexp.valid_url_preceding_chars import valid_url_preceding_chars

                _TWITTER_TEXT = SimpleNamespace(**{name: value for name, value in locals().items()
                                                   if not name.startswith("_")})
    return _TWITTER_TEXT
_DOT_LETTER = regex.compile(r"\.\p{L}")


def grapheme_clusters(text: str) -> list[str]:
    """The text's extended grapheme clusters (UAX #29), in order."""
    return _GRAPHEME.findall(text)


def graphemes(text: str) -> int:
    """User-perceived characters: Bluesky's ``maxGraphemes`` unit."""
    if text.isascii() or max(text) < "\u0300":
        # Below U+0300 (Latin, IPA, spacing modifiers) every character is its own cluster
        # but CR LF (UAX #29: no Extend, SpacingMark, Prepend, ZWJ or RI there);
        # tests/test_counting.py checks this against \X.
        return len(text) - text.count("\r\n")
    return len(_GRAPHEME.findall(text))


def chars(text: str) -> int:
    """Unicode code points (Python's len)."""
    return len(text)


def utf8_bytes(text: str) -> int:
    """UTF-8 bytes: Bluesky's ``maxLength`` unit, YouTube's description limit."""
    return len(text.encode("utf-8", "surrogatepass"))


def utf16_units(text: str) -> int:
    """UTF-16 code units (what JavaScript's and Java's ``length`` count): an emoji outside
    the Basic Multilingual Plane is 2.  Used where a network gives a limit in "characters"
    without saying which: it is never less than the code point count, so a post it passes
    passes a code point count too."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# ----- X ------------------------------------------------------------------------
def x_weighted(text: str) -> int:
    """X's weighted length from twitter-text (parse_tweet, config v3): CJK and emoji weigh
    2, every URL 23, other text 1."""
    tt = _twitter_text()
    if not text or (max(text) < "\u1100" and "\u00a9" not in text and "\u00ae" not in text):
        # parse_tweet spends four fifths of its time looking for emoji.  Below U+1100 the
        # only emoji are (c) and (r) (keycaps need U+20E3), and every character weighs 1
        # (config v3: range 0-4351, weight 100 of scale 100) except inside URLs, which
        # weigh 23.  So count as parse_tweet does (NFC, CR LF as one line end, URLs from
        # the normalised text) without the search; a test checks this against parse_tweet.
        import unicodedata

        normalized = tt.convert_line_ending(unicodedata.normalize("NFC", text))
        if not _DOT_LETTER.search(normalized):  # every domain twitter-text knows has "." then a letter
            return len(normalized)
        total, position = 0, 0
        for entity in tt.extract_urls_with_indices(normalized):
            start = entity["indices"][0]
            if start < position:                 # parse_tweet skips a URL that starts inside the last
                continue
            total += start - position + 23
            position = start + len(entity["url"])   # parse_tweet steps over len(url), not the indices
        return total + max(0, len(normalized) - position)
    return tt.parse_tweet(text).weightedLength


def x_refuses(text: str) -> str:
    """Why X would refuse the text beyond its length, or "".

    twitter-text's ``parse_tweet(text).valid`` is false for a text that is empty, too long,
    or holds a character X forbids (U+FFFE, U+FEFF, U+FFFF: twitter-text's
    INVALID_CHARACTERS; conformance validate.yml, UnicodeDirectionalMarkerCounterTest).
    Empty and too long have their own messages, so this names the forbidden characters.
    """
    import unicodedata

    tt = _twitter_text()
    if not tt.invalid_chars.search(tt.convert_line_ending(unicodedata.normalize("NFC", text))):
        # parse_tweet's valid is false only for a forbidden character in the text it reads
        # (this one) or a length outside 1-280, which is "" below: no need for its emoji
        # search, most of an X delivery's counting (a test checks this against parse_tweet).
        return ""
    result = tt.parse_tweet(text)
    if result.valid or not 0 < result.weightedLength <= 280:
        return ""
    found = sorted({f"U+{ord(c):04X}" for c in tt.invalid_chars.findall(text)})
    return f"contains {', '.join(found) or 'a character'} which X refuses; delete it (often pasted from a PDF or Word)"


# ----- Mastodon -------------------------------------------------------------------
# Mastodon's StatusLengthValidator (app/validators/status_length_validator.rb):
#   countable_length(str) = str.each_grapheme_cluster.size
#   countable_text(str): every URL found by Extractor.extract_urls_with_indices(str,
#     extract_url_without_protocol: false) becomes URL_PLACEHOLDER ('x' * 23), every
#     mention from extract_mentions_or_lists_with_indices becomes "@#{username}" (the
#     "@domain" dropped), after remove_overlapping_entities.
# The URL pattern is twitter-text's as Mastodon rewrites it (config/initializers/
# twitter_regex.rb): more schemes, any non-space character in a path (so a URL runs on into
# CJK text), and case-insensitive (/iox) so "Https://" is a URL too.
MASTODON_URL_PLACEHOLDER = "x" * 23
_UCHARS = (r"\u00A0-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF\U00010000-\U0001FFFD\U00020000-\U0002FFFD"
           r"\U00030000-\U0003FFFD\U00040000-\U0004FFFD\U00050000-\U0005FFFD\U00060000-\U0006FFFD"
           r"\U00070000-\U0007FFFD\U00080000-\U0008FFFD\U00090000-\U0009FFFD\U000A0000-\U000AFFFD"
           r"\U000B0000-\U000BFFFD\U000C0000-\U000CFFFD\U000D0000-\U000DFFFD\U000E1000-\U000EFFFD"
           r"\uE000-\uF8FF\U000F0000-\U000FFFFD\U00100000-\U0010FFFD")


@lru_cache(maxsize=1)
def _mastodon_patterns():
    """Mastodon's valid_url and MENTION_RE, built from twitter-text's own pieces (domain,
    port, preceding characters) with Mastodon's overrides, compiled once on first use."""
    tt = _twitter_text()

    general = r"[^\p{White_Space}<>()?]"
    parens = rf"\((?:{general}+|(?:{general}*\({general}+\){general}*))\)"
    ending = rf"""(?:[^\p{{White_Space}}()?!*"'「」<>;:=,.$%\[\]~&|@]|{parens})"""
    path = rf"(?:(?:{general}*(?:{parens}{general}*)*{ending})|(?:{general}+/))"
    query = rf"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@\^{_UCHARS}]"
    query_end = rf"[a-z0-9_&=#/\-{_UCHARS}]"
    url = (rf"(?P<before>{tt.valid_url_preceding_chars.pattern})"
           rf"(?P<url>(?P<protocol>(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://)?"
           rf"(?P<domain>{tt.valid_domain.pattern})(?::{tt.valid_port_number.pattern})?"
           rf"(?:/{path}*)?(?:\?{query}*{query_end})?)")
    # app/models/account.rb: USERNAME_RE = /[a-z0-9_]+([.-]+[a-z0-9_]+)*/i and
    # MENTION_RE = %r{(?<![=/[:word:]])@((#{USERNAME_RE})(?:@[[:word:]]+([.-]+[[:word:]]+)*)?)};
    # Ruby's [[:word:]] is letters, marks, decimal digits and connector punctuation.
    word = r"[\p{L}\p{M}\p{Nd}\p{Pc}]"
    mention = rf"(?<![=/]|{word})@(?P<name>(?i:[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@{word}+(?:[.-]+{word}+)*)?)"
    # twitter-text's end_mention_match: a mention followed by @, a Latin accent or :// is not one.
    end_mention = rf"(?:[@＠{tt.latin_accent_chars.pattern}]|://)"
    return (regex.compile(url, regex.IGNORECASE | regex.VERSION0),
            regex.compile(mention, regex.VERSION0), regex.compile(end_mention, regex.VERSION0))


def _urls_with_scheme(url_re, text: str):
    """The URL matches whose scheme ends at each "://" (only those count: the validator
    passes extract_url_without_protocol: false).  Matching only near each "://" instead of
    from every character keeps a long text linear and fast; the window (8 KB) is twice
    twitter-text's longest URL (4,096), so a longer match is refused as it would be."""
    found = text.find("://")
    while found != -1:
        for match in url_re.finditer(text, max(0, found - 12), found + 8192):
            if match.start("url") > found:
                break
            if match.group("protocol") and match.end("protocol") == found + 3:
                yield match
                break
        found = text.find("://", found + 3)


def _mastodon_entities(text: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) for each URL and mention Mastodon's extractor finds."""
    tt = _twitter_text()
    url_re, mention_re, end_mention_re = _mastodon_patterns()
    entities = []
    for match in _urls_with_scheme(url_re, text):
        url = match.group("url")
        if not tt.is_valid_url(url, match.group("protocol"), match.group("domain")):
            continue
        start = match.start("url")
        tco = tt.valid_tco_url.match(url)
        if tco:                                  # twitter-text: a t.co URL takes no more path
            if len(tco.group(1)) > 40:
                continue
            url = tco.group(0)
        entities.append((start, start + len(url), MASTODON_URL_PLACEHOLDER))
    if "@" in text:
        for match in mention_re.finditer(text):
            if end_mention_re.match(text, match.end()):
                continue
            name = match.group("name")
            if "@" in name and len(name.split("@", 1)[1]) > 253:   # Extractor::MAX_DOMAIN_LENGTH
                continue
            entities.append((match.start(), match.end(), "@" + name.split("@", 1)[0]))
    # Extractor.remove_overlapping_entities: in order of start, drop any that overlaps the last kept.
    kept: list[tuple[int, int, str]] = []
    for entity in sorted(entities, key=lambda e: e[0]):
        if not kept or entity[0] >= kept[-1][1]:
            kept.append(entity)
    return kept


def mastodon_countable_text(text: str) -> str:
    """StatusLengthValidator#countable_text: URLs as 23 x's, remote mentions as @user."""
    if not text.strip():
        return ""
    out, last = [], 0
    for start, end, replacement in _mastodon_entities(text):
        out.append(text[last:start])
        out.append(replacement)
        last = end
    out.append(text[last:])
    return "".join(out)


def mastodon_length(text: str) -> int:
    """Mastodon's countable length: grapheme clusters of the countable text."""
    return graphemes(mastodon_countable_text(text))



# ----- Threads --------------------------------------------------------------------
_EMOJI = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\u20E3]")


def threads_length(text: str) -> int:
    """Threads: "Text posts are limited to 500 characters. Emojis are counted as the number
    of UTF-8 bytes." (developers.facebook.com/docs/threads/posts, Limitations).  So a
    character counts 1, and an emoji (the whole cluster: ZWJ, skin tone, flag, keycap)
    counts its UTF-8 bytes."""
    if text.isascii() or not _EMOJI.search(text):
        return len(text)
    total = 0
    for cluster in _GRAPHEME.findall(text):
        total += utf8_bytes(cluster) if _EMOJI.search(cluster) else len(cluster)
    return total


# ----- YouTube --------------------------------------------------------------------
def youtube_refuses(text: str) -> str:
    """YouTube Data API, videos resource: snippet.title and snippet.description "may contain
    all valid UTF-8 characters except < and >"."""
    found = sorted({c for c in text if c in "<>"})
    return f"contains {' and '.join(found)}, which YouTube does not accept in titles and descriptions" if found else ""


def truncate_to(text: str, limit: int, count=chars, ellipsis: str = "…") -> str:
    """Cut ``text`` on a word boundary so that ``count(result) <= limit``.

    Binary search over grapheme boundaries so we never split an emoji or a combining
    accent, whatever the counting rule.  Only the first few thousand characters are
    looked at when the text is long (no post is longer), so a huge text costs little.
    """
    if count(text) <= limit:
        return text
    window = text[: max(limit * 8, 4096)]
    ends = [m.end() for m in _GRAPHEME.finditer(window)]
    lo, hi = 0, len(ends)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(window[: ends[mid - 1]].rstrip() + ellipsis) <= limit:
            lo = mid
        else:
            hi = mid - 1
    cut = window[: ends[lo - 1]] if lo else ""
    space = cut.rfind(" ")
    if space > len(cut) * 0.6:
        cut = cut[:space]
    return cut.rstrip() + ellipsis if cut else ""
