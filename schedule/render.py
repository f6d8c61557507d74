"""Item x channel -> Variant: the exact parts a network will receive.

Templates run in Jinja's SandboxedEnvironment with StrictUndefined, so a template can
neither reach into Python nor silently print nothing for a misspelt field.  Pure: no
network, no database.
"""
from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .config import Config
from .content import THREAD_SPLIT, display_path, split_parts
from .counting import truncate_to
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
            if (self.config.templates_dir / name).is_file():
                self._templates[name] = self._load(name)
                return self._templates[name]
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
        elif autothread and any(channel.count(p) > channel.max_length for p in pieces):
            pieces = autothread_split(pieces, channel)
        parts = tuple(Part(p, channel.count(p)) for p in pieces)
        variant = Variant(item_id=item.id, channel=channel_name, network=channel.network, parts=parts,
                          limit=channel.max_length, media=tuple(media), title=title, link=link, tags=tuple(tags),
                          problems=problems, extra={"planned_at": when, "lang": lang or item.extra.get("lang")},
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
    """Split over-long parts at sentence ends into a numbered thread ("1/3" at each end)."""
    budget = channel.max_length - channel.count(_NUMBER_RESERVE)
    chunks: list[str] = []
    for piece in pieces:
        if channel.count(piece) <= budget:
            chunks.append(piece)
            continue
        current = ""
        for paragraph_start, sentence in _sentences(piece, budget, channel):
            joiner = "\n\n" if paragraph_start else " "     # keep paragraph breaks inside a part
            candidate = f"{current}{joiner}{sentence}" if current else sentence
            if current and channel.count(candidate) > budget:
                chunks.append(current)
                current = sentence
            else:
                current = candidate
        if current:
            chunks.append(current)
    total = len(chunks)
    return [f"{chunk} {number}/{total}" for number, chunk in enumerate(chunks, 1)]


def _sentences(text: str, budget: int, channel: Channel) -> list[tuple[bool, str]]:
    """(starts a paragraph, sentence) pairs; a sentence longer than a post is cut between words."""
    out: list[tuple[bool, str]] = []
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()):
        first = True
        for sentence in (s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()):
            while channel.count(sentence) > budget:
                head = truncate_to(sentence, budget, channel.count, ellipsis="")
                if not head:
                    break
                out.append((first, head))
                first = False
                sentence = sentence[len(head):].strip()
            if sentence:
                out.append((first, sentence))
                first = False
    return out


__all__ = ["Renderer", "autothread_split", "THREAD_SPLIT", "camelcase"]
