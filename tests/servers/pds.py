"""The real Bluesky PDS for tests: installed by .ci/bluesky-pds/pds.sh into a cache
folder ($CIVICPOST_PDS_DIR, default ~/.cache/civicpost/bluesky-pds), started on free ports.

Locally, a missing PDS skips the Bluesky tests with the reason; under CI (env CI set) it
is an error, because CI must really test against it.
"""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PDS_SH = ROOT / ".ci" / "bluesky-pds" / "pds.sh"
PDS_DIR = Path(os.environ.get("CIVICPOST_PDS_DIR", Path.home() / ".cache" / "civicpost" / "bluesky-pds"))


def unavailable() -> str | None:
    """Why the PDS cannot run here, or None."""
    if not PDS_SH.is_file():
        return f"{PDS_SH} not found"
    if not (PDS_DIR / "node_modules" / "@atproto" / "pds").is_dir():
        return f"Bluesky PDS not installed in {PDS_DIR}: run bash .ci/pds-install.sh"
    return None


def free_port_pair() -> int:
    """A port P with P-1 also free (the PDS uses P and its PLC directory P-1)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port - 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


class PDS:
    def __init__(self, extra_env: dict[str, str] | None = None):
        self.port = free_port_pair()
        done = subprocess.run(["bash", str(PDS_SH), "start", str(PDS_DIR), str(self.port)], capture_output=True,
                              text=True, timeout=120, env={**os.environ, **(extra_env or {})})
        if done.returncode != 0:
            raise RuntimeError(f"PDS did not start: {done.stderr[-2000:]}")
        self.pid = int(done.stdout.strip().splitlines()[-1])
        self.url = f"http://127.0.0.1:{self.port}"

    def account(self, handle: str, password: str) -> dict:
        import json

        done = subprocess.run(["bash", str(PDS_SH), "account", str(self.port), handle, password], capture_output=True,
                              text=True, timeout=60, check=True)
        return json.loads(done.stdout)

    def stop(self) -> None:
        try:
            os.kill(self.pid, 15)
        except ProcessLookupError:
            pass


_shared: PDS | None = None


def shared_pds() -> PDS:
    """One PDS per test session (starting one takes a few seconds)."""
    global _shared
    if _shared is None:
        import atexit

        _shared = PDS()
        atexit.register(_shared.stop)
    return _shared
