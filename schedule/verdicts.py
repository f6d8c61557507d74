"""The gate's verdicts, kept between requests of a long-running reader (the web page).

`gate.decide` stays the one check: this only remembers its result for an item until
something it reads changes.  What `decide(..., advice=False)` reads for its errors:

- the item as parsed (its digest is the sha256 of the file's bytes; the media sizes and
  captions' paths are read at parse time, so they are part of the Item; a caption file's own
  size is read by the gate, hence its stat in the stamp);
- the page sign-off of this item (`approved_by_page`), which the caller reads each request;
- the templates folder and its subfolders (the renderer caches compiled templates, so a
  changed template also means a new Renderer);
- the config, fixed for the life of the process that owns the cache.

The clock: its errors do not depend on ``now`` (the time checks that do, "past" and
"blackout", are warnings; not_after and repeat are compared with the item's own times), so
a kept verdict stays right as time passes (tests/test_windowed_reads.py compares kept
verdicts with fresh ones judged weeks later).
"""
from __future__ import annotations

import os
import threading
from datetime import datetime

from .config import Config
from .gate import Verdict, decide
from .model import Item
from .render import Renderer, template_files
from .signoff import approved_by_page


def templates_stamp(config: Config) -> tuple:
    """(path, mtime, size) of every file under the templates folder: a stat of a few files."""
    found = []
    for path in template_files(config):
        try:
            st = os.stat(path)
        except OSError:
            continue
        found.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(found)


def _item_stamp(item: Item, signed_by: str | None) -> tuple:
    captions = []
    for media in item.media:
        if media.captions is not None:
            try:
                st = os.stat(media.captions)
                captions.append((str(media.captions), st.st_mtime_ns, st.st_size))
            except OSError:
                captions.append((str(media.captions), None, None))
    return (item.digest, item.rel, item.path, tuple((m.rel, m.size) for m in item.media), tuple(captions), signed_by)


class Verdicts:
    """Item id -> (what it was judged on, the verdict), for one config."""

    def __init__(self, config: Config):
        self.config = config
        self._lock = threading.Lock()
        self._templates: tuple | None = None
        self._renderer: Renderer | None = None
        self._kept: dict[str, tuple[tuple, Verdict]] = {}

    def session(self) -> "Renderer":
        """Call once per request: a changed templates folder drops every kept verdict."""
        stamp = templates_stamp(self.config)
        with self._lock:
            if stamp != self._templates or self._renderer is None:
                self._templates, self._renderer, self._kept = stamp, Renderer(self.config), {}
            return self._renderer

    def verdict(self, item: Item, now: datetime, signoffs: dict[str, dict], renderer: Renderer | None = None
                ) -> Verdict:
        renderer = renderer or self.session()
        stamp = _item_stamp(item, approved_by_page(item, signoffs))
        kept = self._kept.get(item.id)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        verdict = decide(item, self.config, renderer, now, advice=False, signoffs=signoffs)
        if renderer is self._renderer:          # not one judged with templates since replaced
            self._kept[item.id] = (stamp, verdict)
        return verdict

    def forget_except(self, item_ids: set[str]) -> None:
        """Drop items no longer in the content folder (the web's re-scan calls this)."""
        with self._lock:
            self._kept = {k: v for k, v in self._kept.items() if k in item_ids}
