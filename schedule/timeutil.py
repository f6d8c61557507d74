"""Aware datetimes only.  Daylight-saving gaps and overlaps are errors, never guesses."""
from __future__ import annotations

from datetime import datetime, timezone
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


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_utc_key(moment: datetime) -> str:
    """A sortable, comparable UTC string for the ledger."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


__all__ = ["localize", "utcnow", "to_utc_key", "AmbiguousTime", "NonExistentTime"]
