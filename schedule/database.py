"""Which ledger: `[database] url` in config.toml picks the back end.

A ``postgresql://`` (or ``postgres://``) url is the PostgreSQL back end; anything else is a
path to a SQLite file (today's default, ``[paths] database``).  A url may not carry a
password: config.toml holds settings, never secrets.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from .ledger import Ledger, open_ledger

SCHEMES = ("postgresql://", "postgres://")
PASSWORD_FIX = ("remove the password from the url and set PGPASSWORD or CIVICPOST_DATABASE_PASSWORD, the systemd "
                "credential database_password, or a ~/.pgpass line (docs/admin.md)")


def is_postgres(spec: str | Path | None) -> bool:
    return isinstance(spec, str) and spec.lower().startswith(SCHEMES)


def password_problem(url: str) -> str | None:
    """Why this url may not be used, or None.  The password itself is never echoed."""
    parts = urlsplit(url)
    try:
        has_password = parts.password is not None
    except ValueError:
        has_password = False
    query = {k.lower() for k in parse_qs(parts.query, keep_blank_values=True)}
    if has_password or "password" in query:
        return f"the database url holds a password: {PASSWORD_FIX}"
    return None


def open_spec(spec: str | Path, tz: ZoneInfo, readonly: bool = False) -> Ledger | None:
    """A ledger from a url or a SQLite path.  Read-only opens never create one: None when
    there is no ledger yet (no file; no schema in the database)."""
    if is_postgres(spec):
        from .errors import LedgerError
        from .ledger_postgres import PostgresLedger

        problem = password_problem(str(spec))
        if problem:
            raise LedgerError(problem)
        ledger = PostgresLedger(str(spec), tz, readonly=readonly)
        if readonly and not ledger.has_schema():
            ledger.close()
            return None
        return ledger
    if readonly:
        return open_ledger(Path(spec), tz, readonly=True)
    return Ledger(Path(spec), tz)


def ledger_spec(config) -> str | Path:
    """The configured ledger: `[database] url` when it names PostgreSQL, else the SQLite path."""
    return getattr(config, "database_url", None) or config.database


def has_ledger(config) -> bool:
    """Whether there may be a ledger to read: the SQLite file exists, or a PostgreSQL url is
    set (whether its schema is there, a read-only open says)."""
    return is_postgres(ledger_spec(config)) or Path(config.database).exists()


def open_configured(config, readonly: bool = False) -> Ledger | None:
    """The factory every command uses: the back end the config names."""
    return open_spec(ledger_spec(config), config.timezone, readonly=readonly)
