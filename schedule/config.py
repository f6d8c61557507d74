"""config.toml: settings only, never secrets.

Relative paths are resolved against the config file's folder so that
``--config elsewhere/config.toml`` works from any directory.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError

NETWORKS = ("x", "facebook", "instagram", "threads", "youtube", "mastodon", "bluesky", "linkedin", "log")
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
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{what}: {value!r} is not a date-time; write it like 2027-04-01T00:00",
                              str(path), _line_of(text, re.escape(str(value)))) from None
    if moment.tzinfo is None:
        from .timeutil import localize
        moment = localize(moment, tz)
    return moment


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
    paths = data.get("paths", {})

    def resolve(key: str, default: str) -> Path:
        return (base / str(paths.get(key, default))).resolve()

    channels: dict[str, ChannelConfig] = {}
    for name, table in (data.get("channels") or {}).items():
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
                                       utm=dict(table.get("utm") or {}), autothread=bool(table.get("autothread", False)),
                                       settings=settings)
    defaults = tuple(data.get("default_channels", list(channels)[:1]))
    for name in defaults:
        if name not in channels:
            raise ConfigError(f"default_channels names {name!r}, which has no [channels.{name}] table",
                              str(path), _line_of(text, r"^\s*default_channels"))
    content = data.get("content", {})
    sched = data.get("schedule", {})
    blackouts = []
    for entry in data.get("blackout", []) or []:
        try:
            start = _parse_time(entry["start"], tz, path, text, "[[blackout]] start")
            end = _parse_time(entry["end"], tz, path, text, "[[blackout]] end")
        except KeyError as exc:
            raise ConfigError(f"[[blackout]] needs {exc.args[0]!r}", str(path), _line_of(text, r"^\s*\[\[blackout\]\]")) from None
        blackouts.append(Blackout(start, end, str(entry.get("reason", "blackout")), tuple(entry.get("allow_tags", ()))))
    return Config(
        path=path, timezone=tz,
        content_dir=resolve("content", "content"), templates_dir=resolve("templates", "templates"),
        database=resolve("database", "var/civicpost.db"),
        default_channels=defaults, channels=channels,
        max_file_bytes=int(content.get("max_file_bytes", 1_000_000)),
        git_pull=bool(content.get("git_pull", False)),
        rescan_seconds=float(content.get("rescan_seconds", 30)),
        grace=timedelta(minutes=float(sched.get("grace_minutes", 15))),
        blackouts=tuple(blackouts),
        alert_urls=tuple((data.get("alerts") or {}).get("urls", ())),
        token_warn_days=int((data.get("channels_check") or {}).get("token_warn_days", 14)),
        raw=data,
    )


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

