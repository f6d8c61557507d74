"""Fewer ledger commits per delivery, the rule kept (#12, bench/burst.py): `publishing` is
committed before the network call, and each part is on disk before the next call; the
last part and `posted` share one commit.  Commits are counted with SQLite's own statement
trace on the ledger's connection; the ledger is read at the moment each request reaches
the test server, from another connection, as a crash at that moment would leave it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schedule.ledger import Ledger
from tests.servers import mastodon
from tests.test_delivery import World, servers  # noqa: F401 - servers is a fixture

NOW = datetime.now(timezone.utc) + timedelta(minutes=5)


@pytest.fixture
def world(project, monkeypatch, servers):  # noqa: F811
    return World(project, monkeypatch, servers)


def count_commits(ledger: Ledger) -> list[str]:
    seen: list[str] = []
    ledger.db.conn.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


def on_disk_at_each_request(world, server, delivery: int) -> list[tuple[str, int]]:
    """(state, parts recorded) as another process would read them when each post arrives."""
    found: list[tuple[str, int]] = []

    def look(request) -> None:
        if request.method == "POST":
            reader = Ledger(world.config.database, world.config.timezone, readonly=True)
            try:
                found.append((reader.get(delivery)["state"], len(reader.parts(delivery))))
            finally:
                reader.close()
    server.on_request.append(look)
    return found


def test_a_single_post_is_two_commits_and_publishing_is_on_disk_before_the_call(world, servers):  # noqa: F811
    delivery = world.plan("a.md", "Library hours change next week.", NOW, "x")
    seen = on_disk_at_each_request(world, servers["x"], delivery)
    commits = count_commits(world.ledger)
    assert world.publisher.run(delivery) == "posted"
    assert seen == [("publishing", 0)]
    # Was three (publishing; the part; posted): the part and `posted` are now one commit.
    assert len(commits) == 2
    row, parts = world.state(delivery), world.ledger.parts(delivery)
    assert [p["remote_id"] for p in parts] == [row["remote_id"]] and row["posted_at"]
    assert [e["to_state"] for e in world.ledger.events(delivery)] == ["scheduled", "publishing", "posted"]


def test_a_thread_records_each_part_before_the_next_call_and_the_last_with_posted(world, servers):  # noqa: F811
    delivery = world.plan("t.md", "Part one.\n---8<---\nPart two.\n---8<---\nPart three.", NOW, "x")
    seen = on_disk_at_each_request(world, servers["x"], delivery)
    commits = count_commits(world.ledger)
    assert world.publisher.run(delivery) == "posted"
    assert seen == [("publishing", 0), ("publishing", 1), ("publishing", 2)]
    assert len(commits) == 4                        # publishing, part 1, part 2, part 3 with posted
    parts = world.ledger.parts(delivery)
    assert [p["idx"] for p in parts] == [0, 1, 2]
    assert world.state(delivery)["remote_id"] == parts[0]["remote_id"]      # the thread's first post


def test_a_row_moved_while_its_last_part_was_out_is_not_posted_but_the_part_is_kept(world, servers):  # noqa: F811
    delivery = world.plan("a.md", "Library hours change next week.", NOW, "mastodon")

    def operator_cancels(request) -> None:
        if request.method == "POST":
            other = Ledger(world.config.database, world.config.timezone)
            try:
                other.transition(delivery, "cancelled", expect=["publishing"], actor="operator")
            finally:
                other.close()
    servers["mastodon"].on_request.append(operator_cancels)
    assert world.publisher.run(delivery) == "cancelled"
    assert world.state(delivery)["state"] == "cancelled"
    assert [p["remote_id"] for p in world.ledger.parts(delivery)] == list(servers["mastodon"].statuses)
    assert "sent-after-change" in [e["kind"] for e in world.ledger.events(delivery)]


def test_channel_requests_still_follow_the_proxy_settings_of_the_environment(world, servers, monkeypatch):  # noqa: F811
    # requests' rule (requests.utils.get_environ_proxies): http_proxy sends a plain-http
    # request through the proxy, unless no_proxy names the host.  A second Mastodon test
    # server stands in for the proxy: it answers an absolute-URI request by its path.
    proxy = mastodon.Server().start()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        first = world.plan("a.md", "Library hours change next week.", NOW, "mastodon")
        second = world.plan("b.md", "Pool closed on Sunday.", NOW, "mastodon")
        assert world.publisher.run(first) == "posted" and world.publisher.run(second) == "posted"
        assert len(proxy.statuses) == 2 and not servers["mastodon"].statuses
        assert all(r.path == "/api/v1/statuses" for r in proxy.calls("POST"))
    finally:
        proxy.stop()


def test_a_proxy_set_after_a_first_request_is_used_from_the_next_one(world, servers, monkeypatch):  # noqa: F811
    # requests reads the environment on every request (requests.sessions.Session.
    # merge_environment_settings); the kept answers must not outlive a change to it.
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    first = world.plan("a.md", "Library hours change next week.", NOW, "mastodon")
    assert world.publisher.run(first) == "posted" and len(servers["mastodon"].statuses) == 1
    proxy = mastodon.Server().start()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        second = world.plan("b.md", "Pool closed on Sunday.", NOW, "mastodon")
        assert world.publisher.run(second) == "posted"
        assert len(proxy.statuses) == 1 and len(servers["mastodon"].statuses) == 1
    finally:
        proxy.stop()


def test_no_proxy_is_still_honoured(world, servers, monkeypatch):  # noqa: F811
    proxy = mastodon.Server().start()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        delivery = world.plan("a.md", "Library hours change next week.", NOW, "mastodon")
        assert world.publisher.run(delivery) == "posted"
        assert len(servers["mastodon"].statuses) == 1 and not proxy.statuses
    finally:
        proxy.stop()
