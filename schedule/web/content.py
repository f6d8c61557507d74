"""The content folder as the web page sees it: one scanner for the whole process.

Reading 20,000 files takes seconds cold and ~0.1 s warm (a stat per file), too slow for
every request, so a background thread re-reads the folder every few seconds (the
scanner re-parses only files whose mtime or size changed) and requests use the last
result.  Previews still read their one file fresh (schedule/preview.py), so the text
shown for sign-off is always the file's text at that moment.
"""
from __future__ import annotations

import logging
import threading

from ..config import Config
from ..model import Item
from ..scanner import ContentScanner

log = logging.getLogger("civicpost.web")


class Content:
    def __init__(self, config: Config, interval: float | None = None):
        self.scanner = ContentScanner(config)
        # Never staler than the daemon's own rescan, and at most 5 s behind an edit.
        self.interval = interval if interval is not None else min(config.rescan_seconds, 5.0)
        self.items: list[Item] = []
        self.by_id: dict[str, Item] = {}
        self.refresh()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="civicpost-web-scan", daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        items = self.scanner.scan().items
        # One assignment each: request threads see either the old lists or the new ones.
        self.by_id = {item.id: item for item in items}
        self.items = items

    def fresh(self, item_id: str) -> Item | None:
        """The item read from its file now (for anything that shows or signs its text)."""
        known = self.by_id.get(item_id)
        if known is None:
            return None
        return next((i for i in ContentScanner(self.scanner.config).scan([known.path]).items if i.id == item_id), None)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - keep serving the last good read; the daemon reports file errors
                log.exception("re-reading the content folder failed; the page shows the last good read")

    def stop(self) -> None:
        self._stop.set()
