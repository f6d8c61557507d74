"""Bilingual posting (Welsh Language Standards, and the same need in Ireland, Canada...).

``[languages] required = ["cy", "en"]``, ``first = "cy"``: every item carries each
required language, as ``body`` (in the item's ``lang``, default ``[languages] default``)
plus ``body_<lang>`` fields, or as one file per language sharing an ``id`` (each with its
own ``lang:``).  Per channel the languages go out either ``combined`` in one post (the
default) or ``paired``: one post per language, in the configured order.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace

from .config import ChannelConfig, Config
from .errors import Problem
from .model import Item

NAMES = {"cy": "Welsh", "en": "English", "ga": "Irish", "gd": "Scottish Gaelic", "fr": "French", "kw": "Cornish",
         "gv": "Manx"}
PAIR_SEPARATOR = "#"


@dataclass(frozen=True)
class Languages:
    required: tuple[str, ...]
    order: tuple[str, ...]              # first language first
    default: str                        # the language of `body` when an item has no lang:
    mode: str                           # "combined" | "paired"
    pair_gap_seconds: float

    def name(self, lang: str) -> str:
        return f"{NAMES.get(lang, lang)} ({lang})"


def languages(config: Config) -> Languages | None:
    table = config.section("languages")
    required = tuple(str(x) for x in table.get("required", ()))
    if not required:
        return None
    first = str(table.get("first", required[0]))
    order = (first, *[lang for lang in required if lang != first])
    return Languages(required, order, str(table.get("default", "en" if "en" in required else required[-1])),
                     str(table.get("mode", "combined")), float(table.get("pair_gap_seconds", 2)))


def mode_for(channel: ChannelConfig, langs: Languages) -> str:
    return str(channel.settings.get("bilingual", langs.mode))


def item_lang(item: Item, langs: Languages) -> str:
    return str(item.extra.get("lang") or langs.default)


def texts(item: Item, langs: Languages) -> dict[str, str]:
    """Each configured language's text, in the configured order (missing ones left out)."""
    own = item_lang(item, langs)
    found = {own: item.body}
    for lang in langs.order:
        value = item.extra.get(f"body_{lang}")
        if lang != own and isinstance(value, str) and value.strip():
            found[lang] = value.strip()
    return {lang: found[lang] for lang in langs.order if lang in found}


def titles(item: Item, langs: Languages) -> dict[str, str]:
    own = item_lang(item, langs)
    found = {own: item.title}
    for lang in langs.order:
        if isinstance(item.extra.get(f"title_{lang}"), str):
            found[lang] = item.extra[f"title_{lang}"]
    return found


def display_title(item: Item, config: Config) -> str:
    """The title people read (calendar, YouTube, LinkedIn...): each language's title in the
    configured order, "Marchnad Nadolig / Christmas market", or the one title."""
    langs = languages(config)
    if langs is None:
        return item.title
    found = titles(item, langs)
    ordered = [found[lang] for lang in langs.order if found.get(lang)]
    return " / ".join(dict.fromkeys(ordered)) or item.title


LANGUAGE_FIELD = re.compile(r"(body|title)_([a-z]{2,3})")


def unused_language_fields(item: Item, config: Config) -> list[Problem]:
    """body_cy: / title_cy: with no [languages] table would be dropped without a word: say
    so, and how to turn bilingual posting on."""
    if languages(config) is not None:
        return []
    out = []
    for key in item.extra:
        found = LANGUAGE_FIELD.fullmatch(str(key))
        if not found:
            continue
        lang, own = found.group(2), str(item.extra.get("lang") or "en")
        pair = ", ".join(f'"{code}"' for code in dict.fromkeys((lang, own if own != lang else "en")))
        out.append(Problem(item.rel, item.line(key), "warning", "languages-off",
                           f"{key}: is not posted: bilingual posting is off. To post {NAMES.get(lang, lang)} too, "
                           f"add to config.toml: [languages] required = [{pair}] (docs/content.md, 'Welsh and "
                           f"English'); or remove {key}:"))
    return out


def combine(by_lang: dict[str, str]) -> str:
    """One post with every language: part by part when each language has the same thread."""
    from .plain_text import THREAD_MARKER, split_parts

    split = [split_parts(text) for text in by_lang.values()]
    if len({len(parts) for parts in split}) == 1:
        return f"\n{THREAD_MARKER}\n".join("\n\n".join(parts) for parts in zip(*split))
    return "\n\n".join(by_lang.values())


def missing(item: Item, langs: Languages) -> list[str]:
    have = texts(item, langs)
    return [lang for lang in langs.required if lang not in have]


def problems(item: Item, langs: Languages) -> list[Problem]:
    out = []
    for lang in missing(item, langs):
        out.append(Problem(item.rel, item.body_line, "error", "language-missing",
                           f"no {langs.name(lang)} text: add body_{lang}: | ... to the front matter, or a file "
                           f"with id: {item.id} and lang: {lang}"))
    by_lang = texts(item, langs)
    from .plain_text import split_parts

    if len({len(split_parts(t)) for t in by_lang.values()}) > 1:
        out.append(Problem(item.rel, item.body_line, "warning", "language-parts",
                           "the languages have different numbers of thread parts: combined posts join them whole"))
    return out


def merge_translations(items: list[Item], langs: Languages | None) -> list[Item]:
    """Files sharing an id with different lang: become one item (the default language's
    file is the base; the others give body_<lang> and title_<lang>)."""
    if langs is None:
        return items
    groups: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        groups[item.id].append(item)
    out = []
    for ident, group in groups.items():
        codes = [item_lang(i, langs) for i in group]
        if len(group) == 1 or len(set(codes)) != len(codes):
            out.extend(group)                       # one file, or a real duplicate id (reported elsewhere)
            continue
        base = next((i for i in group if item_lang(i, langs) == langs.default), group[0])
        extra = dict(base.extra)
        for other in group:
            if other is not base:
                lang = item_lang(other, langs)
                extra.setdefault(f"body_{lang}", other.body)
                extra.setdefault(f"title_{lang}", other.title)
        out.append(replace(base, extra=extra))
    return out


def split_delivery_item(delivery_item: str, codes: tuple[str, ...] | None = None) -> tuple[str, str | None]:
    """A paired delivery's ledger item is "<id>#<lang>".  Ids may not contain '#' (content.py
    refuses them), so the two cannot collide.  A ledger from before that rule may still hold
    an id like "budget#faq": given ``codes`` (the configured languages), only those count as
    a language, so such a row is never taken for another item's post."""
    base, sep, lang = delivery_item.rpartition(PAIR_SEPARATOR)
    if codes is not None and lang not in codes:
        return delivery_item, None
    return (base, lang) if sep and base and re.fullmatch(r"[a-z]{2,3}", lang) else (delivery_item, None)


def language_codes(config: Config) -> tuple[str, ...]:
    langs = languages(config)
    return langs.order if langs else ()
