"""Item x channel -> Variant: the exact parts a network will receive.

Templates run in Jinja's SandboxedEnvironment with StrictUndefined, so a template can
neither reach into Python nor silently print nothing for a misspelt field.  Pure: no
network, no database.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
from itertools import accumulate
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .config import Config
from .content import display_path
from .plain_text import THREAD_SPLIT, split_parts
from .counting import _GRAPHEME, truncate_to
from .errors import Problem
from .languages import combine, display_title, languages, mode_for, texts, titles
from .model import Item, Part, Variant
from .channels import make_channel
from .channels.base import Channel

TEMPLATE_SUFFIX = ".txt.j2"
# Sentence ends: ., ! or ? (optionally closed by a quote or bracket) then whitespace.  A
# regex on purpose: sentence splitters (pysbd, nltk) are heavy and council posts are short.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
_NUMBER_RESERVE = " 99/99"


def camelcase(tag: str) -> str:
    """'blackburn leisure' -> 'BlackburnLeisure'; words already in capitals keep them."""
    from .accessibility import camelcase_tag
    return camelcase_tag(tag)


class Renderer:
    def __init__(self, config: Config):
        self.config = config
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(config.templates_dir)), undefined=jinja2.StrictUndefined,
            autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
        self.env.filters.update(camelcase_tags=self._camelcase_tags, hashtag=lambda t: "#" + camelcase(str(t)),
                                utm=self._utm, fit=self._fit)
        self.channels: dict[str, Channel] = {}
        self._templates: dict[str, jinja2.Template | Problem] = {}
        # Template names with no file (e.g. a channel's own, most channels have none): looked
        # for once, not on every render (#12).  A Renderer lives until anything under
        # templates/ changes, a new file included (verdicts.templates_stamp): then a new one looks.
        self._absent: set[str] = set()

    @functools.cached_property
    def templates_digest(self) -> str:
        """What this Renderer's templates are: the leader stores it with each rendered variant
        (#12), so a node never posts a rendering made with templates other than its own
        (schedule/publisher.py).  Read on first use, not when a Renderer is made: preview,
        validate and the web page never need it (a daemon makes a new Renderer when its
        templates change, so the first use is of this Renderer's templates)."""
        return templates_digest(self.config)

    # ----- filters ---------------------------------------------------------------
    @staticmethod
    def _camelcase_tags(tags: Any) -> str:
        if isinstance(tags, str):
            tags = tags.split()
        return " ".join("#" + camelcase(str(t)) for t in tags if str(t).strip("# "))

    @jinja2.pass_context
    def _utm(self, context: Any, link: Any) -> str:
        """Add utm_source/medium/campaign for this channel unless the link already has them."""
        if not link:
            return ""
        channel = self.config.channels[context["channel"]["name"]]
        settings = {**self.config.section("utm"), **channel.utm}
        if settings.get("enabled", True) is False:
            return str(link)
        parts = urlsplit(str(link))
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(k.startswith("utm_") for k, _ in query):
            return str(link)
        query += [("utm_source", str(settings.get("source", channel.name))),
                  ("utm_medium", str(settings.get("medium", "social"))),
                  ("utm_campaign", str(settings.get("campaign", context["item"]["id"])))]
        return urlunsplit(parts._replace(query=urlencode(query)))

    @jinja2.pass_context
    def _fit(self, context: Any, text: Any, limit: int | None = None) -> str:
        """Truncate on a word boundary so the text fits, counted the way this network counts."""
        channel = self.channel(context["channel"]["name"])
        return truncate_to(str(text), limit or channel.max_length, channel.count)

    # ----- templates -------------------------------------------------------------
    def channel(self, name: str) -> Channel:
        if name not in self.channels:
            self.channels[name] = make_channel(self.config.channels[name])
        return self.channels[name]

    def template_for(self, channel: str, network: str) -> jinja2.Template | Problem:
        for name in (f"{channel}{TEMPLATE_SUFFIX}", f"{network}{TEMPLATE_SUFFIX}", f"default{TEMPLATE_SUFFIX}"):
            if name in self._templates:
                return self._templates[name]
            if name in self._absent:
                continue
            if (self.config.templates_dir / name).is_file():
                self._templates[name] = self._load(name)
                return self._templates[name]
            self._absent.add(name)
        return Problem(display_path(self.config.templates_dir, self.config), 1, "error", "template-missing",
                       f"no template for channel {channel}: create templates/{network}{TEMPLATE_SUFFIX} or "
                       f"templates/default{TEMPLATE_SUFFIX}", channel)

    def _load(self, name: str) -> jinja2.Template | Problem:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            return self._template_problem(name, exc.lineno, exc.message or str(exc))
        except (OSError, UnicodeDecodeError) as exc:
            return self._template_problem(name, 1, f"cannot read template: {exc}")

    def _template_problem(self, name: str, line: int, message: str, channel: str | None = None) -> Problem:
        path = display_path(self.config.templates_dir / name, self.config)
        return Problem(path, line or 1, "error", "template", f"template error: {message}", channel)

    def template_problems(self) -> list[Problem]:
        """Syntax-check every template, used or not (a broken one fails CI before it is needed)."""
        problems = []
        folder = self.config.templates_dir
        if not folder.is_dir():
            return [Problem(display_path(folder, self.config), 1, "error", "template-missing",
                            "templates folder not found: set [paths] templates in config.toml")]
        for path in sorted(folder.glob(f"*{TEMPLATE_SUFFIX}")):
            loaded = self._templates.get(path.name) or self._load(path.name)
            self._templates[path.name] = loaded
            if isinstance(loaded, Problem):
                problems.append(loaded)
        return problems

    # ----- rendering -------------------------------------------------------------
    def variants(self, item: Item, when: datetime | None = None, only: str | None = None) -> list[Variant]:
        """Every variant the item makes: one per channel, or one per language on channels
        that post bilingual items as pairs."""
        langs = languages(self.config)
        out = []
        for name in item.channels:
            if only is not None and name != only:
                continue
            paired = langs and mode_for(self.config.channels[name], langs) == "paired"
            for lang in (langs.order if paired else (None,)):
                variant = self.render(item, name, when, lang=lang)
                if variant is not None:
                    out.append(variant)
        return out

    def render(self, item: Item, channel_name: str, when: datetime | None = None,
               lang: str | None = None) -> Variant | None:
        """The Variant for one channel (and one language of a pair), or None when the item
        says ``skip: true`` for it."""
        channel = self.channel(channel_name)
        override = {**item.overrides.get(channel.network, {}), **item.overrides.get(channel_name, {})}
        if override.get("skip"):
            return None
        langs = languages(self.config)
        if langs:
            by_lang = texts(item, langs)
            body = by_lang.get(lang, item.body) if lang else combine(by_lang)
            override = {"body": body, **override}
            if lang:
                override.setdefault("title", titles(item, langs).get(lang, item.title))
                override["lang"] = lang
            else:                                # one post in every language: every title too
                override.setdefault("title", display_title(item, self.config))
        media = override.get("media", item.media)
        tags = override.get("tags", item.tags)
        link = override.get("link", item.link)
        title = str(override.get("title", item.title))
        when = when or (item.times[0] if item.times else None)
        problems: list[Problem] = []
        line = item.line(channel_name) if channel_name in item.overrides else item.body_line
        if "text" in override:
            text = override["text"]
        else:
            text, problem = self._run_template(item, channel, override, title, link, tags, media, when)
            if problem:
                problems.append(problem)
        pieces = split_parts(text) if text is not None else []
        autothread = override.get("autothread", item.autothread)
        if autothread is None:
            autothread = channel.config.autothread
        if not channel.threads:
            pieces = ["\n\n".join(p for p in pieces if p)] if pieces else []
        elif autothread and any(not _Limits(channel, "").fits(p) for p in pieces):
            pieces = autothread_split(pieces, channel)
        parts = tuple(Part(p, channel.count(p)) for p in pieces)
        variant = Variant(item_id=item.id, channel=channel_name, network=channel.network, parts=parts,
                          limit=channel.max_length, media=tuple(media), title=title, link=link, tags=tuple(tags),
                          problems=problems, extra={"planned_at": when, "lang": lang or item.extra.get("lang"),
                                 "in_reply_to": item.extra.get("in_reply_to")},
                          source=item.rel, line=line,
                          media_line=item.line(channel_name) if "media" in override else item.line("media"))
        if parts:
            variant.problems.extend(channel.validate(variant))
        return variant

    def _run_template(self, item: Item, channel: Channel, override: dict, title: str, link: str | None,
                      tags: tuple[str, ...], media: tuple, when: datetime | None) -> tuple[str | None, Problem | None]:
        template = self.template_for(channel.name, channel.network)
        if isinstance(template, Problem):
            return None, template
        context = {
            "item": {**item.extra, "id": item.id, "title": title, "body": override.get("body", item.body),
                     "lang": override.get("lang", item.extra.get("lang")),
                     "link": link, "tags": list(tags), "planned_at": when,
                     "media": [{"path": m.rel, "alt": m.alt, "kind": m.kind} for m in media]},
            "channel": {"name": channel.name, "network": channel.network, "label": channel.label,
                        "limit": channel.max_length, "threads": channel.threads},
        }
        try:
            return template.render(context), None
        except jinja2.TemplateError as exc:
            return None, self._template_problem(Path(template.filename or "").name, _template_line(template),
                                                exc.message or str(exc), channel.name)


def template_files(config: Config) -> list[Path]:
    """Every file under templates/ (subfolders too: a template may include another), in one
    fixed order: what the templates' stamp and digest are taken over."""
    return [Path(folder) / name for folder, _, names in sorted(os.walk(config.templates_dir)) for name in sorted(names)]


def templates_digest(config: Config) -> str:
    """sha256 over every file under templates/ (names and bytes): the same on every node
    whose checkout has the same templates."""
    digest = hashlib.sha256()
    for path in template_files(config):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        digest.update(f"{path.relative_to(config.templates_dir)}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _template_line(template: jinja2.Template) -> int:
    """The template line being rendered when it failed (Jinja rewrites the traceback so
    the template's own frame carries its file name and line)."""
    tb = sys.exc_info()[2]
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == template.filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def autothread_split(pieces: list[str], channel: Channel) -> list[str]:
    """Split over-long parts into a numbered thread, "1/3" at the end of every part.

    Cuts at the best place that fits: a paragraph break, then a sentence end, then a line
    break, then a space, and only inside a word longer than a whole post.  The link and
    hashtags at the end stay with the last sentence (never a part of tags alone).  The
    numbers are counted after the final split: if the total needs more digits than
    reserved, the split is done again with room for them.

    Linear in the text: each piece of text is measured a bounded number of times (once
    per cutting level it reaches), parts are packed with additive estimates, and each
    finished part is measured once exactly (bench/autothread.py).
    """
    limits = _Limits(channel, " 9/9")
    measured = [(piece, limits.measure(piece)) for piece in pieces]
    # A first guess at the number's width from the sizes; widened below if the thread is longer.
    guess = sum(max(-(-size // max(budget, 1)) for size, budget in zip(sizes, limits.budgets))
                for _, sizes in measured)
    digits = len(str(max(guess, 1)))
    while True:
        limits = _Limits(channel, f" {'9' * digits}/{'9' * digits}")
        chunks: list[str] = []
        for piece, sizes in measured:            # a piece's size does not depend on the reserve
            chunks.extend([piece] if limits.within(sizes) else _pack_piece(piece, sizes, limits))
        if len(str(len(chunks))) <= digits:
            break
        digits = len(str(len(chunks)))
    total = len(chunks)
    return [f"{chunk} {number}/{total}" for number, chunk in enumerate(chunks, 1)]


# Where an over-long text may be cut, best first, with the joiner that goes back between
# the pieces when they share a part: paragraphs, sentences, lines, words.
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_LEVELS = ((_PARAGRAPH, "\n\n"), (_SENTENCE_END, " "), (re.compile(r"[ \t]*\n\s*"), "\n"), (re.compile(r"\s+"), " "))
# A paragraph made only of links and hashtags (what the templates put last).
_TOKEN = r"(?:(?:https?://|www\.)\S+|#[^\s#]+)"
_LINKS_AND_TAGS = re.compile(rf"{_TOKEN}(?:\s+{_TOKEN})*", re.IGNORECASE)


class _Limits:
    """The channel's limits (its count and any second limit, e.g. Bluesky's bytes), less
    the room the part number takes."""

    def __init__(self, channel: Channel, reserve: str):
        self.rules = [(channel.count, channel.max_length - channel.count(reserve))]
        if channel.second_limit:
            maximum, count, _unit = channel.second_limit
            self.rules.append((count, maximum - count(reserve)))
        self.budgets = [budget for _, budget in self.rules]

    def measure(self, text: str) -> tuple[int, ...]:
        return tuple(count(text) for count, _ in self.rules)

    def within(self, sizes) -> bool:
        return all(size <= budget for size, budget in zip(sizes, self.budgets))

    def fits(self, text: str) -> bool:
        return self.within(self.measure(text))


def _split_trailer(piece: str) -> tuple[str, str]:
    """(body, the trailing paragraphs made only of links and hashtags), scanning back one
    paragraph at a time (a regex anchored at the end would be quadratic here)."""
    body, trailer = piece, ""
    while True:
        breaks = list(_PARAGRAPH.finditer(body, max(0, len(body) - 8192)))
        if not breaks:
            return body, trailer
        last = breaks[-1]
        paragraph = body[last.end():].strip()
        if not paragraph or not _LINKS_AND_TAGS.fullmatch(paragraph):
            return body, trailer
        body, trailer = body[: last.start()].rstrip(), paragraph + ("\n\n" + trailer if trailer else "")


def _pack_piece(piece: str, sizes: tuple[int, ...], limits: _Limits) -> list[str]:
    """One over-long piece into parts that fit, the trailing links and tags kept with the
    last words of the last sentence."""
    body, tail = _split_trailer(piece)
    if not tail or not body or not limits.fits(tail):
        return _pack(list(_atoms(piece, limits, sizes=sizes)), limits)
    atoms = list(_atoms(body, limits))
    last_joiner, last_text, _ = atoms.pop()
    words = last_text.split(" ")
    keep = 1                                     # as many of the last words as fit beside the tags
    while keep < len(words) and limits.fits(" ".join(words[-(keep + 1):]) + "\n\n" + tail):
        keep += 1
    final = " ".join(words[-keep:]) + "\n\n" + tail
    if not limits.fits(final):                   # not even one word fits beside them
        atoms.append((last_joiner, last_text, limits.measure(last_text)))
        return _pack(atoms, limits) + [tail]
    head = " ".join(words[:-keep])
    if head:
        atoms.append((last_joiner, head, limits.measure(head)))
    atoms.append((" " if head else last_joiner, final, limits.measure(final)))
    return _pack(atoms, limits)


def _atoms(text: str, limits: _Limits, level: int = 0, joiner: str = "", sizes=None):
    """The text as (joiner, piece, sizes) atoms that each fit, cut at the best level."""
    sizes = sizes if sizes is not None else limits.measure(text)
    if limits.within(sizes):
        yield joiner, text, sizes
        return
    if level == len(_LEVELS):
        yield from _cut_word(text, sizes, limits, joiner)
        return
    pattern, join = _LEVELS[level]
    parts = [part for part in (p.strip() for p in pattern.split(text)) if part]
    if len(parts) == 1 and parts[0] == text:     # nothing to cut at this level: same size, next level
        yield from _atoms(text, limits, level + 1, joiner, sizes)
        return
    for index, part in enumerate(parts):
        yield from _atoms(part, limits, level + 1, joiner if index == 0 else join)


def _cut_word(word: str, sizes, limits: _Limits, joiner: str):
    """A word longer than a post, cut between grapheme clusters.  Each cut looks at a
    window a few posts long and guesses the cut from the sizes before searching, so a huge
    word costs time in proportion to its length."""
    window_start = min(limits.budgets) + 64       # grows (doubling) while it still fits
    start = 0
    while start < len(word):
        window = window_start
        while start + window < len(word) and limits.fits(word[start:start + window]):
            window *= 2                          # cheap characters (a long URL): look further
        chunk = word[start:start + window]
        ends = list(accumulate(map(len, _GRAPHEME.findall(chunk))))

        def fits(k: int) -> bool:                # the first k clusters fit
            return limits.fits(chunk[: ends[k - 1]])

        n = len(ends)
        chunk_sizes = limits.measure(chunk)
        if limits.within(chunk_sizes):
            lo = n
        else:                                    # invariant: fits(lo) (one cluster always goes), not fits(hi)
            lo, hi = 1, n
            ratio = min(b / s for b, s in zip(limits.budgets, chunk_sizes) if s > 0)
            guess = min(max(int(n * ratio), 1), n - 1)
            if guess > lo and fits(guess):
                lo, step = guess, 1
                while lo + step < hi and fits(lo + step):
                    lo, step = lo + step, step * 2
                hi = min(hi, lo + step)
            elif guess > lo:
                hi, step = guess, 1
                while hi - step > lo and not fits(hi - step):
                    hi, step = hi - step, step * 2
                lo = max(lo, hi - step)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        piece = chunk[: ends[lo - 1]]
        yield (joiner if start == 0 else ""), piece, limits.measure(piece)
        start += len(piece)


def _pack(atoms: list, limits: _Limits) -> list[str]:
    """Greedy packing: add atoms to the part while the estimate (sizes add up, plus the
    joiner's characters) fits; each finished part is then measured once exactly, and if
    the estimate was short (a rule that does not add up), its last atoms move on."""
    chunks: list[str] = []
    queue = list(reversed(atoms))                # popped from the end: next atom last
    current: list = []
    used: list[int] = []
    while queue or current:
        if queue:
            atom = queue.pop()
            joiner, _text, sizes = atom
            if current:
                extra = [u + len(joiner) + s for u, s in zip(used, sizes)]
                if all(e <= b for e, b in zip(extra, limits.budgets)):
                    current.append(atom)
                    used = extra
                    continue
                queue.append(atom)               # it opens the next part
            else:
                current, used = [atom], list(sizes)
                continue
        while len(current) > 1 and not limits.fits(_join(current)):
            queue.append(current.pop())
        chunks.append(_join(current))
        current, used = [], []
    return chunks


def _join(atoms: list) -> str:
    return "".join((joiner if index else "") + text for index, (joiner, text, _sizes) in enumerate(atoms))


__all__ = ["Renderer", "autothread_split", "THREAD_SPLIT", "camelcase"]
