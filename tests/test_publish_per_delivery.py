"""What a delivery no longer makes afresh (#12's burst): the per-channel concurrency
semaphore and the read-back's hold (``network_check.Claims``, a Condition and its lock) are
made once per channel, not built for every delivery and then dropped (``dict.setdefault``
builds its default before it looks).  The posts and their limits are as before."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


from schedule import network_check, publisher as publisher_module
from tests.test_delivery import servers, world  # noqa: F401 - fixtures

NOW = datetime.now(timezone.utc) + timedelta(minutes=5)


def test_three_deliveries_on_one_channel_make_one_semaphore_and_one_hold(world, monkeypatch):
    made: list[str] = []

    class CountedSemaphore(threading.Semaphore):
        def __init__(self, *args, **kwargs):
            made.append("semaphore")
            super().__init__(*args, **kwargs)

    class CountedClaims(network_check.Claims):
        def __init__(self):
            made.append("claims")
            super().__init__()

    monkeypatch.setattr(publisher_module.threading, "Semaphore", CountedSemaphore)
    monkeypatch.setattr(network_check, "Claims", CountedClaims)
    monkeypatch.setattr(network_check, "_CLAIMS", {})
    deliveries = [world.plan(f"n{k}.md", f"Notice {k}: the library closes early.", NOW, "mastodon") for k in range(3)]
    assert [world.publisher.run(d) for d in deliveries] == ["posted"] * 3
    assert sorted(made) == ["claims", "semaphore"], made
    assert world.publisher.locks["mastodon"]._value == 25          # [schedule] per_channel_concurrency's default
