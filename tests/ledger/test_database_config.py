"""`[database] url` picks the back end; the password never comes from config.toml (#12).

libpq's own password sources are documented at
https://www.postgresql.org/docs/15/libpq-envars.html (PGPASSWORD, PGPASSFILE) and
https://www.postgresql.org/docs/15/libpq-pgpass.html (hostname:port:database:username:password).
"""
from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from bot import cli
from schedule.database import open_configured
from schedule.errors import BotError, ConfigError
from tests.postgres_server import PASSWORD


def test_the_paths_default_still_names_the_sqlite_file(project):
    project.write_config(extra='[paths]\ndatabase = "var/here.db"\n')
    config = project.config()
    assert config.database == project.root / "var" / "here.db" and config.database_url is None


def test_a_url_or_a_path(project):
    project.write_config(extra='[database]\nurl = "postgresql://db.example.org:5433/civicpost?sslmode=require"\n')
    assert project.config().database_url == "postgresql://db.example.org:5433/civicpost?sslmode=require"
    project.write_config(extra='[database]\nurl = "var/other.db"\n')
    config = project.config()
    assert config.database == project.root / "var" / "other.db" and config.database_url is None


@pytest.mark.parametrize("url", ["postgresql://civicpost:s3cret-pw@db.example.org/civicpost",
                                 "postgresql://civicpost@db.example.org/civicpost?password=s3cret-pw"])
def test_a_password_in_the_url_is_refused_with_the_fix(project, url):
    project.write_config(extra=f'[database]\nurl = "{url}"\n')
    with pytest.raises(ConfigError) as caught:
        project.config()
    message = str(caught.value)
    assert message.startswith(f"{project.config_path}:4: ") and "holds a password" in message
    assert "PGPASSWORD" in message and "CIVICPOST_DATABASE_PASSWORD" in message and "s3cret-pw" not in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("extra, words", [
    ('[database]\nurl = "mysql://db/civicpost"\n', "only postgresql://"),
    ('[database]\nurl = 5432\n', "must be a postgresql:// url or a path"),
    ('[paths]\ndatabase = "var/a.db"\n[database]\nurl = "var/b.db"\n', "keep one"),
])
def test_other_database_settings_are_one_line_errors(project, extra, words):
    project.write_config(extra=extra)
    with pytest.raises(ConfigError, match=words):
        project.config()


def test_commands_use_the_postgresql_ledger_the_config_names(project, pg_url):
    project.write_config(extra=f'[database]\nurl = "{pg_url}"\n')
    status = CliRunner().invoke(cli, ["--config", str(project.config_path), "queue", "--json"])
    assert status.exit_code == 0, status.output
    ledger = open_configured(project.config())
    assert type(ledger).__name__ == "PostgresLedger"
    ledger.set_meta(paused="1", paused_by="amy", paused_reason="storm")
    ledger.close()
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), "status", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["paused"] is True and shown["ledger"] == pg_url and not (project.root / "var").exists()


@pytest.fixture
def without_env_password(monkeypatch):
    monkeypatch.delenv("CIVICPOST_DATABASE_PASSWORD", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent/pgpass")


def test_the_password_is_required_and_never_echoed(project, pg_url, without_env_password, monkeypatch):
    project.write_config(extra=f'[database]\nurl = "{pg_url}"\n')
    with pytest.raises(BotError, match="PGPASSWORD, CIVICPOST_DATABASE_PASSWORD or ~/.pgpass"):
        open_configured(project.config())
    monkeypatch.setenv("CIVICPOST_DATABASE_PASSWORD", "wrong-password-xyz")
    with pytest.raises(BotError) as caught:
        open_configured(project.config())
    assert "wrong-password-xyz" not in str(caught.value) and len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize("source", ["PGPASSWORD", "pgpass", "systemd credential"])
def test_the_password_from_libpq_files_or_systemd(project, pg_url, postgres, without_env_password, monkeypatch,
                                                  tmp_path, source):
    if source == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", PASSWORD)
    elif source == "pgpass":
        pgpass = tmp_path / "pgpass"
        pgpass.write_text(f"127.0.0.1:{postgres.port}:*:civicpost:{PASSWORD}\n")
        pgpass.chmod(0o600)                  # libpq ignores a .pgpass others can read
        monkeypatch.setenv("PGPASSFILE", str(pgpass))
    else:
        creds = tmp_path / "credentials"
        creds.mkdir()
        (creds / "database_password").write_text(PASSWORD + "\n")
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    project.write_config(extra=f'[database]\nurl = "{pg_url}"\n')
    ledger = open_configured(project.config())
    assert ledger.get_meta("schema_version")
    ledger.close()
    assert os.environ.get("CIVICPOST_DATABASE_PASSWORD") is None
