"""The one small error hierarchy.

The CLI turns any ``BotError`` into a single line and an exit code; anything else is a
bug and may show a traceback.  Messages must never contain secrets: channels pass
network messages through ``schedule.secrets.mask`` before raising.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict
from datetime import datetime


class BotError(Exception):
    """Base of every error civicpost expects and explains."""


class ConfigError(BotError):
    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path, self.line, self.message = path, line, message
        where = f"{path}:{line or 1}: " if path else ""
        super().__init__(f"{where}{message}")


class ContentError(BotError):
    """A content file cannot be read; always names the file and a line."""

    def __init__(self, path: str, line: int, message: str, code: str = "content"):
        self.path, self.line, self.message, self.code = str(path), int(line or 1), message, code
        super().__init__(f"{self.path}:{self.line}: error: {message}")


class LedgerError(BotError):
    """The ledger cannot be opened or written (full disk, permissions).  Nothing is posted
    while it lasts: a post is only sent once its `publishing` row is committed."""


class ChannelError(BotError):
    """A network said no, or could not be reached."""


class AuthError(ChannelError):
    """Credentials missing, expired or revoked: hold the channel, alert the admin."""


class RateLimited(ChannelError):
    def __init__(self, message: str, retry_at: datetime | None = None):
        self.retry_at = retry_at
        super().__init__(message)


class Rejected(ChannelError):
    """The network refused this content (too long, duplicate, bad media): never retried.

    ``duplicate`` marks the network's own "already posted" refusal: after an ambiguous
    attempt that may be our own post, so the publisher looks for it before failing."""

    def __init__(self, message: str, duplicate: bool = False):
        self.duplicate = duplicate
        super().__init__(message)


class Transient(ChannelError):
    """Timeouts, dropped connections, 5xx: retried with backoff.

    ``not_sent`` is True when the request certainly never reached the network (connection
    refused, connect timeout, name not resolved): resending it cannot post twice."""

    def __init__(self, message: str, not_sent: bool = False):
        self.not_sent = not_sent
        super().__init__(message)


class Ambiguous(Transient):
    """The call that creates a post failed after the request may have reached the network
    (read timeout, connection dropped after sending, 5xx): the post may be live.  Never
    resent before the network has been asked (its idempotency, or a read-back)."""


@dataclass(frozen=True)
class Problem:
    """One finding of validate/preview: ``path:line: level: message``."""

    path: str
    line: int
    level: str  # "error" | "warning"
    code: str
    message: str
    channel: str | None = None

    def __str__(self) -> str:
        where = f" [{self.channel}]" if self.channel else ""
        return f"{self.path}:{self.line}: {self.level}: {self.message}{where}"

    def as_dict(self) -> dict:
        return asdict(self)
