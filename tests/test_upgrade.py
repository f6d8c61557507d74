"""A ledger written by an earlier civicpost (#9): a row it left `retrying` after a read
timeout may be live, but that version did not record the attempt as ambiguous.  After the
upgrade its next attempt asks the network first, so the upgrade never makes a second post.

Facebook is the network here because it has no idempotency key and no duplicate-content
refusal (Graph API `POST /{page-id}/feed` creates a new post each time it is called:
https://developers.facebook.com/docs/pages-api/posts), so only asking first can save it."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlite_utils

from schedule.alerts import Alerter
from schedule.ledger import Ledger
from schedule.ledger_schema import MIGRATIONS, SCHEMA_VERSION, UPGRADE_AMBIGUOUS, _migrate_old_retries
from schedule.publisher import Publisher
from schedule.render import Renderer
from schedule.scanner import ContentScanner
from schedule.timeutil import to_utc_key
from tests.servers import channel_tables, credentials_env, graph

TEXT = "Council tax bills are on their way."


@pytest.fixture
def facebook():
    server = graph.Server().start()
    yield server
    server.stop()


def _publisher(config, ledger) -> Publisher:
    scanner = ContentScanner(config)
    alerter = Alerter((), ledger, sender=lambda title, body: True)
    return Publisher(config, ledger, Renderer(config), alerter,
                     lambda item_id: {i.id: i for i in scanner.scan().items}.get(item_id))


def _old_ledger(config) -> int:
    """A ledger as the schema before the upgrade step left it: the earlier migrations only
    (later ones need not be idempotent, so the schema number is never wound back)."""
    step = MIGRATIONS.index(_migrate_old_retries)
    config.database.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(config.database)
    for migrate in MIGRATIONS[:step]:
        migrate(db)
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", [str(step)])
    db.conn.commit()
    return db


def _old_ledger_with_a_timed_out_retry(config, when: datetime, item) -> int:
    """What the earlier version left: the row moved `publishing` -> `retrying` on a read
    timeout, with no `ambiguous` event."""
    db = _old_ledger(config)
    now = to_utc_key(datetime.now(timezone.utc))
    delivery = db["deliveries"].insert({
        "item": item.id, "channel": "facebook", "network": "facebook", "planned_at": to_utc_key(when),
        "state": "retrying", "attempts": 1, "item_digest": item.digest, "source": item.rel,
        "parts_text": json.dumps([TEXT]), "media": "[]", "idem_key": "civicpost-1",
        "retry_until": "2999-01-01T00:00:00+00:00", "error": "Read timed out. (read timeout=30)",
        "next_attempt_at": "2000-01-01T00:00:00+00:00", "created_at": now, "updated_at": now}).last_pk
    for kind, before, after in (("planned", None, "scheduled"), ("publishing", "scheduled", "publishing"),
                                ("retrying", "publishing", "retrying")):
        db["events"].insert({"at": now, "delivery_id": delivery, "item": item.id, "channel": "facebook", "kind": kind,
                             "from_state": before, "to_state": after, "actor": "daemon"})
    db.conn.close()
    return delivery


def test_a_row_left_retrying_by_an_older_version_is_asked_about_before_it_is_sent_again(project, monkeypatch,
                                                                                        facebook):
    project.write_config(channels=channel_tables({"facebook": facebook.url}), default_channels='["facebook"]',
                         extra="[schedule]\nretry_base_seconds = 0.1\nretry_max_seconds = 0.2\n")
    for name, value in credentials_env("facebook").items():
        monkeypatch.setenv(name, value)
    when = datetime.now(timezone.utc) + timedelta(minutes=5)
    project.post("bills.md", f"publish_at: {when.isoformat()}\nchannels: [facebook]", TEXT)
    config = project.config()
    item = {i.id: i for i in ContentScanner(config).scan().items}["bills"]
    delivery = _old_ledger_with_a_timed_out_retry(config, when, item)
    # The timed-out call had in fact made the post.
    old = Ledger(config.database, config.timezone, readonly=True)
    channel = Renderer(config).channel("facebook")
    channel.publish(_publisher(config, old).recorded_variant(old.get(delivery), channel, None), "k")
    old.close()
    assert len(facebook.calls("POST", r"/feed$")) == 1

    ledger = Ledger(config.database, config.timezone)                 # the upgrade
    marks = [e for e in ledger.events(delivery) if e["kind"] == "ambiguous"]
    assert [(e["actor"], e["reason"]) for e in marks] == [("upgrade", UPGRADE_AMBIGUOUS)]

    assert _publisher(config, ledger).run(delivery) == "posted"
    assert len(facebook.calls("POST", r"/feed$")) == 1, "the upgrade made a second post"
    assert ledger.get(delivery)["remote_id"] is not None
    ledger.close()


def test_a_row_already_marked_is_not_marked_twice_and_other_states_are_left_alone(project):
    config = project.config()
    db = _old_ledger(config)
    now = to_utc_key(datetime.now(timezone.utc))
    ids = {}
    for name, state, kind in (("marked", "retrying", "ambiguous"), ("scheduled", "scheduled", "planned")):
        ids[name] = db["deliveries"].insert({"item": name, "channel": "log", "network": "log", "planned_at": now,
                                             "state": state, "attempts": 0}).last_pk
        db["events"].insert({"at": now, "delivery_id": ids[name], "item": name, "channel": "log", "kind": kind,
                             "to_state": state, "actor": "daemon"})
    db.conn.close()
    ledger = Ledger(config.database, config.timezone)                 # the upgrade
    assert [e["actor"] for e in ledger.events(ids["marked"]) if e["kind"] == "ambiguous"] == ["daemon"]
    assert [e for e in ledger.events(ids["scheduled"]) if e["kind"] == "ambiguous"] == []
    assert ledger.get_meta("schema_version") == str(SCHEMA_VERSION)
    ledger.close()
