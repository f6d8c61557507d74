"""Ledger times (UTC keys) as local ISO 8601 strings, fast enough for 100,000 rows.

`datetime.fromisoformat(key).astimezone(tz).isoformat()` is the definition; listing every
inbox message spent a third of its time in it (zoneinfo has no bulk conversion).  Within
one UTC hour the zone's offset is the same unless a transition falls inside it, so the
offset is asked of zoneinfo once per hour (at its first and last instant), the local hour
worked out once per hour (minutes and seconds copied across) when the offset is whole hours,
else the local minute once per minute (the seconds copied across).  Anything else (a key not in
`to_utc_key`'s shape, an offset with seconds, an hour holding a transition) takes the
definition.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

class LocalTimes:
    def __init__(self, tz: ZoneInfo):
        self.tz = tz
        self._minutes: dict[str, tuple[str, str] | None] = {}
        self._hours: dict[str, tuple[timedelta, str] | None] = {}
        self._whole_hours: dict[str, tuple[str, str] | None] = {}

    def __call__(self, key: str | None) -> str | None:
        if not key:
            return None
        # to_utc_key's shape: 2027-03-01T09:00:00.000000+00:00 (32 characters).
        if len(key) != 32 or key[19] != "." or not key.endswith("+00:00"):
            return self.slow(key)
        micro = key[20:26]
        whole = self._whole_hours.get(key[:13], False)
        if whole is False:
            whole = self._whole_hours[key[:13]] = self._whole_hour(key[:13])
        if whole is not None:             # minutes and seconds are the same in UTC and here
            return whole[0] + key[13:19] + ("" if micro == "000000" else "." + micro) + whole[1]
        minute = key[:16]
        found = self._minutes.get(minute, False)
        if found is False:
            found = self._minutes[minute] = self._minute(minute)
        if found is None:
            return self.slow(key)
        return found[0] + key[16:19] + ("" if micro == "000000" else "." + micro) + found[1]

    def slow(self, key: str) -> str:
        return datetime.fromisoformat(key).astimezone(self.tz).isoformat()

    def _minute(self, minute: str) -> tuple[str, str] | None:
        hour = self._hours.get(minute[:13], False)
        if hour is False:
            hour = self._hours[minute[:13]] = self._hour(minute[:13])
        if hour is None:
            return None
        try:
            local = datetime.fromisoformat(minute) + hour[0]      # naive UTC minute + the hour's offset
        except ValueError:
            return None
        return local.isoformat()[:16], hour[1]

    def _whole_hour(self, hour: str) -> tuple[str, str] | None:
        """This UTC hour's local date and hour (2027-03-01T10) and offset text, when the
        offset is whole hours all through it (most zones: no minute needs working out)."""
        found = self._hours.get(hour, False)
        if found is False:
            found = self._hours[hour] = self._hour(hour)
        if found is None or found[0] % timedelta(hours=1):
            return None
        try:
            local = datetime.fromisoformat(hour + ":00") + found[0]
        except ValueError:
            return None
        return local.isoformat()[:13], found[1]

    def _hour(self, hour: str) -> tuple[timedelta, str] | None:
        """The zone's offset through this UTC hour and its text (+01:00), or None if it
        changes inside the hour or has seconds (local mean time)."""
        try:
            start = datetime.fromisoformat(hour + ":00:00+00:00").astimezone(self.tz)
            end = datetime.fromisoformat(hour + ":59:59.999999+00:00").astimezone(self.tz)
        except ValueError:
            return None
        offset = start.utcoffset()
        if offset is None or offset % timedelta(minutes=1) or end.utcoffset() != offset:
            return None
        return offset, start.isoformat()[19:]
