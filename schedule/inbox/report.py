"""`inbox report`: how well residents are being answered, per channel.

First-response time is counted in office hours (``[inbox] hours``, default
"09:00-17:00", Monday to Friday, England and Wales bank holidays excluded): a question at
16:30 on Friday answered at 09:30 on Monday took one office hour, not 65 clock hours.
The share answered within ``[inbox] target_hours`` (default 8 office hours, one working
day) is over the messages that were answered.  ``--html`` draws the same figures as bars
(inline SVG, no script), because people would rather look than read.
"""
from __future__ import annotations

import html
import statistics
import threading
import time as clock
from functools import lru_cache
from datetime import datetime, time, timedelta

from ..errors import ConfigError
from . import store
from .triage import working_day

DEFAULT_HOURS = "09:00-17:00"
DEFAULT_TARGET_HOURS = 8.0


def office_hours(config) -> tuple[time, time]:
    text = str(config.section("inbox").get("hours", DEFAULT_HOURS))
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise ConfigError(f"[inbox] hours = {text!r}: write it like \"09:00-17:00\"", str(config.path)) from None
    if end <= start:
        raise ConfigError(f"[inbox] hours = {text!r}: the end must be after the start", str(config.path))
    return start, end


def target_hours(config) -> float:
    value = config.section("inbox").get("target_hours", DEFAULT_TARGET_HOURS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"[inbox] target_hours = {value!r}: give a number of office hours, e.g. target_hours = 8",
                          str(config.path))
    return float(value)


def office_seconds(start: datetime, end: datetime, tz, hours: tuple[time, time]) -> float:
    """Seconds of office time between two aware moments (local working days only)."""
    if end <= start:
        return 0.0
    start, end = start.astimezone(tz), end.astimezone(tz)
    total, day = 0.0, start.date()
    while day <= end.date():
        if working_day(day):
            # Office hours never fall in the UK's 01:00-02:00 clock change, so these exist.
            opens = datetime.combine(day, hours[0], tz)
            closes = datetime.combine(day, hours[1], tz)
            overlap = (min(end, closes) - max(start, opens)).total_seconds()
            total += max(0.0, overlap)
        day += timedelta(days=1)
    return total


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[int(q * 100) - 1]


def report(config, since: datetime | None = None, until: datetime | None = None, now: datetime | None = None
           ) -> list[dict]:
    from ..database import open_configured
    from ..timeutil import utcnow

    now = now or utcnow()
    hours = office_hours(config)
    target = target_hours(config)
    ledger = open_configured(config)
    try:
        facts = _report_facts(ledger, since, until)
    finally:
        ledger.close()
    out = []
    for channel in sorted(facts):
        found = facts[channel]
        waits = [_office_hours(created, answered, config.timezone, hours) for created, answered in found["answered"]]
        oldest = found["oldest"]
        states = _first_seen(found["states"])
        out.append({
            "channel": channel, "messages": sum(n for _, n, _ in found["states"]),
            "states": {state: n for state, n, _ in states},
            "first_response_office_hours": {"median": _round(_quantile(waits, 0.5)), "p90": _round(_quantile(waits, 0.9))},
            "target_hours": target,
            "answered_within_target": round(sum(w <= target for w in waits) / len(waits), 3) if waits else None,
            "by_item": _most_common(_merged_items(found["items"])),
            "by_flag": _most_common(_flag_counts(found["flags"])),
            "oldest_unanswered": None if oldest is None else {
                "id": oldest["id"], "created_at": datetime.fromisoformat(oldest["created_at"]).astimezone(
                    config.timezone).isoformat(), "author": oldest["author"],
                "office_hours_waiting": _round(office_seconds(datetime.fromisoformat(oldest["created_at"]), now,
                                                              config.timezone, hours) / 3600)},
        })
    return out


# Counting every message takes ~0.4 s at 100,000 (#13: a page answers in < 200 ms), and
# the counts change only when a message does: they are kept per ledger and period until the
# inbox's change stamp moves (any write or erasure), and never longer than FACTS_KEPT_SECONDS,
# which bounds what a clock stepping backwards could leave stale.
FACTS_KEPT_SECONDS = 300.0
_kept_facts: dict[tuple, tuple] = {}
_kept_lock = threading.Lock()


def _report_facts(ledger, since: datetime | None, until: datetime | None) -> dict:
    key = (str(getattr(ledger, "url", None) or getattr(ledger, "path", "")),
           since and since.isoformat(), until and until.isoformat())
    stamp = store.change_stamp(ledger)
    with _kept_lock:
        kept = _kept_facts.get(key)
    if kept and kept[0] == stamp and clock.monotonic() - kept[1] < FACTS_KEPT_SECONDS:
        return kept[2]
    facts = store.report_facts(ledger, since=since, until=until)     # counted by SQL
    with _kept_lock:
        if len(_kept_facts) > 50:                                    # many periods asked: start again
            _kept_facts.clear()
        _kept_facts[key] = (stamp, clock.monotonic(), facts)
    return facts


