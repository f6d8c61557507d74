"""A template edited while several daemons run (#12): the leader re-renders the open
deliveries and stores the new rendering, and the post made is the new one, whichever node
makes it; never a variant rendered with the old template.  Real `bot.py run` daemons on a
real PostgreSQL 15, posting to the X test server."""
from __future__ import annotations

import json

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
