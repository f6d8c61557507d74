"""The content folder as a git checkout: `git pull` before a rescan, and the commit and
author that last changed each file (for the audit trail)."""
from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from .secrets import mask

log = logging.getLogger("civicpost.daemon")


def git_pull(folder: Path, alerter) -> None:
    try:
        done = subprocess.run(["git", "-C", str(folder), "pull", "--ff-only", "--quiet"],
                              capture_output=True, text=True, timeout=120)
        error = done.stderr.strip() if done.returncode else None
    except (OSError, subprocess.TimeoutExpired) as exc:
        error = str(exc)
    if error:
        log.error("git pull failed: %s", mask(error))
        alerter.send("git-pull", "civicpost: git pull failed", f"{mask(error)}\nPosting continues from "
                     "the content already checked out.")
    else:
        alerter.clear("git-pull")


class GitIndex:
    """file -> (commit, author) of its latest change, from one `git log` per new HEAD."""

    def __init__(self) -> None:
        self.commits: dict = {}
        self.current: dict[str, tuple[str, str]] | None = None

    def forget(self) -> None:
        self.current = None

    def lookup(self, folder: Path, item) -> tuple[str | None, str | None]:
        """The commit and author that last changed the item's file (for the audit trail)."""
        if self.current is None:
            self.current = self.index(folder)
        return self.current.get(str(item.path), (None, None))

    def index(self, folder: Path) -> dict[str, tuple[str, str]]:
        try:
            head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD", "--show-toplevel"],
                                  capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        if head.returncode != 0:
            return {}                            # content/ is not a git checkout
        sha, top = head.stdout.split()[:2]
        if self.commits.get("head") != sha:
            log_out = subprocess.run(["git", "-C", str(folder), "log", "--format=%x1e%H%x1f%an <%ae>", "--name-only",
                                      "--", "."], capture_output=True, text=True, timeout=300).stdout
            index: dict[str, tuple[str, str]] = {}
            for record in log_out.split("\x1e")[1:]:
                header, _, names = record.partition("\n")
                commit, _, author = header.partition("\x1f")
                for name in names.split("\n"):
                    if name.strip():
                        index.setdefault(str(Path(top) / name.strip()), (commit, author))
            self.commits = {"head": sha, "index": index}
        return self.commits["index"]
