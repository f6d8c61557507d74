"""What a daemon's start-up made is kept out of the cyclic collector's passes (#12's burst).

CPython's documented recipe (https://docs.python.org/3/library/gc.html#gc.freeze): "If a
process will fork() without exec(), avoiding unnecessary copy-on-write in child processes
... disable gc early in the parent process, freeze() right before fork()"; and generally
gc.freeze() "Freeze all the objects tracked by the garbage collector; move them to a
permanent generation and ignore them in all the future collections."  ``gc.get_objects()``
lists the objects of the three generations the collector passes over, not the permanent one.
"""
from __future__ import annotations

import gc

from schedule.daemon import Daemon
from tests.test_daemon import soon


def test_what_start_up_made_is_kept_out_of_the_collectors_passes(project):
    project.post("library.md", f"publish_at: {soon(300)}", "The library reopens on Monday.")
    daemon = Daemon(project.config_path)
    try:
        daemon.start()
        item = daemon.items["library"]
        assert gc.is_tracked(item)
        assert not any(o is item for o in gc.get_objects())      # in the permanent generation
        assert gc.get_freeze_count() > 0
        made_later = [item]                                       # an object of a later job: collected as usual
        assert any(o is made_later for o in gc.get_objects())
    finally:
        daemon.stop_event.set()
        daemon.shutdown()
        gc.unfreeze()


def test_the_young_generation_is_collected_less_often_than_cpythons_default(project):
    # gc.set_threshold: "collection of generation 0 starts when the number of allocations
    # minus the number of deallocations exceeds threshold0"; CPython's default threshold0 is
    # 700 (gc.get_threshold() in a fresh interpreter; Modules/gcmodule.c).  A burst's
    # objects die young by reference counting, so passes over them find little.
    project.post("library.md", f"publish_at: {soon(300)}", "The library reopens on Monday.")
    daemon = Daemon(project.config_path)
    was = gc.get_threshold()
    try:
        gc.set_threshold(700, *was[1:])
        daemon.start()
        before = gc.get_stats()[0]["collections"]
        kept = [[] for _ in range(5_000)]          # 5,000 live containers: 7 passes at CPython's 700
        assert gc.get_stats()[0]["collections"] == before
        assert len(kept) == 5_000
        del kept
    finally:
        daemon.stop_event.set()
        daemon.shutdown()
        gc.unfreeze()
        gc.set_threshold(*was)
