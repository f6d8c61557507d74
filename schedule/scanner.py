"""The queue: every content file under content/, read once and remembered.

A re-scan re-reads only what changed (by mtime and size, then by hash) and reports which
files changed or disappeared, so the planner compares just those items.  Reading one
file is ``content.parse_item``; this module owns walking, caching and the cross-file
check (duplicate ids).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .config import Config
from .content import SUFFIXES, display_path, load_bytes, parse_item
from .errors import ContentError, Problem
from .model import Item


@dataclass
class ScanResult:
    items: list[Item] = field(default_factory=list)
    errors: list[ContentError] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)   # cross-file findings (duplicate ids)
    files: int = 0
    changed: dict[str, str | None] = field(default_factory=dict)   # path -> item id it had before (or None)
    removed: dict[str, str | None] = field(default_factory=dict)   # path -> item id it had


def content_files(root: Path, paths: Iterable[str | Path] | None = None) -> list[Path]:
    """Every content file under ``root`` (or under the files/folders named), sorted."""
    return [Path(p) for p, _ in _walk(root, paths)]


def _walk(root: Path, paths: Iterable[str | Path] | None = None) -> list[tuple[str, tuple[int, int]]]:
    """(path, (mtime_ns, size)) for every content file, from one scandir pass.

    Plain strings and DirEntry stats rather than pathlib: a 20,000-file rescan runs every
    30 seconds and pathlib objects alone cost a few hundred milliseconds.
    """
    media = str(root / "media")
    inside, walked = os.path.join(os.path.realpath(root), ""), {os.path.realpath(root)}
    found: list[tuple[str, tuple[int, int]]] = []

    def stamp(path: str) -> tuple[int, int]:
        try:
            st = os.stat(path)
            return (st.st_mtime_ns, st.st_size)
        except OSError:
            return (0, -1)

    def walk(folder: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):       # .git and editors' hidden files
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:                      # a symlink loop (ELOOP): reported when read; the scan goes on
                found.append((entry.path, (0, -1)))
                continue
            if is_dir:
                real = os.path.realpath(entry.path)
                if entry.is_symlink() and real in walked:
                    continue                         # a link back to a folder already walked (a loop)
                if entry.is_symlink() and not real.startswith(inside):
                    found.append((entry.path, (0, -1)))   # refused when read: content stays inside content/
                elif entry.path != media:        # content/media holds images and video
                    walked.add(real)
                    walk(entry.path)
            elif entry.name.endswith(SUFFIXES):
                try:
                    st = entry.stat()
                    found.append((entry.path, (st.st_mtime_ns, st.st_size)))
                except OSError:
                    found.append((entry.path, (0, -1)))

    for target in ([os.path.abspath(p) for p in paths] if paths else [str(root)]):
        if os.path.isdir(target):
            walk(target)
        else:
            found.append((target, stamp(target)))
    return found


@dataclass(slots=True)
class _Cached:
    stamp: tuple[int, int]
    digest: str
    item: Item | None
    error: ContentError | None


class ContentScanner:
    """Reads the queue and remembers it, so a re-scan re-reads only what changed.

    A file is re-read when its (mtime, size) changed; it is re-parsed only when its bytes'
    hash changed too (a ``touch`` or a git checkout of the same content costs one read).
    Each scan reports which files changed or disappeared, so the planner can look at
    just those items.
    """

    def __init__(self, config: Config):
        self.config = config
        self.cache: dict[str, _Cached] = {}

    def scan(self, paths: Iterable[str | Path] | None = None, progress=None) -> ScanResult:
        result = ScanResult()
        files = _walk(self.config.content_dir, paths)
        result.files = len(files)
        seen: set[str] = set()
        for path, stamp in files:
            seen.add(path)
            before = self.cache.get(path)
            entry = self._read(path, stamp, before)
            if entry is not before:
                result.changed[path] = before.item.id if before and before.item else None
            if entry.error:
                result.errors.append(entry.error)
            elif entry.item:
                result.items.append(entry.item)
            if progress:
                progress()
        if paths is None:
            for gone in set(self.cache) - seen:
                old = self.cache.pop(gone)
                result.removed[gone] = old.item.id if old.item else None
        from .languages import languages, merge_translations

        result.items = merge_translations(result.items, languages(self.config))
        result.problems.extend(duplicate_ids(result.items))
        return result

    def _read(self, path: str, stamp: tuple[int, int], cached: _Cached | None) -> _Cached:
        if cached and cached.stamp == stamp:
            return cached
        file = Path(path)
        rel = display_path(file, self.config)
        try:
            data = load_bytes(file, rel, self.config)
        except ContentError as exc:
            entry = _Cached(stamp, "", None, exc)
        else:
            digest = hashlib.sha256(data).hexdigest()
            if cached and cached.digest == digest:
                cached.stamp = stamp
                return cached
            try:
                entry = _Cached(stamp, digest, parse_item(data, file, rel, self.config, digest, lenient=True), None)
            except ContentError as exc:
                entry = _Cached(stamp, digest, None, exc)
        self.cache[path] = entry
        return entry


def duplicate_ids(items: list[Item]) -> list[Problem]:
    first: dict[str, Item] = {}
    problems = []
    for item in items:
        if item.id in first:
            problems.append(Problem(item.rel, item.line("id"), "error", "duplicate-id",
                                    f"id {item.id!r} is already used by {first[item.id].rel}: give this item its "
                                    "own id: (ids are permanent, never reuse one)"))
        else:
            first[item.id] = item
    return problems


def scan(config: Config, paths: Iterable[str | Path] | None = None, progress=None) -> ScanResult:
    return ContentScanner(config).scan(paths, progress)
