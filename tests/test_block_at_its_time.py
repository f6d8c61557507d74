"""The daemon's last rule before a post (`Attention.block_if_errors`): a delivery whose item
has an error, item-level or for its channel, is blocked at its time, never sent.  #12: when
no item has an error it answers without reading the row (one read fewer per delivery)."""
from __future__ import annotations

from datetime import datetime, timezone

from schedule.alerts import Alerter
from schedule.blocked import Attention
from schedule.errors import Problem
from schedule.ledger import Ledger


def _setup(project):
    project.write_config()
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    when = datetime(2030, 1, 14, 10, tzinfo=timezone.utc)
    delivery = ledger.add("fete", "log", "log", when)
    return ledger, Attention(config, ledger, Alerter((), ledger, sender=lambda *a: True)), delivery


def test_an_item_error_blocks_the_delivery_at_its_time(project):
    ledger, attention, delivery = _setup(project)
    other = {"other-item": [Problem("content/other.md", 3, "error", "empty", "the post has no text")]}
    assert attention.block_if_errors(delivery, other) is False
    assert ledger.get(delivery)["state"] == "scheduled"
    for_another_channel = {"fete": [Problem("content/fete.md", 2, "error", "too-long", "too long", "x")]}
    assert attention.block_if_errors(delivery, for_another_channel) is False
    errors = {"fete": [Problem("content/fete.md", 2, "error", "empty", "the post has no text")]}
    assert attention.block_if_errors(delivery, errors) is True
    assert ledger.get(delivery)["state"] == "blocked"
    ledger.close()


def test_no_errors_anywhere_reads_nothing(project):
    ledger, attention, delivery = _setup(project)
    statements: list[str] = []
    ledger.db.conn.set_trace_callback(statements.append)
    assert attention.block_if_errors(delivery, {}) is False
    ledger.db.conn.set_trace_callback(None)
    assert statements == []
    assert ledger.get(delivery)["state"] == "scheduled"
    ledger.close()
