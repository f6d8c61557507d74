"""The immutable values that flow one way: Item -> Variant -> Receipt."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import Problem


@dataclass(frozen=True, slots=True)
class Media:
    path: Path          # absolute, resolved, inside content/
    rel: str            # as written in the content file (shown to users)
    alt: str
    kind: str           # "image" | "video" | "other"
    mime: str
    size: int
    captions: Path | None = None

    def as_dict(self) -> dict:
        return {"path": self.rel, "alt": self.alt, "kind": self.kind, "mime": self.mime, "size": self.size}


@dataclass(frozen=True, slots=True)       # slots: 20,000 items stay small in the daemon
class Item:
    id: str
    path: Path
    rel: str                                # path relative to content/ for messages
    title: str
    body: str                               # plain text, parts separated by the thread marker
    times: tuple[datetime, ...]             # every planned time (recurring items have many)
    channels: tuple[str, ...]
    media: tuple[Media, ...] = ()
    link: str | None = None
    tags: tuple[str, ...] = ()
    draft: bool = False
    not_after: datetime | None = None
    autothread: bool | None = None
    grace_minutes: float | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)      # any other front-matter field
    lines: dict[str, int] = field(default_factory=dict)       # front-matter key -> line number
    body_line: int = 1
    problems: tuple[Problem, ...] = ()                         # found while reading (warnings, soft errors)
    repeat: str | None = None
    digest: str = ""                                           # hash of the file bytes

    def line(self, key: str) -> int:
        return self.lines.get(key, 1)


@dataclass(frozen=True)
class Part:
    text: str
    length: int

    @property
    def digest(self) -> str:
        return text_hash(self.text)


@dataclass
class Variant:
    item_id: str
    channel: str
    network: str
    parts: tuple[Part, ...]
    limit: int
    media: tuple[Media, ...] = ()
    title: str = ""
    link: str | None = None
    tags: tuple[str, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    source: str = ""        # the content file, for problem messages
    line: int = 1           # where the body starts in it
    media_line: int = 1     # where `media:` is in it

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.parts)

    @property
    def digest(self) -> str:
        return text_hash(self.text + "\0" + self.title + "\0" + "|".join(m.rel for m in self.media))

    def as_dict(self) -> dict:
        return {
            "channel": self.channel, "network": self.network,
            "parts": [{"text": p.text, "length": p.length} for p in self.parts],
            "limit": self.limit, "title": self.title,
            "media": [{"path": m.rel, "alt": m.alt, **({"sent_as": self.extra["sent_as"][m.rel]} if m.rel in
                                                        self.extra.get("sent_as", {}) else {})} for m in self.media],
            "problems": [p.as_dict() for p in self.problems],
        }


@dataclass(frozen=True)
class Receipt:
    """What a network gave back for one posted part (the first part names the thread)."""

    remote_id: str
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)   # e.g. Bluesky cid/uri for reply refs


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Incoming:
    """One message read back from a network (the inbox): a reply, comment or mention.

    ``own`` marks the council's own replies (made in the network's app or by civicpost),
    which answer a resident's message rather than wait in the inbox."""
    remote_id: str
    kind: str                               # "reply" | "comment" | "mention" | "dm"
    text: str
    created_at: datetime                    # aware
    author: str = ""
    author_id: str = ""
    url: str | None = None
    parent_id: str | None = None            # the remote id it replies to
    conversation: str | None = None         # the thread's root remote id
    answers: str | None = None              # the council's post (remote id) it is under, if known
    edited_at: datetime | None = None
    deleted: bool = False
    own: bool = False
    language: str | None = None             # as the network reports it


@dataclass(frozen=True)
class InboxPage:
    """What one read call found, and the cursor to start from next time (None: unchanged)."""
    messages: tuple[Incoming, ...] = ()
    cursor: str | None = None
    # True when every current reply under the posts asked about is listed: a stored
    # reply that is missing was deleted on the network (its text stays in the ledger).
    complete: bool = False
    missing_posts: tuple[str, ...] = ()     # council posts the network no longer has
