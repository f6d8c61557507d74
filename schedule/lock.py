"""One daemon per ledger: an OS lock that dies with the process."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import BotError, LedgerError


class LedgerLock:
    """An flock on ``<ledger>.lock``, held for the daemon's life.

    The kernel drops it when the process ends, however it ends (kill -9 included), so it
    never goes stale the way a PID in the ledger can.  The file also holds the PID, only to
    name the running daemon in the refusal.
    """

    def __init__(self, database: Path):
        self.path = database.with_name(database.name + ".lock")
        self.file = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "unknown"
            handle.close()
            raise BotError(f"another civicpost daemon (PID {pid}) is already running on the ledger {self.path.stem}"
                           f": stop it first (systemctl stop civicpost, or kill {pid}); two daemons on one ledger "
                           "would post twice") from None
        except OSError as exc:
            handle.close()
            raise LedgerError(f"cannot lock {self.path}: {exc.strerror}: check that its folder is writable") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.file = handle                       # kept open: closing it would drop the lock
