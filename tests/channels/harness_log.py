"""Harness for the `log` network, and the reference for the harness interface.

A harness owns a channel pointed at its test server (``self.channel``), the secret values
it put in the environment (``self.secrets``), and ways to read back what the network now
holds and to inject faults.  ``test_contract.py`` finds every ``harness_*.py`` by name.
"""
from __future__ import annotations

import logging

from schedule.channels.log import LogChannel
from schedule.config import ChannelConfig


class Harness:
    network = "log"
    has_urls = False            # whether receipts carry a public URL

    def __init__(self, tmp_path, monkeypatch):
        self.channel = LogChannel(ChannelConfig(name="council_log", network="log"))
        self.secrets: list[str] = []            # values put in the environment for this channel
        self.records: list[logging.LogRecord] = []
        self._handler = logging.Handler()
        self._handler.emit = self.records.append
        self._logger = logging.getLogger("civicpost.log")
        self._logger.addHandler(self._handler)
        self._old_level = self._logger.level
        self._logger.setLevel(logging.INFO)

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._old_level)

    # ----- reading back what was "posted" ---------------------------------------
    def _record(self, receipt) -> logging.LogRecord:
        return next(r for r in self.records if r.args[2] == receipt.remote_id)

    def posted_text(self, receipt) -> str:
        return self._record(receipt).args[6].replace("\\n", "\n")

    def media_count(self, receipt) -> int:
        media = self._record(receipt).args[7]
        return media.count("(alt: ") if media else 0

    def alt_texts(self, receipt) -> list[str]:
        media = self._record(receipt).args[7]
        return [chunk.split(")")[0] for chunk in media.split("(alt: ")[1:]]

    def reply_parent(self, receipt) -> str | None:
        parent = self._record(receipt).args[3]
        return None if parent == "-" else parent

    def count_posts_with(self, text: str) -> int:
        return sum(1 for r in self.records if r.args[6] == text.replace("\n", "\\n"))

    # ----- faults ------------------------------------------------------------------
    def supports_fault(self, kind: str) -> bool:
        return False            # writing to a log does not fail in these ways

    def fail_nth_post(self, n: int, kind: str) -> None:
        """Make the n-th post request from now (1-based) fail with fault ``kind``."""
        raise NotImplementedError

    def slow_next_post(self, seconds: float) -> None:
        raise NotImplementedError

    def inject_on_create(self, kind: str, delay: float = 0.0) -> None:
        """A "created_then_" fault (tests/servers/base.py) on the call that makes the post."""
        raise NotImplementedError
