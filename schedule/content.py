"""Content files (Markdown with YAML front matter) -> Items.

Reading is pure: no network, no database.  Every failure is a ``ContentError`` naming
the file, a line and the fix; one bad file never stops the others (``scanner.scan`` collects).
"""
from __future__ import annotations

import difflib
import errno
import hashlib
import functools
import mimetypes
import os
import re
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

from .config import MAX_GRACE_MINUTES, NETWORKS, Config
from .errors import ContentError, Problem
from .model import Item, Media
from .plain_text import THREAD_MARKER, markdown_to_text
from .timeutil import AmbiguousTime, NonExistentTime, TooManyTimes, localize, offsets, wall_clock_times

SUFFIXES = (".md", ".markdown")
MAX_REPEATS = 2000
CAPTION_SUFFIXES = (".srt", ".vtt")
KNOWN_FIELDS = {
    "id", "title", "publish_at", "channels", "media", "link", "tags", "draft", "expires", "not_after",
    "autothread", "grace_minutes", "thread", "repeat", "until", "approved_by", "author", "lang",
    "in_reply_to",
}

# Kept in Item.extra (templates and the audit trail read them) but known, so not "typos".
EXTRA_FIELDS = {"approved_by", "author", "lang", "body_cy", "body_en", "title_cy", "title_en",
                "in_reply_to"}
OVERRIDE_FIELDS = {"text", "body", "title", "link", "tags", "media", "thread", "autothread", "skip"}
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # the C loader keeps a 20,000-file scan fast
_ALIAS_HINT = re.compile(r"(^|[\s\[{,:-])[&*][^\s]")
_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:", re.MULTILINE)
mimetypes.add_type("text/vtt", ".vtt")
mimetypes.add_type("application/x-subrip", ".srt")


class _FrontMatter(YAMLHandler):
    """python-frontmatter's YAML handler with the two guards a public queue needs.

    Anchors/aliases are refused (an alias bomb expands to gigabytes when anything walks
    it) and the C loader is used when present.
    """

    def load(self, fm: str, **kwargs: Any) -> Any:
        if _ALIAS_HINT.search(fm):
            for event in yaml.parse(fm, Loader=_Loader):
                if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                    raise ValueError("anchors and aliases (&name / *name) are not allowed: write each value out")
        return yaml.load(fm, Loader=_Loader)


_HANDLER = _FrontMatter()


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def display_path(path: Path, config: Config) -> str:
    """How messages name a file: relative to the config file's folder (content/bins.md)."""
    return relative(path.absolute(), config.path.parent)


def read_item(path: Path, config: Config) -> Item:
    """Parse one content file.  Raises ContentError (file + line + fix) on anything wrong."""
    rel = display_path(path, config)
    return parse_item(load_bytes(path, rel, config), path, rel, config)


def load_bytes(path: Path, rel: str, config: Config) -> bytes:
    try:
        real = path.resolve() if path.is_symlink() else Path(_real_folder(str(path.parent))) / path.name
        if not _inside(real, config.content_dir):     # a symlinked file, or a file in a symlinked folder
            raise ContentError(rel, 1, "symlink points outside content/: copy the file into content/ instead",
                               "outside")
        size = path.stat().st_size
        if size > config.max_file_bytes:
            raise ContentError(rel, 1, f"file is {size} bytes, over the {config.max_file_bytes}-byte limit "
                               "([content] max_file_bytes): split it or shorten it", "too-big")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ContentError(rel, 1, "file not found: check the path", "missing") from None
    except (RuntimeError, OSError) as exc:  # RuntimeError: Path.resolve() on a symlink loop (Python < 3.13)
        if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
            raise ContentError(rel, 1, "symlink loop (the link points back at itself): remove the link or point "
                               "it at a real file", "symlink-loop") from None
        raise ContentError(rel, 1, f"cannot read file: {exc.strerror}; check its permissions", "unreadable") from None
    if len(data) > config.max_file_bytes:   # it grew between stat and read
        raise ContentError(rel, 1, f"file is over the {config.max_file_bytes}-byte limit ([content] "
                           "max_file_bytes): split it or shorten it", "too-big")
    return data


