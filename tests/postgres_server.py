"""A real PostgreSQL 15 for the tests: initdb + pg_ctl in a temp folder (#12).

PostgreSQL refuses to run as root, and CI runs as root, so the server runs as an
unprivileged user (``nobody``) from a folder that user owns; it listens on a free port on
127.0.0.1 (and its unix socket in that folder), with a password (scram-sha-256) so the
tests exercise the password paths a council's server would need.  Under CI a missing
PostgreSQL is an error; locally a loud skip naming .ci/postgres-install.sh.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

USER = "civicpost"                # the database superuser initdb creates
PASSWORD = "test-only-pg-secret"  # for this throw-away server only
INSTALL_HINT = "PostgreSQL 15 not installed: run .ci/postgres-install.sh (Debian package postgresql)"


def find_bin() -> Path | None:
    """Debian keeps the server binaries out of PATH, in /usr/lib/postgresql/<major>/bin."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "pg_ctl").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    if found and (Path(found).resolve().parent / "postgres").exists():
        return Path(found).resolve().parent
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.bin = find_bin()
        if self.bin is None:
            if os.environ.get("CI"):
                raise RuntimeError(INSTALL_HINT)       # CI must not pass without the real server
            pytest.skip(INSTALL_HINT)
        self.root = Path(tempfile.mkdtemp(prefix="civicpost-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "nobody", "--"]
            os.chown(self.root, 65534, 65534)
        self.host = "127.0.0.1"
        self.counter = 0

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=120,
                              cwd=self.root)
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> "PostgresServer":
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD)
        if self.as_user:
            os.chown(pwfile, 65534, 65534)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile),
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "-N")
        pwfile.unlink()
        # fsync off: these tests check civicpost's logic, not the disk; it makes CREATE DATABASE cheap.
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
                  "-w", "-t", "60", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@{self.host}:{self.port}/{database}"

    def admin(self):
        import psycopg
        return psycopg.connect(self.url(), password=PASSWORD, autocommit=True)

    def new_database(self) -> str:
        """A fresh, empty database (one per test): its url, without the password."""
        self.counter += 1
        name = f"ledger_{os.getpid()}_{self.counter}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
