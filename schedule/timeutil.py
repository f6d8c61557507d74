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


def nearest_real_time(naive: datetime, tz: ZoneInfo) -> datetime:
    """The first real local time after a time the clocks skip (02:30 on the night the
    clocks go forward in London -> 03:00 BST).  zoneinfo has no "gap end" lookup, so step a
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
    """A sortable, comparable UTC string for the ledger."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


__all__ = ["localize", "human", "iso_seconds", "nearest_real_time", "utcnow", "to_utc_key", "AmbiguousTime", "NonExistentTime"]
