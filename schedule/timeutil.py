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
            raise NonExistentTime(f"{naive:%Y-%m-%d %H:%M} does not exist in {tz.key} (the clocks go forward); "
                                  f"the nearest real time is {human(nearest_real_time(naive, tz), tz)}")
        raise AmbiguousTime(f"{naive:%Y-%m-%d %H:%M} happens twice in {tz.key} (the clocks go back): first "
                            f"{human(first)}, then {human(second)}")
    return first


def offsets(naive: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """The zone's two UTC offsets around a clock change, as written after a time ("+01:00"):
    before the change (a repeated time's first occurrence) and after it.  Fix-it hints use
    these rather than London's, so they are right in whatever zone config.toml names."""
    def written(fold: int) -> str:
        return naive.replace(tzinfo=tz, fold=fold).isoformat(timespec="minutes")[16:]
    return written(0), written(1)


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


def nearest_real_time(naive: datetime, tz: ZoneInfo) -> datetime:
    """The first real local time after a time the clocks skip (01:30 on the night the
    clocks go forward in London -> 02:00 BST).  zoneinfo has no "gap end" lookup, so step a
    minute at a time (gaps are whole minutes, at most a day in any zone's history)."""
    probe = naive.replace(second=0, microsecond=0)
    for _ in range(24 * 60):
        probe += timedelta(minutes=1)
        moment = probe.replace(tzinfo=tz)
        if moment.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) == probe:
            return moment
    raise NonExistentTime(f"no real time within a day after {naive:%Y-%m-%d %H:%M} in {tz.key}")


def human(moment: datetime | str | None, tz: ZoneInfo | None = None, date: bool = True) -> str:
    """How a person reads a time: local, with the zone's abbreviation, e.g. "Sun 28 Mar 2027
    03:30 BST" ("03:30 BST" with date=False, under a day's heading).  One helper for every
    view (preview, queue, status, history, alerts, calendar)."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if tz is not None:
        moment = moment.astimezone(tz)
    return f"{moment:%a %d %b %Y %H:%M} {moment.tzname()}" if date else f"{moment:%H:%M} {moment.tzname()}"


def iso_seconds(moment: datetime | str | None, tz: ZoneInfo | None = None) -> str | None:
    """ISO 8601 with its offset and no fractions of a second: what exports and --json carry."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if tz is not None:
        moment = moment.astimezone(tz)
    return moment.isoformat(timespec="seconds")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_utc_key(moment: datetime) -> str:
    """A sortable, comparable UTC string for the ledger: 2027-03-01T09:00:00.000000+00:00.

    isoformat with microseconds always writes them and the offset, in that shape (the same
    as strftime's "%Y-%m-%dT%H:%M:%S.%f+00:00", but in C, not a format string interpreted on
    each call: several per delivery); it also pads a year before 1000 to four digits."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


__all__ = ["localize", "offsets", "human", "iso_seconds", "nearest_real_time", "utcnow", "to_utc_key", "AmbiguousTime", "NonExistentTime"]
