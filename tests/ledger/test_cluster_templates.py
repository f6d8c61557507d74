"""A template edited while several daemons run (#12): the leader re-renders the open
deliveries and stores the new rendering, and the post made is the new one, whichever node
makes it; never a variant rendered with the old template.  Real `bot.py run` daemons on a
real PostgreSQL 15, posting to the X test server."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.ledger.test_cluster_daemons import cluster, due, servers  # noqa: F401 - fixtures
from tests.ledger.cluster_helpers import FINAL

pytestmark = pytest.mark.slow
TEXT = "Bin collections move to Saturday this week."


def test_a_template_edit_is_stored_and_posted_by_whichever_node_posts(cluster, servers):  # noqa: F811
    nodes = cluster(2, only=("x",))
    nodes.start(0).wait_for("READY=1", timeout=60)
    nodes.start(1).wait_for("READY=1", timeout=60)
    nodes.post("bins.md", f"publish_at: {due(15)}", TEXT)
    stored = nodes.wait(lambda: [r for r in nodes.rows() if r["variant"]] or None, 20, "the leader's stored variant")
    assert json.loads(stored[0]["variant"])["parts"] == [TEXT]
    for project in nodes.projects:                   # the commit with the edit, pulled on both nodes
        (project.root / "templates" / "x.txt.j2").write_text("Waste news: {{ item.body }}\n")
    new = f"Waste news: {TEXT}"
    stored = nodes.wait(lambda: [r for r in nodes.rows() if r["variant"] and json.loads(r["variant"])["parts"]
                                 == [new]] or None, 20, "the leader to store the new rendering")
    row = nodes.wait(lambda: [r for r in nodes.rows() if r["state"] in FINAL] or None, 40, "the post")[0]
    assert row["state"] == "posted", nodes.logs()
    assert [t["text"] for t in servers["x"].tweets.values()] == [new], nodes.logs()


def test_a_node_does_not_post_a_variant_rendered_with_other_templates_than_its_own(
        project, monkeypatch, pg_url, open_ledger_at):
    """In process, the real publisher: the stored variant was rendered (by the leader) with the
    template as it was; this node's templates/ has the edit, and the leader has not re-rendered
    yet.  The node sends neither the old rendering nor its own: the row waits; once the
    leader stores the rendering made with the same templates, that is posted."""
    from schedule.alerts import Alerter
    from schedule.cluster import Cluster
    from schedule.stored_variants import stored_record
    from schedule.publisher import Publisher
    from schedule.render import Renderer
    from tests.ledger.cluster_helpers import SHORT, FakeConfig
    from tests.servers import mastodon as mastodon_server
    from tests.test_delivery import World

    server = mastodon_server.Server().start()
    try:
        world = World(project, monkeypatch, {"mastodon": server})
        ledger = open_ledger_at(pg_url)
        when = datetime.now(timezone.utc) + timedelta(minutes=5)         # due for the publisher (grace 15 min)
        project.post("a.md", f"publish_at: {when.isoformat()}\nchannels: [mastodon]", "The pool opens at 9.")
        item = world.item("a")
        delivery = ledger.add(item.id, "mastodon", "mastodon", when, item_digest=item.digest, source=item.rel)

        def store(renderer):                  # what plan_actions.store_variants writes on the leader
            variant = renderer.render(item, "mastodon", when)
            record = {**json.loads(stored_record(variant, item, [], world.config)),
                      "templates": renderer.templates_digest}
            ledger.db.execute("UPDATE deliveries SET variant = ? WHERE id = ?", [json.dumps(record), delivery])

        store(Renderer(world.config))         # the leader, before the edit
        (project.root / "templates" / "mastodon.txt.j2").write_text("Leisure news: {{ item.body }}\n")
        edited = Renderer(world.config)
        cluster = Cluster(ledger, FakeConfig(**SHORT))
        cluster.start()
        try:
            alerter = Alerter((), ledger, sender=lambda title, body: True)
            node = Publisher(world.config, ledger, edited, alerter, lambda item_id: item, cluster=cluster)
            assert node.run(delivery) == "scheduled"
            assert server.statuses == {}, "a variant rendered with the old template was sent"
            store(edited)                     # the leader's re-plan after it saw the edit
            assert node.run(delivery) == "posted"
            from tests.channels.harness_mastodon import html_to_text
            assert [html_to_text(s["content"]) for s in server.statuses.values()] == \
                ["Leisure news: The pool opens at 9."]
        finally:
            cluster.stop()
    finally:
        server.stop()


def test_a_template_edit_only_the_leader_has_pulled_is_what_every_post_says(cluster, servers):  # noqa: F811
    """Each node has its own checkout; the commit with a template edit has reached the
    leader's but not the follower's.  The leader re-renders and stores the new wording; the
    follower, whose own templates are older than that rendering, must not post its share in
    the old wording (nor hold it back for ever): it waits, and the leader, as the backup of
    every delivery, posts them.  Every post says the new wording, once."""
    nodes = cluster(2, only=("x",))
    nodes.start(0).wait_for("READY=1", timeout=60)
    nodes.start(1).wait_for("READY=1", timeout=60)
    leader_pid = nodes.wait(nodes.leader_pid, 20, "a leader")
    leader = next(n for n, d in enumerate(nodes.daemons) if d.proc.pid == leader_pid)
    bodies = [f"Notice {n}: the library opens late on Monday." for n in range(6)]
    for n, body in enumerate(bodies):
        nodes.post(f"notice{n}.md", f"publish_at: {due(25)}", body)
    nodes.wait(lambda: len([r for r in nodes.rows() if r["variant"]]) == 6 or None, 20, "the stored variants")
    (nodes.projects[leader].root / "templates" / "x.txt.j2").write_text("Library news: {{ item.body }}\n")
    new = sorted(f"Library news: {body}" for body in bodies)
    nodes.wait(lambda: sorted(json.loads(r["variant"])["parts"][0] for r in nodes.rows() if r["variant"]) == new
               or None, 20, "the leader to store the new renderings")
    rows = nodes.wait(lambda: (rows := nodes.rows()) and all(r["state"] in FINAL for r in rows) and rows, 60,
                      "every post")
    assert [r["state"] for r in rows] == ["posted"] * 6, nodes.logs()
    # What residents see (the X test server holds every post made), per X's API v2 create
    # answer: each tweet's text as sent.
    assert sorted(t["text"] for t in servers["x"].tweets.values()) == new, nodes.logs()
