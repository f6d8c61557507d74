"""The inbox's commands use the ledger `[database] url` names (#11 on #12): with the ledger on
PostgreSQL, `inbox`, `inbox note`, `inbox reply`, `inbox report`, `export --inbox` and
`inbox forget` read and write PostgreSQL, and no SQLite file appears beside the config."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from click.testing import CliRunner

from bot import cli
from schedule.database import open_configured
from schedule.inbox import store
from schedule.model import Incoming


def run(project, *args: str):
    result = CliRunner().invoke(cli, ["--config", str(project.config_path), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_inbox_commands_work_on_the_postgresql_ledger(project, pg_url):
    project.write_config(channels='[channels.mastodon]\nnetwork = "mastodon"\ninstance = "https://m.example"\n',
                         default_channels='["mastodon"]', extra=f'[database]\nurl = "{pg_url}"\n')
    ledger = open_configured(project.config())
    assert type(ledger).__name__ == "PostgresLedger"
    message_id = store.record(ledger, "mastodon", "mastodon", Incoming(
        "109500", "mention", "When is the tip open?", datetime(2027, 1, 14, 10, 0, tzinfo=timezone.utc),
        author="@dai@example.social"))[0]
    ledger.close()

    listed = json.loads(run(project, "inbox", "--json"))
    assert [m["id"] for m in listed] == [message_id]
    noted = json.loads(run(project, "inbox", "note", str(message_id), "Asked waste services", "--json"))
    assert noted["id"] == message_id
    shown = json.loads(run(project, "inbox", "show", str(message_id), "--json"))
    assert [n["text"] for n in shown["notes"]] == ["Asked waste services"]
    written = json.loads(run(project, "inbox", "reply", str(message_id), "--text", "Open 9 to 4 daily.", "--json"))
    assert written["path"].endswith(".md")
    reported = json.loads(run(project, "inbox", "report", "--json"))
    assert [(r["channel"], r["messages"]) for r in reported] == [("mastodon", 1)]
    exported = json.loads(run(project, "export", "--inbox", "--format", "json"))
    assert [m["id"] for m in exported] == [message_id]
    assert [n["text"] for n in exported[0]["notes"]] == ["Asked waste services"]
    run(project, "inbox", "forget", "--author", "@dai@example.social", "--reason", "erasure request 7")
    assert json.loads(run(project, "inbox", "--json"))[0]["text"] == "[erased]"   # records.forget's mark
    assert not (project.root / "var").exists(), "a SQLite ledger appeared beside the PostgreSQL one"
