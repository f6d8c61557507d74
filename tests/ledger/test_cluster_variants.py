"""The leader's stored variants (#12) reach every open delivery within the job horizon, also
one that enters the horizon with no change to its file (nothing for a re-plan to apply), so
a node whose checkout lags never lacks it at the delivery's time.  A real `bot.py run` on a
real PostgreSQL 15."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.ledger.test_cluster_daemons import cluster, servers  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow
HORIZON = 0.002          # [schedule] job_horizon_hours: 7.2 s, so a row enters it during the test
STORED_AHEAD = timedelta(hours=HORIZON + 1)      # store_variants looks an hour past the job horizon


def test_a_row_entering_the_horizon_unchanged_gets_the_leaders_variant(cluster):  # noqa: F811
    nodes = cluster(1, only=("x",))
    config = nodes.projects[0].config_path
    config.write_text(config.read_text().replace("[schedule]\n", f"[schedule]\njob_horizon_hours = {HORIZON}\n"))
    nodes.start(0).wait_for("READY=1", timeout=60)
    enters = datetime.now(timezone.utc) + timedelta(seconds=12)
    text = "Leisure centre: the sports hall is closed for the county badminton final."
    nodes.post("hall.md", f"publish_at: {(enters + STORED_AHEAD).isoformat()}", text)
    [row] = nodes.wait(lambda: nodes.rows() or None, 20, "the delivery to be planned")
    assert row["variant"] is None                     # beyond the horizon when planned: nothing stored yet
    row = nodes.wait(lambda: [r for r in nodes.rows() if r["variant"]] or None, 40,
                     "the leader to store the variant once the row is in the horizon")[0]
    assert datetime.now(timezone.utc) >= enters - timedelta(seconds=1)      # not before it entered
    record = json.loads(row["variant"])
    assert record["parts"] == [text] and record["digest"] == row["item_digest"]
    time.sleep(3)                                    # later idle passes leave it as it is
    assert nodes.rows()[0]["variant"] == row["variant"]
