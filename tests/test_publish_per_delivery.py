"""What a delivery no longer makes afresh (#12's burst): the per-channel concurrency
semaphore and the read-back's hold (``network_check.Claims``, a Condition and its lock) are
made once per channel, not built for every delivery and then dropped (``dict.setdefault``
builds its default before it looks).  The posts and their limits are as before.

Constructions are counted where our code makes them, by watching calls (``sys.setprofile``
reports each Python function call with its caller's frame; nothing is replaced): a
Semaphore made by schedule/publisher.py, a Claims made by schedule/network_check.py.  Other
semaphores in the process (the test servers', the libraries') are not ours and not counted."""
from __future__ import annotations

import contextlib
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Iterator

from schedule import network_check, publisher as publisher_module
from tests.test_delivery import servers, world  # noqa: F401 - fixtures

NOW = datetime.now(timezone.utc) + timedelta(minutes=5)


@contextlib.contextmanager
def made_by(*makers: tuple[type, object]) -> Iterator[list[str]]:
    """Names of the (class, module) pairs' objects made while inside: a call of the class's
    ``__init__`` whose caller is the module's own code, in any thread."""
    watched = {cls.__init__.__code__: (cls.__name__, module.__file__) for cls, module in makers}
    made: list[str] = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in watched and frame.f_back is not None:
            name, file = watched[frame.f_code]
            if frame.f_back.f_code.co_filename == file:
                made.append(name)
    before = sys.getprofile()
    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        yield made
    finally:
        sys.setprofile(before)
        threading.setprofile(None)


def test_three_deliveries_on_one_channel_make_one_semaphore_and_one_hold(world, monkeypatch):
    monkeypatch.setattr(network_check, "_CLAIMS", {})     # this test's holds, not an earlier test's
    deliveries = [world.plan(f"n{k}.md", f"Notice {k}: the library closes early.", NOW, "mastodon") for k in range(3)]
    with made_by((threading.Semaphore, publisher_module), (network_check.Claims, network_check)) as made:
        assert [world.publisher.run(d) for d in deliveries] == ["posted"] * 3
    assert sorted(made) == ["Claims", "Semaphore"], made
    assert world.publisher.locks["mastodon"]._value == 25          # [schedule] per_channel_concurrency's default