def parse_item(data: bytes, path: Path, rel: str, config: Config, digest: str | None = None,
               lenient: bool = False) -> Item:
    """`digest` is the sha256 of `data` when the caller has it already (the scanner does).

    Strict (the default) raises the first problem.  ``lenient`` (the scanner) returns the
    item with every field problem as an error in ``item.problems``, so validate reports them
    all at once (and the rendered lengths too) and the daemon blocks it."""
    digest = digest or hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")    # -sig: editors on Windows add a byte-order mark
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ContentError(rel, line, "not UTF-8 text: save the file as UTF-8", "encoding") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise ContentError(rel, text[: text.index("\x00")].count("\n") + 1,
                           "file contains a NUL byte: it is not a text file", "encoding")
    meta, body, body_line, lines = _split(text, rel)
    reader = _Reader(meta, lines, rel, config, path, lenient)
    return reader.item(body, body_line, digest)


def _split(text: str, rel: str) -> tuple[dict[str, Any], str, int, dict[str, int]]:
    if not _HANDLER.detect(text):
        return {}, text, 1, {}
    try:
        fm, body = _HANDLER.split(text)
    except ValueError:
        raise ContentError(rel, 1, "front matter starts with --- but has no closing --- line", "yaml") from None
    head = text.index(fm) if fm else 4
    fm_line = text[:head].count("\n") + 1
    body_line = fm_line + fm.count("\n") + 1
    try:
        meta = _HANDLER.load(fm)
    except ValueError as exc:
        raise ContentError(rel, fm_line, str(exc), "yaml") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = fm_line + (mark.line if mark else 0)
        problem = getattr(exc, "problem", None) or "cannot be read"
        raise ContentError(rel, line, f"front matter is not valid YAML ({problem}): check indentation, "
                           "and quote values that contain ': ' or start with a special character", "yaml") from None
    except RecursionError:
        raise ContentError(rel, fm_line, "front matter is nested too deeply", "yaml") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ContentError(rel, fm_line, f"front matter must be 'key: value' lines, not a {type(meta).__name__}",
                           "schema")
    # Interned keys: the daemon keeps 20,000 items, whose front matter shares a few key names.
    lines = {sys.intern(m.group(1)): fm_line + fm.count("\n", 0, m.start()) for m in _TOP_KEY.finditer(fm)}
    meta = {sys.intern(k) if isinstance(k, str) else k: v for k, v in meta.items()}
    body = body.lstrip("\n")
    if body:
        body_line = text.count("\n", 0, text.find(body, head + len(fm))) + 1
    return meta, body, body_line, lines


# A folder's real path, once per folder rather than per file (a 20,000-file scan).  The
# scanner's walk checks every symlinked folder afresh on each scan; this covers the paths
# named on the command line.
_real_folder = functools.lru_cache(maxsize=4096)(os.path.realpath)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


