"""Logging: one line per event on stderr (journald adds the time), secrets masked."""
from __future__ import annotations

import logging
import sys

from .secrets import mask


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record)).replace("\n", " | ")


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    # No timestamp under systemd: journald records one; add it when run by hand.
    fmt = "%(levelname)s %(name)s: %(message)s" if not sys.stderr.isatty() else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(MaskingFormatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("apscheduler", "urllib3", "httpx", "watchfiles"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
