"""`bot.py calendar`: the schedule as an iCalendar feed (icalendar) or a self-contained page.

One entry per item and planned time, naming its channels and each one's state.  The page
is plain semantic HTML with its own small stylesheet (no scripts, no external files):
it works on a phone, keeps WCAG 2.2 AA contrast, and never uses colour alone to say a
delivery is held, failed or missed.
"""
from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .config import Config
from .languages import display_title, split_delivery_item
from .scanner import ContentScanner
from .listing import history, queue
from .timeutil import human, utcnow

ATTENTION = {"blocked", "held", "failed", "missed", "uncertain"}


@dataclass
class Entry:
    item: str
    title: str
    when: datetime
    channels: dict[str, str] = field(default_factory=dict)     # channel -> state

    @property
    def attention(self) -> bool:
        return bool(ATTENTION & set(self.channels.values()))


def entries(config: Config, now: datetime | None = None, days_back: int = 14) -> list[Entry]:
    now = now or utcnow()
    titles = {i.id: display_title(i, config) for i in ContentScanner(config).scan().items}
    grouped: dict[tuple[str, str], Entry] = {}
    for row in history(config, since=now - timedelta(days=days_back)) + queue(config, now):
        item = split_delivery_item(row["item"])[0]      # a bilingual pair is one entry
        key = (item, row["planned_at"][:16])
        when = datetime.fromisoformat(row["planned_at"]).astimezone(config.timezone)
        entry = grouped.setdefault(key, Entry(item, titles.get(item) or item, when))
        entry.channels[row["channel"]] = "blocked" if row.get("blocked") else row["state"]   # the gate says no
    return sorted(grouped.values(), key=lambda e: (e.when, e.item))


def ics_uid(entry: Entry) -> str:
    """Stable per item and planned instant: the time in UTC, so the "Z" (RFC 5545 §3.3.5,
    UTC time) is true whatever the machine's own zone."""
    return f"{entry.item}-{entry.when.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}@civicpost"


def to_ics(config: Config, now: datetime | None = None) -> bytes:
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//civicpost//schedule//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "civicpost schedule")
    calendar.add("x-wr-timezone", config.timezone.key)
    found = entries(config, now)
    for entry in found:
        event = Event()
        states = ", ".join(f"{c}: {s}" for c, s in sorted(entry.channels.items()))
        event.add("uid", ics_uid(entry))
        event.add("summary", f"{'⚠ ' if entry.attention else ''}{entry.title} ({', '.join(sorted(entry.channels))})")
        event.add("description", f"Item: {entry.item}\nChannels: {states}")
        event.add("dtstart", entry.when)
        event.add("dtend", entry.when + timedelta(minutes=15))
        event.add("dtstamp", utcnow())
        event.add("categories", sorted(set(entry.channels.values())))
        event.add("status", "CANCELLED" if set(entry.channels.values()) == {"cancelled"} else
                  "TENTATIVE" if entry.attention else "CONFIRMED")
        calendar.add_component(event)
    if found:
        # A VTIMEZONE for the config's zone (RFC 5545 3.6.5: every TZID used must have one),
        # from zoneinfo, covering the feed's dates only, so Outlook shows the right local times.
        calendar.add_missing_timezones(first_date=found[0].when.date() - timedelta(days=366),
                                       last_date=found[-1].when.date() + timedelta(days=366))
    return calendar.to_ical()


STYLE = """
:root { color-scheme: light; --ink: #0b0c0c; --muted: #505a5f; --line: #b1b4b6; --alert: #b3261e;
        --alert-bg: #fbeae7; --ok: #00703c; --focus: #ffdd00; }
* { box-sizing: border-box; }
body { margin: 0; font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Arial, sans-serif; color: var(--ink);
       background: #fff; }
a { color: #1d70b8; } a:focus { outline: 3px solid var(--focus); background: var(--focus); color: var(--ink); }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; padding: .5rem; }
header, main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.75rem; margin: 0 0 .25rem; } h2 { font-size: 1.25rem; margin: 2rem 0 .5rem;
     border-bottom: 2px solid var(--line); } h3 { font-size: 1rem; margin: 0; }
p.summary { color: var(--muted); margin: 0; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .5rem 1rem; }
ol.day { list-style: none; padding: 0; margin: 0; }
li.entry { border: 1px solid var(--line); border-left: 6px solid var(--ok); padding: .5rem .75rem;
           margin: .5rem 0; border-radius: 2px; }
li.entry.attention { border-left-color: var(--alert); background: var(--alert-bg); }
.time { font-weight: 700; font-variant-numeric: tabular-nums; }
ul.channels { list-style: none; padding: 0; margin: .25rem 0 0; display: flex; flex-wrap: wrap; gap: .25rem .75rem; }
.state { font-weight: 700; } .state.attention { color: var(--alert); text-transform: uppercase; }
@media (max-width: 30rem) { header, main { padding: .75rem; } h1 { font-size: 1.4rem; } }
"""


def to_html(config: Config, now: datetime | None = None) -> str:
    now = now or utcnow()
    items = entries(config, now)
    by_day: dict[str, list[Entry]] = defaultdict(list)
    for entry in items:
        by_day[entry.when.strftime("%Y-%m-%d")].append(entry)
    needing = sum(e.attention for e in items)
    weeks: dict[str, str] = {}
    for day in by_day:
        moment = datetime.fromisoformat(day)
        weeks.setdefault(f"{moment:%G-W%V}", day)
    esc = html.escape
    out = [
        "<!DOCTYPE html>", '<html lang="en-GB">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>civicpost schedule</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
        '<a class="skip" href="#schedule">Skip to the schedule</a>',
        "<header>", "<h1>What goes out when</h1>",
        f'<p class="summary">{len(items)} planned or recent posts; {needing} need attention '
        f"(blocked, held, failed, missed or uncertain). Times are {esc(config.timezone.key)} local time. "
        f"Made {esc(human(now, config.timezone))}.</p>",
        '<nav aria-label="Weeks"><ul>',
        *[f'<li><a href="#day-{day}">Week of {datetime.fromisoformat(day):%d %b}</a></li>' for day in weeks.values()],
        "</ul></nav>", "</header>", '<main id="schedule">',
    ]
    if not items:
        out.append("<p>Nothing is planned.</p>")
    for day, day_entries in by_day.items():
        moment = datetime.fromisoformat(day)
        out.append(f'<section aria-labelledby="day-{day}"><h2 id="day-{day}">{moment:%A %d %B %Y}</h2>'
                   '<ol class="day">')
        for entry in day_entries:
            cls = "entry attention" if entry.attention else "entry"
            channels = "".join(
                f'<li>{esc(channel)}: <span class="state{" attention" if state in ATTENTION else ""}">'
                f"{esc(state)}</span></li>" for channel, state in sorted(entry.channels.items()))
            note = '<p><strong>Needs attention.</strong></p>' if entry.attention else ""
            out.append(f'<li class="{cls}"><h3><span class="time">{esc(human(entry.when, date=False))}</span> {esc(entry.title)}</h3>'
                       f'{note}<ul class="channels" aria-label="Channels">{channels}</ul></li>')
        out.append("</ol></section>")
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out)