class _Reader:
    """Turns the front-matter mapping into an Item, one field at a time, with line numbers."""

    def __init__(self, meta: dict, lines: dict[str, int], rel: str, config: Config, path: Path,
                 lenient: bool = False):
        self.meta, self.lines, self.rel, self.config, self.path = meta, lines, rel, config, path
        self.lenient = lenient
        self.warnings: list[Problem] = []
        self.errors: list[ContentError] = []

    def fail(self, key: str, message: str, code: str = "schema") -> ContentError:
        return ContentError(self.rel, self.lines.get(key, 1), message, code)

    def warn(self, key: str, code: str, message: str) -> None:
        self.warnings.append(Problem(self.rel, self.lines.get(key, 1), "warning", code, message))

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.meta.get(key, default)
        if value is None:
            return default
        if isinstance(value, (dict, list)):
            raise self.fail(key, f"{key}: must be text, not a {type(value).__name__}")
        return str(value)

    def item(self, body: str, body_line: int, digest: str) -> Item:
        meta = self.meta
        for key in meta:
            if not isinstance(key, str):
                raise self.fail("", f"field name {key!r} must be text")
        ident = self.text("id") or relative(self.path.absolute(), self.config.content_dir).rsplit(".", 1)[0]
        if not ident.strip() or len(ident) > 200 or any(ord(c) < 32 for c in ident):
            raise self.fail("id", "id: must be one line of text, at most 200 characters")
        if "#" in ident:
            # "<id>#<lang>" names one language of a bilingual pair in the ledger: an id with
            # '#' could be taken for one (budget#faq would be the 'faq' post of 'budget').
            # Recorded, not raised: an older ledger's deliveries for such an id are then
            # blocked with this message instead of cancelled.
            where = "" if "id" in meta else " (it comes from the file name: rename the file or add an id: line)"
            self.errors.append(self.fail("id", f"id: {ident.strip()!r} contains '#', which civicpost keeps for the "
                                         f"languages of bilingual posts: use id: {ident.strip().replace('#', '-')} "
                                         f"instead{where}", "id-collides"))
        thread = meta.get("thread")
        if thread is not None:
            if not isinstance(thread, list) or not all(isinstance(p, (str, int, float)) for p in thread):
                raise self.fail("thread", "thread: must be a list of texts, one per post")
            if body.strip():
                raise self.fail("thread", "use either a thread: list or a body, not both")
            body = f"\n{THREAD_MARKER}\n".join(str(p).strip() for p in thread)
        # Each field is read even when an earlier one is wrong, so a file's problems are all
        # reported at once (a clock-change error must not hide the rest).
        channels = self.soft(self.channel_list, ())
        times, repeat = self.soft(self.times, ((), None))
        overrides = {k: v for k, v in meta.items() if k in self.config.channels or k in NETWORKS}
        for name, table in list(overrides.items()):
            overrides[name] = self.soft(lambda: self.override_table(name, table), {})
        extra = {k: v for k, v in meta.items() if k not in KNOWN_FIELDS - EXTRA_FIELDS and k not in overrides}
        for key in set(extra) - EXTRA_FIELDS:
            close = difflib.get_close_matches(key, sorted(KNOWN_FIELDS), n=1, cutoff=0.8)
            if close:
                self.warn(key, "unknown-field", f"unknown field {key!r}: did you mean {close[0]!r}?")
        if "in_reply_to" in meta:       # a reply from the inbox (#11): one channel, native reply
            self.soft(lambda: self.in_reply_to(meta["in_reply_to"], channels), None)
        grace = self.soft(self.grace, None)
        autothread = self.soft(lambda: self.flag("autothread", None), None)
        draft = self.soft(lambda: self.flag("draft", False), False)
        media = self.soft(lambda: self.media_list(meta.get("media"), "media"), ())
        tags = self.soft(lambda: self.tag_list(meta.get("tags"), "tags"), ())
        not_after = self.soft(self.not_after, None)
        if self.errors and not self.lenient:
            raise self.errors[0]
        problems = [Problem(e.path, e.line, "error", e.code, e.message) for e in self.errors]
        return Item(
            id=ident.strip(), path=self.path, rel=self.rel, title=self.text("title", "") or "",
            body=markdown_to_text(body), times=times, channels=channels,
            media=media, link=self.text("link"),
            tags=tags, draft=draft, not_after=not_after,
            autothread=autothread, grace_minutes=grace, overrides=overrides, extra=extra, lines=self.lines,
            body_line=body_line, problems=tuple(problems + self.warnings), repeat=repeat, digest=digest,
        )

    def in_reply_to(self, value, channels) -> None:
        from .inbox.replies import check_in_reply_to

        problem = check_in_reply_to(value, channels, self.config)
        if problem:
            raise self.fail("in_reply_to", problem)

    def soft(self, read, default):
        """One field: a problem in it is recorded (and the default used) so the other fields
        are still read and checked; the item then carries the errors and is never sent."""
        try:
            return read()
        except ContentError as exc:
            self.errors.append(exc)
            return default

    def grace(self) -> float | None:
        grace = self.meta.get("grace_minutes")
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, (int, float)) or
                                  not 0 <= grace <= MAX_GRACE_MINUTES):     # .inf/.nan would break the planner
            raise self.fail("grace_minutes", f"grace_minutes: must be a number of minutes from 0 to "
                            f"{MAX_GRACE_MINUTES} (a year), e.g. 30", "grace")
        return grace

    def flag(self, key: str, default: bool | None) -> bool | None:
        value = self.meta.get(key, default)
        if value is not default and not isinstance(value, bool):
            raise self.fail(key, f"{key}: must be true or false")
        return value

    def override_table(self, name: str, table: Any) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise self.fail(name, f"{name}: must be a table like '{name}: {{text: ...}}'")
        unknown = set(table) - OVERRIDE_FIELDS
        if unknown:
            raise self.fail(name, f"{name}: unknown override {sorted(unknown)[0]!r}; use "
                            + ", ".join(sorted(OVERRIDE_FIELDS)))
        return self.override(name, table)

    def override(self, name: str, table: dict) -> dict[str, Any]:
        out = dict(table)
        for key in ("text", "body", "title", "link"):
            if key in out and (out[key] is None or isinstance(out[key], (dict, list))):
                raise self.fail(name, f"{name}: {key} must be text")
        if "text" in out:
            out["text"] = markdown_to_text(str(out["text"]))
        if "body" in out:
            out["body"] = markdown_to_text(str(out["body"]))
        if "thread" in out:
            if not isinstance(out["thread"], list):
                raise self.fail(name, f"{name}: thread must be a list of texts")
            out["text"] = f"\n{THREAD_MARKER}\n".join(markdown_to_text(str(p)) for p in out.pop("thread"))
        if "media" in out:
            out["media"] = self.media_list(out["media"], name)
        if "tags" in out:
            out["tags"] = self.tag_list(out["tags"], name)
        for key in ("skip", "autothread"):
            if key in out and not isinstance(out[key], bool):
                raise self.fail(name, f"{name}: {key} must be true or false")
        return out

    def channel_list(self) -> tuple[str, ...]:
        value = self.meta.get("channels")
        if value is None:
            return tuple(self.config.default_channels)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail("channels", "channels: must be a list of channel names, e.g. [x, facebook]")
        for name in value:
            if name not in self.config.channels:
                known = ", ".join(sorted(self.config.channels)) or "none configured"
                raise self.fail("channels", f"unknown channel {name!r}: config.toml has {known}", "unknown-channel")
        return tuple(dict.fromkeys(value))

    def tag_list(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            raise self.fail(key, f"{key}: must be a list of words, e.g. [BinDay, Recycling]")
        return tuple(str(v).lstrip("#").strip() for v in value if str(v).strip("# "))

    def moment(self, key: str, value: Any) -> datetime:
        tz = self.config.timezone
        value = quoted_date(value)
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            raise self.fail(key, f"{key}: {value} has no time of day: write it like {value}T09:00", "time")
        else:
            try:
                moment = datetime.fromisoformat(str(value).strip())
            except ValueError:
                raise self.fail(key, f"{key}: {value!r} is not a date and time: write it like 2027-03-01T09:00 "
                                "(local time) or 2027-03-01T09:00+00:00", "time") from None
        if moment.tzinfo is None:
            try:
                return localize(moment, tz)
            except NonExistentTime as exc:
                raise self.fail(key, f"{key}: {exc}: choose another time or add the offset, e.g. "
                                f"{moment:%Y-%m-%dT%H:%M}{offsets(moment, tz)[0]}", "time-gap") from None
            except AmbiguousTime as exc:
                first, second = offsets(moment, tz)
                raise self.fail(key, f"{key}: {exc}: add the offset you mean, {moment:%Y-%m-%dT%H:%M}{first} "
                                f"(first) or {moment:%Y-%m-%dT%H:%M}{second} (second)", "time-ambiguous") from None
        return moment.astimezone(tz)

    def times(self) -> tuple[tuple[datetime, ...], str | None]:
        meta = self.meta
        start = self.moment("publish_at", meta["publish_at"]) if meta.get("publish_at") is not None else None
        repeat = meta.get("repeat")
        if repeat is None:
            if "until" in meta:
                raise self.fail("until", "until: only makes sense with repeat:")
            return ((start,) if start else ()), None
        if not isinstance(repeat, str):
            raise self.fail("repeat", "repeat: must be a cron expression in quotes, e.g. \"0 9 * * MON\"")
        if meta.get("until") is None:
            raise self.fail("repeat", "repeat: needs until: (the last date), e.g. until: 2027-03-31")
        until_value = quoted_date(meta["until"])
        if isinstance(until_value, date) and not isinstance(until_value, datetime):
            until_value = datetime.combine(until_value, time(23, 59, 59))
        until = self.moment("until", until_value)
        return expand_repeat(repeat, start, until, self.config.timezone, self), repeat

    def not_after(self) -> datetime | None:
        keys = [k for k in ("not_after", "expires") if self.meta.get(k) is not None]
        if len(keys) == 2:
            raise self.fail("expires", "use not_after: or expires:, not both (they mean the same)")
        if not keys:
            return None
        value = quoted_date(self.meta[keys[0]])
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime.combine(value, time(23, 59, 59))   # a date means "until the end of that day"
        return self.moment(keys[0], value)

    def media_list(self, value: Any, key: str) -> tuple[Media, ...]:
        if value is None:
            return ()
        if isinstance(value, (str, dict)):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(key, f"{key}: must be a list of {{path: ..., alt: ...}}")
        out = []
        for entry in value:
            if isinstance(entry, str):
                entry = {"path": entry}
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise self.fail(key, f"{key}: each entry needs path: (and alt: for images), e.g. "
                                "- {path: media/pool.jpg, alt: \"Children in the new pool\"}")
            alt = entry.get("alt", "")
            if not isinstance(alt, (str, type(None))):
                raise self.fail(key, f"{key}: alt for {entry['path']} must be text")
            out.append(self.one_media(key, entry["path"], (alt or "").strip(), entry.get("captions")))
        return tuple(out)

    def one_media(self, key: str, rel: str, alt: str, captions: Any) -> Media:
        path = self.resolve_file(key, rel, "media file")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        kind = "image" if mime.startswith("image/") else "video" if mime.startswith("video/") else "other"
        caption_path = None
        if captions is not None:
            if not isinstance(captions, str):
                raise self.fail(key, f"{key}: captions for {rel} must be a path to a .srt or .vtt file")
            caption_path = self.resolve_file(key, captions, "captions file")
            if caption_path.suffix.lower() not in CAPTION_SUFFIXES:
                raise self.fail(key, f"{key}: captions {captions} must be a .srt or .vtt file", "captions-type")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise self.fail(key, f"{key}: cannot read {rel}: {exc.strerror}", "media-missing") from None
        if not os.access(path, os.R_OK):
            raise self.fail(key, f"{key}: cannot read {rel}: check its permissions", "media-missing")
        return Media(path=path, rel=rel, alt=alt, kind=kind, mime=mime, size=size, captions=caption_path)

    def resolve_file(self, key: str, rel: str, what: str) -> Path:
        root = self.config.content_dir
        try:
            candidate = (root / rel).resolve()
        except (ValueError, OSError) as exc:      # a NUL byte, a symlink loop, a name too long
            raise self.fail(key, f"{key}: {what} {rel!r} is not a usable file name ({exc}): write its path "
                            "relative to content/, e.g. media/pool.jpg", "media-missing")
        if not _inside(candidate, root):
            raise self.fail(key, f"{key}: {what} {rel} is outside content/: put it in content/media/ and write "
                            "its path relative to content/", "media-outside")
        if not candidate.is_file():
            raise self.fail(key, f"{key}: {what} {rel} not found (paths are relative to content/, e.g. "
                            "media/pool.jpg)", "media-missing")
        return candidate


def quoted_date(value: Any) -> Any:
    """A quoted "2030-01-20" means what the unquoted date means (YAML reads only the latter
    as a date), so it is not silently midnight."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return value
    return value


def expand_repeat(expression: str, start: datetime | None, until: datetime, tz, reader: _Reader) -> tuple[datetime, ...]:
    """Every time a cron expression fires from ``start`` to ``until``, in local wall time,
    with the clock-change nights made explicit (``timeutil.wall_clock_times``): in the
    autumn overlap it fires once, at the first of the two times (summer time); in the spring
    gap that day's time does not exist, so that day is skipped, with a warning."""
    try:
        first = start or datetime.now(tz).replace(second=0, microsecond=0)
        times, skipped = wall_clock_times(expression.strip(), first, until, tz, MAX_REPEATS)
    except TooManyTimes:
        raise reader.fail("until", f"repeat: fires more than {MAX_REPEATS} times before until: choose an "
                          "earlier until: date", "repeat") from None
    except ValueError as exc:
        raise reader.fail("repeat", f"repeat: {expression!r} is not a cron expression ({exc}); write "
                          "minute hour day month weekday, e.g. \"0 9 * * MON\"", "repeat") from None
    for missing in skipped:
        reader.warn("repeat", "repeat-gap", f"repeat: no post on {missing:%a %d %b %Y}: {missing:%H:%M} does not "
                    f"exist in {tz.key} that night (the clocks go forward), so that day is skipped; add a one-off "
                    f"item with another time that day if it is needed")
    return tuple(times)
