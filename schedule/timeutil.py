"""Aware datetimes only.  Daylight-saving gaps and overlaps are errors, never guesses."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo


class AmbiguousTime(ValueError):
    pass


class NonExistentTime(ValueError):
    pass


def localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach ``tz`` to a naive local time, refusing times a clock change skips or repeats.

    zoneinfo silently picks fold=0 for both cases, so compare the two folds: if they give
    different offsets the time is repeated (clocks go back); if the time does not survive a
    round trip through UTC it was skipped (clocks go forward).
    """
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        back = first.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None)
        if back != naive:
            raise NonExistentTime(f"{naive:%Y-%m-%d %H:%M} does not exist in {tz.key} (the clocks go forward)")
        raise AmbiguousTime(f"{naive:%Y-%m-%d %H:%M} happens twice in {tz.key} (the clocks go back)")
    return first


class TooManyTimes(ValueError):
    pass


def wall_clock_times(expression: str, start: datetime, until: datetime, tz: ZoneInfo,
                     limit: int) -> tuple[list[datetime], list[datetime]]:
    """When a cron expression fires between ``start`` and ``until``, as (times, skipped).

    A repeat is a wall-clock rule ("30 1 * * *" is 01:30 on the kitchen clock), so the
    expression is stepped through wall-clock time (APScheduler's CronTrigger over naive
    local times, labelled UTC only so that it counts plain minutes: given the real zone it
    returns 01:30+00:00 forever on the autumn night) and each wall time is then placed in
    the zone, explicitly:

    - a time the clocks skip (spring forward) does not exist: that occurrence is left out
      and returned in ``skipped`` (naive) so the caller can say so, never moved;
    - a time that happens twice (fall back) fires once, at its first occurrence (summer
      time, fold=0).
    Raises ValueError for a bad expression and TooManyTimes past ``limit``.
    """
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(expression, timezone=timezone.utc)
    wall_start = start.astimezone(tz).replace(tzinfo=timezone.utc)
    wall_until = until.astimezone(tz).replace(tzinfo=timezone.utc)
    times: list[datetime] = []
    skipped: list[datetime] = []
    previous, moment = None, wall_start
    while True:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None or fire > wall_until:
            break
        previous, moment = fire, fire + timedelta(microseconds=1)
        naive = fire.replace(tzinfo=None)
        try:
            real = localize(naive, tz)
        except NonExistentTime:
            skipped.append(naive)
            continue
        except AmbiguousTime:
            real = naive.replace(tzinfo=tz, fold=0)
        if start <= real <= until:
            times.append(real)
            if len(times) > limit:
                raise TooManyTimes(f"more than {limit} times")
    return times, skipped


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_utc_key(moment: datetime) -> str:
    """A sortable, comparable UTC string for the ledger."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


__all__ = ["localize", "utcnow", "to_utc_key", "AmbiguousTime", "NonExistentTime"]
