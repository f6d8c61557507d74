"""Fixtures for the ledger contract suite: a real PostgreSQL 15 for the session (#12)."""
from __future__ import annotations

import contextlib
import os
from zoneinfo import ZoneInfo

import pytest

from tests.postgres_server import PASSWORD, PostgresServer

TZ = ZoneInfo("Europe/London")


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer().start()
    # The password reaches civicpost the way an operator would give it (the environment),
    # never through the url; conftest.py clears CIVICPOST_* before this runs.
    os.environ["CIVICPOST_DATABASE_PASSWORD"] = PASSWORD
    try:
        yield server
    finally:
        os.environ.pop("CIVICPOST_DATABASE_PASSWORD", None)
        server.stop()


@pytest.fixture
def pg_url(postgres) -> str:
    return postgres.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def spec(request, tmp_path):
    """Where a ledger lives, for each back end: a SQLite path or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "ledger.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def open_ledger_at():
    from schedule.database import open_spec
    opened = []

    def opener(spec, readonly=False):
        ledger = open_spec(spec, TZ, readonly=readonly)
        if ledger is not None:
            opened.append(ledger)
        return ledger
    yield opener
    for ledger in opened:
        try:
            ledger.close()
        except Exception:  # noqa: BLE001 - already closed by the test
            pass


@pytest.fixture
def ledger(spec, open_ledger_at):
    return open_ledger_at(spec)


@pytest.fixture
def nodes(pg_url, open_ledger_at):
    """nodes(**[cluster] settings) -> a node of one PostgreSQL ledger, in process: its own
    ledger (and sessions, as another host's), registered and with one heartbeat made;
    stopped after the test."""
    from schedule.cluster import Cluster
    from tests.ledger.cluster_helpers import SHORT, FakeConfig, register
    made = []

    def node(**settings):
        made.append(Cluster(open_ledger_at(pg_url), FakeConfig(**(settings or SHORT))))
        register(made[-1])
        made[-1].beat()
        return made[-1]
    yield node
    for cluster in made:
        with contextlib.suppress(Exception):       # a node whose sessions the test had ended
            cluster.stop()
