"""The content folder as the web page sees it: one scanner for the whole process.

Reading 20,000 files takes seconds cold and ~0.1 s warm (a stat per file), too slow for
every request, so the folder is re-read in the background (the scanner re-parses only
files whose mtime or size changed) and requests use the last result.  Like the daemon,
a folder watch (watchfiles) triggers a re-read within a second of an edit, and a
periodic re-read every `[content] rescan_seconds` is the safety net where the OS gives
no watch.  Previews, the Post page and sign-off read their one file afresh, so the text
shown for sign-off is always the file's text at that moment.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from ..config import Config
from ..model import Item
from ..scanner import ContentScanner
from ..verdicts import Verdicts

log = logging.getLogger("civicpost.web")


class Content:
    def __init__(self, config: Config, interval: float | None = None, watch: bool = True):
        self.scanner = ContentScanner(config)
        self.interval = interval if interval is not None else config.rescan_seconds
        self.items: list[Item] = []
        self.by_id: dict[str, Item] = {}
        # The gate's verdict per file, kept until the file, its sign-off or the templates change.
        self.verdicts = Verdicts(config)
        self.refresh()
        self._stop = threading.Event()
        self._changed = threading.Event()
        threading.Thread(target=self._loop, name="civicpost-web-scan", daemon=True).start()
        if watch:
            threading.Thread(target=self._watch, name="civicpost-web-watch", daemon=True).start()

    def refresh(self) -> None:
        items = self.scanner.scan().items
        # One assignment each: request threads see either the old lists or the new ones.
        self.by_id = {item.id: item for item in items}
        self.items = items
        self.verdicts.forget_except(set(self.by_id))

    def fresh(self, item_id: str) -> Item | None:
        """The item read from its file now (for anything that shows or signs its text)."""
        known = self.by_id.get(item_id)
        if known is None:
            return None
        return next((i for i in ContentScanner(self.scanner.config).scan([known.path]).items if i.id == item_id), None)

    def warm(self, days_ahead: int = 42) -> None:
        """Judge, once, the items due from yesterday to ``days_ahead`` on (what the Now and
        Calendar pages show first), so a page does not wait for the gate after a start or an
        edit; only files that changed since are judged again."""
        from ..signoff import signoffs
        from ..timeutil import utcnow

        now = utcnow()
        start, end = now - timedelta(days=1), now + timedelta(days=days_ahead)
        records, renderer = signoffs(self.scanner.config), self.verdicts.session()
        for item in self.items:
            if self._stop.is_set():
                return
            if any(start <= when < end for when in item.times):
                self.verdicts.verdict(item, now, records, renderer)

    def _loop(self) -> None:
        first = True
        while not self._stop.is_set():
            if first:
                first = False
                self._warm_safely()
            self._changed.wait(self.interval)
            self._changed.clear()
            if self._stop.is_set():
                return
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - keep serving the last good read; the daemon reports file errors
                log.exception("re-reading the content folder failed; the page shows the last good read")
                continue
            self._warm_safely()

    def _warm_safely(self) -> None:
        try:
            self.warm()
        except Exception:  # noqa: BLE001 - only a head start: the pages judge what is not kept
            log.exception("judging the coming weeks' items ahead of the pages failed")

    def _watch(self) -> None:
        try:
            import watchfiles

            for _ in watchfiles.watch(self.scanner.config.content_dir, stop_event=self._stop, debounce=500,
                                      raise_interrupt=False):
                self._changed.set()
        except Exception as exc:  # noqa: BLE001 - no inotify: the periodic re-read still runs
            log.info("content folder watch unavailable (%s); re-reading every %ss", exc, self.interval)

    @property
    def stopping(self) -> threading.Event:
        """Set when the page stops: background work beside the scanner stops with it."""
        return self._stop

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
