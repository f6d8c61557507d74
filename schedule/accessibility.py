"""Accessibility and plain-English checks (UK Public Sector Bodies Accessibility Regulations
2018; GOV.UK guidance on accessible social media).

Pure functions over Items and Variants.  ``check_item`` checks the item's own data once
(alt text, captions, tags, its link); ``check_variant`` checks the text a channel will
actually post (emoji, capitals, readability, short links and hashtags a template or an
override added), reporting each finding once per item, not once per channel.
Settings come from ``[accessibility]`` in config.toml (see docs/accessibility.md).
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import PurePath
from urllib.parse import urlsplit

from .errors import Problem
from .model import Item, Variant

DEFAULTS = {
    "max_emoji": 3,
    "max_grade": 9,                 # Flesch-Kincaid grade; GOV.UK aims at a reading age of 9
    "min_words_for_grade": 30,      # short posts give meaningless scores
    "require_captions": True,
    "shorteners": ["bit.ly", "tinyurl.com", "ow.ly", "t.co", "buff.ly", "goo.gl", "tiny.cc", "is.gd",
                   "rebrand.ly", "shorturl.at"],
    "max_alt_length": 1000,
}
_LAZY_ALT = re.compile(r"^\s*(an?\s+)?(image|picture|photo|photograph|graphic)\s+of\b", re.IGNORECASE)
_FILE_NAME = re.compile(r"^\s*[\w\-. ]+\.(jpe?g|png|gif|webp|heic|tiff?)\s*$|^\s*(IMG|DSC|PXL|image)[_\- ]?\d+",
                        re.IGNORECASE)
_HASHTAG = re.compile(r"(?<![\w&/])#(\w{2,})", re.UNICODE)
_URL = re.compile(r"https?://[^\s)>\]]+", re.IGNORECASE)
_CAPS_RUN = re.compile(r"\b(?:[A-Z][A-Z'’]{1,}\b[\s,!.-]+){2,}[A-Z][A-Z'’]{1,}\b")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def settings_with_defaults(settings: dict | None) -> dict:
    return {**DEFAULTS, **(settings or {})}


def camelcase_tag(tag: str) -> str:
    """A hashtag screen readers can read: 'blackburn leisure' -> 'BlackburnLeisure'.

    Words already containing capitals ('NHS', 'iPhone') are kept as written; separators
    (space, '-', '_', '.') split words.  A single all-lower-case word is capitalised.
    """
    words = [w for w in re.split(r"[\s\-_.#]+", tag.strip()) if w]
    return "".join(w if any(c.isupper() for c in w) else w[:1].upper() + w[1:] for w in words)


# The Unicode blocks that hold pictographs (emoji); a cheap test before splitting a text
# into grapheme clusters, which costs a Python call per character (most posts have none).
_PICTOGRAPH_BLOCK = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF]")


def is_emoji(cluster: str) -> bool:
    """Pictographic characters (emoji), told apart by Unicode category and block."""
    match = _PICTOGRAPH_BLOCK.search(cluster)
    return bool(match) and unicodedata.category(match.group(0)) == "So"


def emoji_clusters(text: str) -> list[str]:
    if not _PICTOGRAPH_BLOCK.search(text):
        return []
    from .counting import grapheme_clusters

    return [g for g in grapheme_clusters(text) if is_emoji(g)]


def check_item(item: Item, settings: dict | None = None) -> list[Problem]:
    rules = settings_with_defaults(settings)
    problems: list[Problem] = []

    def add(key: str, level: str, code: str, message: str) -> None:
        problems.append(Problem(item.rel, item.line(key), level, code, message))

    for media in item.media:
        if media.kind == "image":
            name = PurePath(media.rel).name
            if not media.alt:
                add("media", "error", "alt-missing", f"{media.rel} has no alt text: add alt: describing what the "
                    "picture shows, for people using screen readers")
            elif _FILE_NAME.match(media.alt) or media.alt.strip().lower() == name.lower():
                add("media", "warning", "alt-filename", f"{media.rel}: the alt text {media.alt!r} is a file name: "
                    "describe what the picture shows")
            elif _LAZY_ALT.match(media.alt):
                add("media", "warning", "alt-image-of", f"{media.rel}: alt text should not start with "
                    f"{_LAZY_ALT.match(media.alt).group(0).strip()!r}: screen readers already say it is an image")
            elif len(media.alt) > int(rules["max_alt_length"]):
                add("media", "warning", "alt-long", f"{media.rel}: alt text is {len(media.alt)} characters: keep it "
                    f"under {rules['max_alt_length']} and put detail in the post")
        if media.kind == "video":
            if media.captions is None and rules["require_captions"]:
                add("media", "error", "captions-missing", f"{media.rel} has no captions: add captions: "
                    "media/NAME.vtt (or .srt) next to it, or set require_captions = false in [accessibility]")
            elif media.captions is not None:
                from .captions import check as captions_problem

                problem = captions_problem(media.captions)
                if problem:
                    add("media", "error", "captions-invalid", f"{media.rel}: {problem}")
    for tag in item.tags:
        fixed = _tag_fix(tag)
        if fixed:
            add("tags", "warning", "hashtag-case", fixed)
    if item.link:
        message = _short_link(item.link, rules)
        if message:
            add("link", "warning", "short-link", message)
    return problems


def _tag_fix(tag: str) -> str | None:
    """A message when a hashtag is hard for screen readers (all one case, several words)."""
    bare = tag.lstrip("#")
    letters = [c for c in bare if c.isalpha()]
    suggestion = camelcase_tag(bare)
    if suggestion != bare.replace(" ", "") and re.search(r"[\s\-_.]", bare):
        return f"hashtag {bare!r} will be written #{suggestion}: write it that way in tags: to be sure"
    if len(letters) > 6 and (bare.islower() or (bare.isupper() and len(letters) > 8)):
        return f"hashtag #{bare} is hard to read with a screen reader: capitalise each word, e.g. " \
               f"#{bare[:1].upper()}{bare[1:].lower()}...  (#BlackburnLeisure, not #blackburnleisure)"
    return None


def _short_link(url: str, rules: dict) -> str | None:
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    if host in {h.lower() for h in rules["shorteners"]}:
        return f"{url} is a shortened link that hides where it goes: write the full address so people can see it"
    return None


def check_variant(variant: Variant, settings: dict | None = None) -> list[Problem]:
    """Checks on the rendered text.  Findings are keyed by code and text so an item with
    eight channels gets one warning, not eight (the channel named is the first one)."""
    rules = settings_with_defaults(settings)
    problems: list[Problem] = []
    text = "\n".join(p.text for p in variant.parts)

    def add(code: str, message: str, level: str = "warning") -> None:
        problems.append(Problem(variant.source, variant.line, level, code, message, variant.channel))

    emoji = emoji_clusters(text)
    if len(emoji) > int(rules["max_emoji"]):
        add("emoji-count", f"{len(emoji)} emoji (more than {rules['max_emoji']}): screen readers read each one "
            "out by name; keep the ones that matter")
    for match in re.finditer(r"(?<=[^\W\d_]) (\S+) (?=[^\W\d_])", text):
        token = match.group(1)
        # One emoji alone between two words reads as a word ("Put your 🗑️ out").
        if emoji_clusters(token) == [token]:
            add("emoji-words", f"the emoji {token} stands in for a word: write the word (screen readers read "
                "emoji by their name)")
            break
    caps = _CAPS_RUN.search(text)
    if caps:
        add("capitals", f"{caps.group(0).strip()!r} is in capitals, which is harder to read: use sentence case")
    for tag in sorted(set(_HASHTAG.findall(text)) - set(variant.tags) - {camelcase_tag(t) for t in variant.tags}):
        fixed = _tag_fix(tag)
        if fixed:
            add("hashtag-case", fixed)
    for url in _URL.findall(text):
        message = _short_link(url, rules)
        if message and url != variant.link:
            add("short-link", message)
    problems.extend(_readability(text, variant, rules))
    return problems


def _readability(text: str, variant: Variant, rules: dict) -> list[Problem]:
    plain = _URL.sub("", re.sub(r"[#@]\w+", "", text))
    words = _WORD.findall(plain)
    if len(words) < int(rules["min_words_for_grade"]):
        return []
    import textstat

    grade = textstat.flesch_kincaid_grade(plain)
    if grade > float(rules["max_grade"]):
        return [Problem(variant.source, variant.line, "warning", "readability",
                        f"reading grade {grade:.0f} is above {rules['max_grade']}: use shorter sentences and "
                        "everyday words", variant.channel)]
    return []


def unique(problems: list[Problem]) -> list[Problem]:
    """One finding per (file, code, message) across an item's channels."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for problem in problems:
        key = (problem.path, problem.code, problem.message)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


__all__ = ["check_item", "check_variant", "camelcase_tag", "unique"]
