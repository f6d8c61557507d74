"""The ledger's time keys (`timeutil.to_utc_key`): one fixed shape, so that string order is
time order.  Expected strings are written out by hand from ISO 8601 / RFC 3339 (date, "T",
time with six fraction digits, offset "+00:00"), not produced by the code under test."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from schedule.timeutil import to_utc_key

LONDON = ZoneInfo("Europe/London")


def test_shape_in_utc_whatever_the_zone():
    assert to_utc_key(datetime(2027, 3, 1, 9, 0, tzinfo=LONDON)) == "2027-03-01T09:00:00.000000+00:00"
    # British Summer Time is UTC+1: 09:30 BST is 08:30 UTC.
    assert to_utc_key(datetime(2027, 7, 1, 9, 30, 5, 120, tzinfo=LONDON)) == "2027-07-01T08:30:05.000120+00:00"
    assert to_utc_key(datetime(2027, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))) == \
        "2028-01-01T04:59:59.999999+00:00"


def test_string_order_is_time_order():
    moments = [datetime(2027, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=s, microseconds=m)
               for s in (0, 1, 59, 3600) for m in (0, 1, 500000)]
    keys = [to_utc_key(m) for m in moments]
    assert sorted(keys) == [to_utc_key(m) for m in sorted(moments)]
    assert {len(k) for k in keys} == {32}
    assert all(datetime.fromisoformat(k) == m for k, m in zip(keys, moments))
