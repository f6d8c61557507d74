"""config.toml: settings only, never secrets.

Relative paths are resolved against the config file's folder so that
``--config elsewhere/config.toml`` works from any directory.
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .secrets import alert_urls

NETWORKS = ("x", "facebook", "instagram", "threads", "youtube", "mastodon", "bluesky", "linkedin", "log")
MAX_GRACE_MINUTES = 525_600        # a year: later than that is history, not news (config and items)
# Keys that look like secrets must not be in config.toml: they belong in the environment.
SECRET_KEYS = {"access_token", "access_token_secret", "consumer_secret", "consumer_key", "app_password",
               "password", "client_secret", "refresh_token", "token", "api_key", "secret"}


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    network: str
    api_base: str | None = None
    utm: dict[str, str] = field(default_factory=dict)
    autothread: bool = False
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Blackout:
    start: datetime
    end: datetime
    reason: str
    allow_tags: tuple[str, ...] = ()

    def covers(self, when: datetime) -> bool:
        return self.start <= when < self.end


@dataclass(frozen=True)
class Config:
    path: Path
    timezone: ZoneInfo
    content_dir: Path
    templates_dir: Path
    database: Path
    default_channels: tuple[str, ...]
    channels: dict[str, ChannelConfig]
    max_file_bytes: int = 1_000_000
    git_pull: bool = False
    rescan_seconds: float = 30.0
    grace: timedelta = timedelta(minutes=15)
    blackouts: tuple[Blackout, ...] = ()
    alert_urls: tuple[str, ...] = ()
    token_warn_days: int = 14
    database_url: str | None = None      # [database] url = "postgresql://..." (#12); None: SQLite at database
    raw: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        return value if isinstance(value, dict) else {}


def _line_of(text: str, pattern: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if re.search(pattern, line):
            return number
    return 1


def _parse_time(value: Any, tz: ZoneInfo, path: Path, text: str, what: str) -> datetime:
    line = _line_of(text, re.escape(value.isoformat() if isinstance(value, datetime) else str(value)))
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{what}: {value!r} is not a date-time; write it like 2027-04-01T00:00",
                              str(path), line) from None
    if moment.tzinfo is None:
        from .timeutil import AmbiguousTime, NonExistentTime, localize, nearest_real_time, offsets
        try:
            moment = localize(moment, tz)
        except NonExistentTime as exc:
            raise ConfigError(f"{what}: {exc}: choose another time, e.g. "
                              f"{nearest_real_time(moment, tz):%Y-%m-%dT%H:%M}, or add the offset, e.g. "
                              f"{moment:%Y-%m-%dT%H:%M}{offsets(moment, tz)[0]}", str(path), line) from None
        except AmbiguousTime as exc:
            first, second = offsets(moment, tz)
            raise ConfigError(f"{what}: {exc}: add the offset you mean, {moment:%Y-%m-%dT%H:%M}{first} (first) "
                              f"or {moment:%Y-%m-%dT%H:%M}{second} (second)", str(path), line) from None
    return moment


class _Reader:
    """Typed reads of config.toml: a value of the wrong type is one line naming the key and
    the fix, never a traceback, and never read as something else ("log" as l, o, g)."""

    def __init__(self, path: Path, text: str):
        self.path, self.text = path, text

    def fail(self, key: str, message: str) -> ConfigError:
        name = key.rsplit(".", 1)[-1]
        return ConfigError(message, str(self.path), _line_of(self.text, rf"^\s*\"?{re.escape(name)}\"?\s*="))

    def table(self, data: dict, key: str) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{key} = {value!r} must be a table: write [{key}] on its own line with its keys "
                              "below it", str(self.path), _line_of(self.text, rf"^\s*{re.escape(key)}\s*="))
        return value

    def number(self, table: dict, key: str, default: float, example: str, whole: bool = False,
               low: float = 0, high: float | None = None) -> float:
        value = table.get(key, default)
        kinds = (int,) if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or value < low \
                or (high is not None and value > high):
            limit = f" from {low:g} to {high:g}" if high is not None else f" of at least {low:g}"
            raise self.fail(key, f"{key} = {value!r} must be a {'whole ' if whole else ''}number{limit}, "
                                 f"without quotes or units: {key} = {example}")
        return value

    def flag(self, table: dict, key: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"{key} = {value!r} must be true or false (without quotes)")
        return value

    def strings(self, table: dict, key: str, default: list, example: str) -> list[str]:
        value = table.get(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"{key} = {value!r} must be a list of texts in square brackets: {key} = {example}")
        return value


def load_config(path: str | Path = "config.toml") -> Config:
    path = Path(path).expanduser().absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found: pass --config PATH or create config.toml", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = int(m.group(1)) if (m := re.search(r"line (\d+)", str(exc))) else 1
        raise ConfigError(f"not valid TOML: {exc}", str(path), line) from None
    base = path.parent
    tzname = data.get("timezone", "Europe/London")
    try:
        tz = ZoneInfo(str(tzname))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown timezone {tzname!r}; use an IANA name such as Europe/London",
                          str(path), _line_of(text, r"^\s*timezone")) from None
    read = _Reader(path, text)
    paths = read.table(data, "paths")
    for key, value in paths.items():
        if not isinstance(value, str):
            raise read.fail(key, f"[paths] {key} = {value!r} must be a path in quotes, e.g. {key} = \"{key}\"")

    def resolve(key: str, default: str) -> Path:
        return (base / str(paths.get(key, default))).resolve()

    channels: dict[str, ChannelConfig] = {}
    for name, table in read.table(data, "channels").items():
        line = _line_of(text, rf"^\s*\[channels\.\"?{re.escape(name)}\"?\]")
        if not isinstance(table, dict):
            raise ConfigError(f"[channels.{name}] must be a table", str(path), line)
        network = table.get("network")
        if network not in NETWORKS:
            hint = _network_hint(network)
            raise ConfigError(f"[channels.{name}] network = {network!r} is not one of: {', '.join(NETWORKS)}"
                              + (f" (did you mean network = \"{hint}\"?)" if hint else ""), str(path), line)
        leaked = sorted(k for k in table if k.lower() in SECRET_KEYS)
        if leaked:
            raise ConfigError(f"[channels.{name}] has secret key(s) {', '.join(leaked)}: remove them and set "
                              f"environment variables like CIVICPOST_{name.upper()}_{leaked[0].upper()} instead",
                              str(path), line)
        settings = {k: v for k, v in table.items() if k not in {"network", "api_base", "utm", "autothread"}}
        api_base = table.get("api_base")
        channels[name] = ChannelConfig(name=name, network=network,
                                       api_base=str(api_base).rstrip("/") if api_base else None,
                                       utm=dict(read.table(table, "utm")), autothread=read.flag(table, "autothread", False),
                                       settings=settings)
    defaults = tuple(read.strings(data, "default_channels", list(channels)[:1], '["council_x", "council_fb"]'))
    for name in defaults:
        if name not in channels:
            raise ConfigError(f"default_channels names {name!r}, which has no [channels.{name}] table",
                              str(path), _line_of(text, r"^\s*default_channels"))
    content = read.table(data, "content")
    sched = read.table(data, "schedule")
    alerts = read.table(data, "alerts")
    blackouts = []
    windows = data.get("blackout", []) or []
    if not isinstance(windows, list) or not all(isinstance(w, dict) for w in windows):
        raise ConfigError("blackout must be one or more [[blackout]] tables, each with start = ..., end = ..., "
                          "reason = \"...\"", str(path), _line_of(text, r"^\s*\[*\s*blackout"))
    for entry in windows:
        try:
            start = _parse_time(entry["start"], tz, path, text, "[[blackout]] start")
            end = _parse_time(entry["end"], tz, path, text, "[[blackout]] end")
        except KeyError as exc:
            raise ConfigError(f"[[blackout]] needs {exc.args[0]!r}", str(path), _line_of(text, r"^\s*\[\[blackout\]\]")) from None
        if end <= start:
            raise ConfigError(f"[[blackout]] end {end:%Y-%m-%d %H:%M} is not after its start {start:%Y-%m-%d %H:%M}: "
                              "it would hold nothing; swap them or fix the date", str(path),
                              _line_of(text, r"^\s*end\s*="))
        blackouts.append(Blackout(start, end, str(entry.get("reason", "blackout")),
                                  tuple(read.strings(entry, "allow_tags", [], '["ElectionInfo"]'))))
    # Lists and numbers other modules read from their sections: checked here, once, so a text
    # is never read as its letters ("cy" as c, y) and a word never reaches int().
    langs = read.table(data, "languages")
    read.strings(langs, "required", [], '["cy", "en"]')
    if langs.get("mode", "combined") not in ("combined", "paired"):
        raise read.fail("mode", f"[languages] mode = {langs['mode']!r} must be \"combined\" (one post with every "
                                "language) or \"paired\" (one post per language)")
    read.flag(read.table(data, "utm"), "enabled", True)
    approval = read.table(data, "approval")
    read.flag(approval, "required", False)
    read.strings(approval, "approvers", [], '["Tom Hughes"]')
    access = read.table(data, "accessibility")
    read.strings(access, "shorteners", [], '["bit.ly", "tinyurl.com"]')
    for key, example in (("max_emoji", "3"), ("max_grade", "9"), ("min_words_for_grade", "30"),
                         ("max_alt_length", "1000")):
        read.number(access, key, 0, example)
    read.flag(access, "require_captions", True)
    for key, example in (("retry_base_seconds", "30"), ("retry_max_seconds", "900"),
                         ("per_channel_concurrency", "25"), ("workers", "100"), ("job_horizon_hours", "6"),
                         ("stop_timeout_seconds", "30"), ("blocked_reminder_hours", "24")):
        read.number(sched, key, 1, example)
    if alerts.get("urls", []) != []:         # a text is refused too (not read as characters); never echoed
        # Apprise URLs carry passwords and webhook tokens (often in the path, where no check
        # can tell them from an address), so every one is a secret: none in config.toml.
        raise read.fail("urls", "[alerts] urls are secrets (passwords, webhook tokens): remove them from config.toml "
                                "and set CIVICPOST_ALERT_URLS or the credential file alert_urls (docs/admin.md)")
    database_path, database_url = _database(read, data, paths, resolve)
    config = Config(
        path=path, timezone=tz,
        content_dir=resolve("content", "content"), templates_dir=resolve("templates", "templates"),
        database=database_path, database_url=database_url,
        default_channels=defaults, channels=channels,
        max_file_bytes=int(read.number(content, "max_file_bytes", 1_000_000, "1000000", whole=True, low=1)),
        git_pull=read.flag(content, "git_pull", False),
        rescan_seconds=float(read.number(content, "rescan_seconds", 30, "30", low=1)),
        grace=timedelta(minutes=read.number(sched, "grace_minutes", 15, "15", high=MAX_GRACE_MINUTES)),
        blackouts=tuple(blackouts),
        alert_urls=alert_urls(),
        token_warn_days=int(read.number(read.table(data, "channels_check"), "token_warn_days", 14, "14", whole=True)),
        raw=data,
    )
    from .inbox.settings import check as check_inbox

    check_inbox(config, text)              # [inbox] (#11): the inbox's own readers, one truth
    return config


def _database(read: _Reader, data: dict, paths: dict, resolve) -> tuple[Path, str | None]:
    """`[database] url`: a postgresql:// url (#12) or a SQLite path; `[paths] database` (the
    older key) still names the SQLite file.  A url with a password is refused."""
    from .database import is_postgres, password_problem

    url = read.table(data, "database").get("url")
    if url is None:
        return resolve("database", "var/civicpost.db"), None
    if not isinstance(url, str) or not url.strip():
        raise read.fail("url", f"[database] url = {url!r} must be a postgresql:// url or a path in quotes, e.g. "
                               'url = "postgresql://db.example.org/civicpost" or url = "var/civicpost.db"')
    if "database" in paths:
        raise read.fail("url", "both [database] url and [paths] database name the ledger: keep one ([database] url)")
    if is_postgres(url):
        problem = password_problem(url)
        if problem:
            raise read.fail("url", f"[database] url: {problem}")
        return resolve("database", "var/civicpost.db"), url
    if "://" in url:
        raise read.fail("url", f"[database] url = {url!r}: only postgresql:// urls or SQLite paths are supported")
    return (read.path.parent / url).resolve(), None


# Names people write for the networks; difflib catches typos ("mastadon").
_NETWORK_ALIASES = {"twitter": "x", "fb": "facebook", "meta": "facebook", "ig": "instagram", "yt": "youtube",
                    "bsky": "bluesky", "toot": "mastodon", "li": "linkedin"}


def _network_hint(network: object) -> str | None:
    import difflib

    if not isinstance(network, str):
        return None
    word = network.strip().lower()
    if word in _NETWORK_ALIASES:
        return _NETWORK_ALIASES[word]
    close = difflib.get_close_matches(word, NETWORKS, n=1, cutoff=0.7)
    return close[0] if close else None

