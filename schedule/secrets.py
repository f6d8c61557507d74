"""Credentials: from the environment or systemd credentials, never from config or content.

``CIVICPOST_<CHANNEL>_<FIELD>`` (channel name upper-cased, non-alphanumerics as ``_``) or
a file ``<channel>_<field>`` in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``).
Alert (apprise) URLs carry SMTP passwords and webhook tokens, so they are secrets too:
``CIVICPOST_ALERT_URLS`` or the file ``alert_urls``, one URL per line (or space-separated).
Every value read here is remembered so ``mask`` can scrub it from any text that is
about to be logged, stored in the ledger or shown in an error.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

_known: set[str] = set()
_longest_first: tuple[str, ...] = ()       # _known, longest first (a longer secret may contain a shorter)
_lock = threading.Lock()
# Bearer tokens and common secret-ish query parameters, masked even if we never read them.
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:access_token|refresh_token|client_secret|app_password|password|oauth_token|oauth_signature|input_token)[\"']?\s*[=:]\s*[\"']?)[^\s&\"',}]{4,}"),
]


def env_name(channel: str, field: str) -> str:
    return "CIVICPOST_" + re.sub(r"[^A-Za-z0-9]", "_", f"{channel}_{field}").upper()


def remember(value: str) -> None:
    global _longest_first
    if value and len(value) >= 4:
        with _lock:
            if value not in _known:
                _known.add(value)
                # Sorted here, once per new secret, not on every log line (a daemon with
                # hundreds of accounts remembers hundreds of values).
                _longest_first = tuple(sorted(_known, key=len, reverse=True))


def get_secret(channel: str, field: str) -> str | None:
    value = os.environ.get(env_name(channel, field))
    if value is None:
        creds = os.environ.get("CREDENTIALS_DIRECTORY")
        if creds:
            f = Path(creds) / f"{channel}_{field}"
            if f.is_file():
                value = f.read_text(encoding="utf-8").strip()
    if value:
        remember(value)
    return value or None


ALERT_URLS_ENV = "CIVICPOST_ALERT_URLS"
ALERT_URLS_FILE = "alert_urls"


def alert_urls() -> tuple[str, ...]:
    """The apprise URLs for alerts, each remembered for masking with its password and the
    long path parts that are webhook tokens (slack://TokenA/TokenB/TokenC)."""
    value = os.environ.get(ALERT_URLS_ENV)
    if value is None:
        creds = os.environ.get("CREDENTIALS_DIRECTORY")
        f = Path(creds) / ALERT_URLS_FILE if creds else None
        value = f.read_text(encoding="utf-8") if f is not None and f.is_file() else ""
    urls = tuple(u for u in value.split() if not u.startswith("#"))
    for url in urls:
        remember(url)
        parts = urlsplit(url)
        remember(parts.password or "")
        for piece in re.split(r"[/?&=:@]", f"{parts.netloc}/{parts.path}?{parts.query}"):
            if len(piece) >= 8 and any(c.isdigit() for c in piece):      # token-like, not "services"
                remember(piece)
    return urls


def mask(text: object) -> str:
    s = str(text)
    for value in _longest_first:               # a tuple, replaced whole: no lock needed to read it
        if value in s:
            s = s.replace(value, "***")
    for pattern in _PATTERNS:
        s = pattern.sub(lambda m: m.group(1) + "***", s)
    return s