def keep_warm(config, stop: threading.Event, every: float = 2.0) -> None:
    """For the web page (#13): count the whole-period report again as soon as the inbox
    changes, so a visit to Reports finds the counts kept (same stamp) rather than waiting
    for a count of every message.  Runs until ``stop`` is set; a request never waits for
    it and never gets figures older than the stamp (``_report_facts`` checks it each time)."""
    import logging

    from ..database import has_ledger, open_configured

    failed = False
    while not stop.is_set():                 # at once on start, then every ``every`` seconds
        try:
            ledger = open_configured(config, readonly=True) if has_ledger(config) else None
            if ledger is not None:
                try:
                    _report_facts(ledger, None, None)
                finally:
                    ledger.close()
            failed = False
        except Exception as exc:  # noqa: BLE001 - only a head start; the page counts for itself
            if not failed:
                logging.getLogger("civicpost.web").info("counting the inbox report ahead of the page failed: %s", exc)
            failed = True
        stop.wait(every)


@lru_cache(maxsize=200_000)
def _office_hours(created: str, answered: str, tz, hours: tuple[time, time]) -> float:
    """An answered message's wait in office hours; kept, as both times are fixed once answered."""
    return office_seconds(datetime.fromisoformat(created), datetime.fromisoformat(answered), tz, hours) / 3600


def _first_seen(groups: list[tuple]) -> list[tuple]:
    """Groups in the order a newest-first listing meets them (their newest message first)."""
    return sorted(groups, key=lambda group: group[2], reverse=True)


def _most_common(groups: list[tuple]) -> dict:
    """Counter.most_common over the listing: by count, ties in the order first seen."""
    return {value: n for value, n, _ in sorted(_first_seen(groups), key=lambda group: group[1], reverse=True)}


def _merged_items(groups: list[tuple]) -> list[tuple]:
    """Messages answering no post (no item) are counted under one label."""
    merged: dict = {}
    for item, n, newest in groups:
        label = item or "(not a reply to a post)"
        seen = merged.get(label)
        merged[label] = (label, n + (seen[1] if seen else 0), max(newest, seen[2]) if seen else newest)
    return list(merged.values())


def _flag_counts(groups: list[tuple]) -> list[tuple]:
    """Flags from the groups of flag lists: each flag's count, first seen in its newest list
    (and, within one list, in the list's order)."""
    counts: dict[str, list] = {}
    for text, n, newest in _first_seen(groups):
        for position, flag in enumerate(store.words(text)):
            if flag not in counts:
                counts[flag] = [flag, 0, (newest, -position)]
            counts[flag][1] += n
    return [tuple(entry) for entry in counts.values()]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# ----- the page ----------------------------------------------------------------------
def _bars(title: str, values: dict[str, float], unit: str = "") -> str:
    if not values:
        return f"<h3>{html.escape(title)}</h3><p>Nothing yet.</p>"
    top = max(values.values()) or 1
    height = 26 * len(values) + 10
    rows = []
    for number, (label, value) in enumerate(values.items()):
        y = 10 + 26 * number
        width = max(2, 300 * value / top)
        rows.append(f'<text x="0" y="{y + 14}">{html.escape(str(label))[:40]}</text>'
                    f'<rect x="260" y="{y}" width="{width:.0f}" height="18" fill="#1d70b8"></rect>'
                    f'<text x="{265 + width:.0f}" y="{y + 14}">{value:g}{unit}</text>')
    return (f'<h3>{html.escape(title)}</h3><svg role="img" aria-label="{html.escape(title)}" width="640" '
            f'height="{height}" xmlns="http://www.w3.org/2000/svg" font-size="13">{"".join(rows)}</svg>')


def to_html(results: list[dict], title: str = "Inbox report") -> str:
    sections = []
    for r in results:
        fr = r["first_response_office_hours"]
        share = "-" if r["answered_within_target"] is None else f"{r['answered_within_target'] * 100:.0f}%"
        oldest = r["oldest_unanswered"]
        sections.append(
            f"<section><h2>{html.escape(r['channel'])}</h2><ul>"
            f"<li>{r['messages']} messages: " + ", ".join(f"{v} {html.escape(k)}" for k, v in r["states"].items())
            + f"</li><li>First response (office hours): median {fr['median'] if fr['median'] is not None else '-'}"
            f", 90th percentile {fr['p90'] if fr['p90'] is not None else '-'}</li>"
            f"<li>Answered within {r['target_hours']:g} office hours: {share}</li>"
            + (f"<li>Oldest unanswered: message {oldest['id']} from {html.escape(oldest['author'] or '')}, "
               f"{oldest['office_hours_waiting']} office hours waiting</li>" if oldest else "")
            + "</ul>" + _bars("Messages by item", r["by_item"]) + _bars("Messages by flag", r["by_flag"])
            + _bars("First response (office hours)", {k: v for k, v in fr.items() if v is not None}, " h")
            + "</section>")
    body = "".join(sections) or "<p>No messages in this period.</p>"
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title><style>'
            "body{font-family:system-ui,sans-serif;margin:1rem;color:#0b0c0c}svg text{fill:#0b0c0c}"
            f"section{{margin-bottom:2rem}}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
