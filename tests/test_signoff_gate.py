"""Issue 13 "Sign-off from the page": a sign-off recorded by the web page counts exactly
like `approved_by:` in the file wherever the gate is asked (validate, queue, the publisher's
last check before sending), bound to the file's digest, and only from `[approval] approvers`.

The sign-offs are made through `schedule.signoff.sign_off`, the function the page calls.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from bot import cli
from schedule.alerts import Alerter
from schedule.content import read_item
from schedule.ledger import Ledger
from schedule.publisher import Publisher
from schedule.render import Renderer
from schedule.scanner import ContentScanner
from schedule.signoff import sign_off

APPROVAL = '[approval]\nrequired = true\napprovers = ["Tom Hughes"]\n'


def run(project, *args: str):
    return CliRunner().invoke(cli, ["--config", str(project.config_path), *args])


def signed(project, path, who="Tom Hughes"):
    config = project.config()
    item = read_item(path, config)
    sign_off(config, item, item.digest, who)
    return item


def test_validate_and_queue_count_a_page_sign_off_as_approved_by(project):
    project.write_config(extra=APPROVAL)
    signed(project, project.post("page.md", "publish_at: 2030-01-14T10:00"))
    signed(project, project.post("stranger.md", "publish_at: 2030-01-14T10:00"), who="Somebody Else")
    project.post("no.md", "publish_at: 2030-01-14T10:00")
    problems = json.loads(run(project, "validate", "--json").stdout)
    assert sorted((p["path"], p["code"]) for p in problems) == [("content/no.md", "approval"),
                                                                ("content/stranger.md", "approval")]
    assert "approvers" in next(p["message"] for p in problems if p["path"] == "content/stranger.md")
    rows = {r["item"]: r for r in json.loads(run(project, "queue", "--json").stdout)}
    assert not rows["page"]["blocked"]
    assert "approv" in rows["no"]["blocked"] and "approvers" in rows["stranger"]["blocked"]


def test_any_edit_after_the_sign_off_voids_it(project):
    project.write_config(extra=APPROVAL)
    path = project.post("page.md", "publish_at: 2030-01-14T10:00", "The fete is on Saturday.")
    signed(project, path)
    path.write_text(path.read_text().replace("Saturday", "Sunday"))
    problems = json.loads(run(project, "validate", "--json").stdout)
    assert [(p["path"], p["code"]) for p in problems] == [("content/page.md", "approval")]
    (row,) = json.loads(run(project, "queue", "--json").stdout)
    assert "approv" in row["blocked"]


def test_the_last_check_before_sending_reads_the_sign_off_afresh(project):
    """Planned while signed off, edited before it is due: the publisher's own gate check
    (not only the re-plan) refuses to send text nobody signed off."""
    project.write_config(extra=APPROVAL)
    path = project.post("page.md", "publish_at: 2030-01-14T10:00", "The fete is on Saturday.")
    item = signed(project, path)
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    when = datetime(2030, 1, 14, 10, tzinfo=timezone.utc)
    delivery = ledger.add("page", "log", "log", when, item_digest=item.digest, source=item.rel)
    path.write_text(path.read_text().replace("Saturday", "Sunday"))
    scanner = ContentScanner(config)
    items = {i.id: i for i in scanner.scan().items}
    publisher = Publisher(config, ledger, Renderer(config), Alerter((), ledger, sender=lambda *a: True), items.get)
    row = ledger.get(delivery)
    variant = publisher._fresh_variant(row, items["page"])
    assert [p.code for p in publisher.gate_errors(row, items["page"], variant, when)] == ["approval"]
    signed(project, path)                              # signed off again, as it now reads
    assert publisher.gate_errors(row, items["page"], variant, when) == []
    ledger.close()


def _publisher_for(project, when, text="The fete is on Saturday."):
    path = project.post("page.md", "publish_at: 2030-01-14T10:00", text)
    config = project.config()
    ledger = Ledger(config.database, config.timezone)
    item = read_item(path, config)
    delivery = ledger.add("page", "log", "log", when, item_digest=item.digest, source=item.rel)
    items = {i.id: i for i in ContentScanner(config).scan().items}
    publisher = Publisher(config, ledger, Renderer(config), Alerter((), ledger, sender=lambda *a: True), items.get)
    row = ledger.get(delivery)
    return path, ledger, publisher, row, items["page"], publisher._fresh_variant(row, items["page"])


def test_a_sign_off_replaced_meanwhile_is_seen_by_the_very_next_check(project):
    """The sign-off is read for each delivery at its last check (#12 made that read one row,
    not every sign-off): one replaced by the page in between (here by someone not in
    [approval] approvers, from another connection, as the web page writes) stops the next."""
    project.write_config(extra=APPROVAL)
    when = datetime(2030, 1, 14, 10, tzinfo=timezone.utc)
    path, ledger, publisher, row, item, variant = _publisher_for(project, when)
    signed(project, path)
    assert publisher.gate_errors(row, item, variant, when) == []
    signed(project, path, who="Somebody Else")
    assert [p.code for p in publisher.gate_errors(row, item, variant, when)] == ["approval"]
    ledger.close()


@pytest.mark.parametrize("rule", ["", APPROVAL], ids=["no rule", "approval required"])
def test_sign_offs_are_read_only_when_an_approval_rule_asks(project, rule):
    """With no [approval] rule the gate never looks at sign-offs (plan.approval_missing), so
    the publisher reads none; with one, it reads that item's row alone (by its key), not all."""
    project.write_config(extra=rule)
    when = datetime(2030, 1, 14, 10, tzinfo=timezone.utc)
    path, ledger, publisher, row, item, variant = _publisher_for(project, when)
    signed(project, path)
    for n in range(3):                               # other items' sign-offs, not to be read
        signed(project, project.post(f"other{n}.md", "publish_at: 2030-01-14T10:00"))
    statements: list[str] = []
    ledger.db.conn.set_trace_callback(statements.append)
    assert publisher.gate_errors(row, item, variant, when) == []
    ledger.db.conn.set_trace_callback(None)
    reads = [s for s in statements if "meta" in s]
    if not rule:
        assert reads == []
    else:
        assert len(reads) == 1 and "LIKE" not in reads[0].upper() and "signoff:page" in reads[0], reads
    ledger.close()
