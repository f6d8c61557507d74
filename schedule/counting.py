"""How each network counts a post's length.  Channels name one of these as class data."""
from __future__ import annotations

import re

import grapheme

URL_RE = re.compile(r"https?://\S+|www\.\S+")


def x_weighted(text: str) -> int:
    """X's weighted length (CJK and emoji count 2, every URL 23) from twitter-text."""
    from twitter_text import parse_tweet   # lazy: its emoji tables take ~0.2 s to import

    return parse_tweet(text).weightedLength


def graphemes(text: str) -> int:
    """Bluesky counts user-perceived characters (grapheme clusters)."""
    return grapheme.length(text)


def chars(text: str) -> int:
    return len(text)


def urls_as_23(text: str) -> int:
    """Mastodon: characters, but every http(s) URL counts as 23 whatever its length."""
    from twitter_text import extract_urls_with_indices

    total = len(text)
    for entity in extract_urls_with_indices(text):
        url = entity["url"]
        if url.startswith(("http://", "https://")):
            start, end = entity["indices"]
            total += 23 - (end - start)
    return total


def truncate_to(text: str, limit: int, count=chars, ellipsis: str = "…") -> str:
    """Cut ``text`` on a word boundary so that ``count(result) <= limit``.

    Binary search over grapheme boundaries so we never split an emoji or a combining
    accent, whatever the counting rule.
    """
    if count(text) <= limit:
        return text
    clusters = list(grapheme.graphemes(text))
    lo, hi = 0, len(clusters)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count("".join(clusters[:mid]).rstrip() + ellipsis) <= limit:
            lo = mid
        else:
            hi = mid - 1
    cut = "".join(clusters[:lo])
    space = cut.rfind(" ")
    if space > len(cut) * 0.6:
        cut = cut[:space]
    return cut.rstrip() + ellipsis if cut else ""
