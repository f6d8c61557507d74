"""What each page shows, gathered only through the functions behind the CLI commands:
`status` (operator.py), `queue`/`history` (listing.py), `preview` (preview.py) and the
ledger's own reads.  Nothing here decides anything the CLI does not already say."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from ..config import Config
from ..languages import PAIR_SEPARATOR, languages, split_delivery_item
from ..database import open_configured
from ..listing import history, queue
from ..operator import status
from ..preview import preview_items
from .. import tokens
from ..signoff import approved_by_page, history as signoff_history, signoffs
from ..scanner import duplicate_ids
from ..validate import check
from .content import Content
from ..timeutil import AmbiguousTime, NonExistentTime, localize, utcnow

ATTENTION = {"blocked", "failed", "missed", "uncertain", "held"}


def local_time(value: str | datetime | None, config: Config, with_date: bool = True) -> str:
    """`Tue 14 Jan 2030 10:00 GMT`: local time with the zone's abbreviation, so a reader
    never wonders whether a time is UTC or British Summer Time."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment.astimezone(config.timezone)
    return moment.strftime("%a %d %b %Y %H:%M %Z" if with_date else "%H:%M %Z")


def now_page(config: Config, content: Content, now: datetime | None = None) -> dict:
    now = now or utcnow()
    state = status(config, now)
    horizon = now + timedelta(hours=24)
    upcoming = queue(config, now, items=content.items, until=horizon, verdicts=content.verdicts)
    blackouts = [{"start": b.start, "end": b.end, "reason": b.reason, "allow_tags": b.allow_tags,
                  "active": b.covers(now)} for b in config.blackouts if b.end > now]
    return {"status": state, "next": upcoming, "blackouts": blackouts, "now": now, "horizon": horizon,
            "tokens": tokens.needing_attention(config, now)}


@dataclass
class Entry:
    item: str
    title: str
    when: datetime
    channels: dict[str, dict] = field(default_factory=dict)     # channel -> delivery row
    has_file: bool = True                                       # False: only the ledger remembers it

    @property
    def attention(self) -> bool:
        return any(row["state"] in ATTENTION for row in self.channels.values())


def window(config: Config, view: str, start: str | None, now: datetime) -> tuple[datetime, datetime, date, date]:
    """[start, end) of the week (from Monday) or month holding ``start`` (default today),
    as aware local midnights, and the first days of the previous and next windows."""
    today = now.astimezone(config.timezone).date()
    try:
        day = date.fromisoformat(start) if start else today
    except ValueError:
        day = today
    if view == "month":
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
        before = (first - timedelta(days=1)).replace(day=1)
    else:
        first = day - timedelta(days=day.weekday())
        after, before = first + timedelta(days=7), first - timedelta(days=7)
    return _day_start(first, config), _day_start(after, config), before, after


def _day_start(day: date, config: Config) -> datetime:
    """The first instant of a local day.  In a zone whose clocks jump at midnight (Cuba,
    Chile...) midnight is skipped or repeated; the window then starts at the earlier
    reading, explicitly, rather than guessing silently."""
    try:
        return localize(datetime.combine(day, time()), config.timezone)
    except (NonExistentTime, AmbiguousTime):
        return datetime.combine(day, time(), tzinfo=config.timezone).replace(fold=0)


def calendar_page(config: Config, content: Content, view: str = "week", start: str | None = None,
                  channel: str | None = None, now: datetime | None = None) -> dict:
    now = now or utcnow()
    view = "month" if view == "month" else "week"
    begin, end, before, after = window(config, view, start, now)
    titles = {item.id: item.title for item in content.items}
    grouped: dict[tuple[str, str], Entry] = {}
    # Only the window is read and judged: the ledger by SQL, the gate for the items in it.
    rows = history(config, since=begin, until=end) + (
        queue(config, now, items=content.items, since=begin, until=end, channel=channel, verdicts=content.verdicts)
        if end > now else [])
    for row in rows:
        when = datetime.fromisoformat(row["planned_at"])
        if not begin <= when < end or (channel and row["channel"] != channel):
            continue
        base, lang = split_delivery_item(row["item"])      # one post per language of a pair: one entry
        entry = grouped.setdefault((base, row["planned_at"][:16]), Entry(base, titles.get(base) or base, when,
                                                                          has_file=base in titles))
        entry.channels[row["channel"] + (f" ({lang})" if lang else "")] = row
    days: dict[date, list[Entry]] = defaultdict(list)
    for entry in sorted(grouped.values(), key=lambda e: (e.when, e.item)):
        days[entry.when.astimezone(config.timezone).date()].append(entry)
    return {"view": view, "begin": begin, "end": end - timedelta(days=1), "before": before, "after": after,
            "channel": channel, "channels": list(config.channels), "days": dict(sorted(days.items())),
            "count": len(grouped)}


def preview_page(config: Config, content: Content, item_id: str, now: datetime | None = None) -> dict | None:
    """The item's `preview --json` entry, exactly as the CLI computes it."""
    item = content.by_id.get(item_id)
    if item is None:
        return None
    # preview()'s own two steps, so the digest the sign-off form carries is that of the
    # very read whose text is shown (one read, no window for an edit in between).
    # The id is compared with the folder as the page's scanner last read it (as the daemon
    # does with its own scan), not by a second cold read of every file.
    checked = check(config.path, [str(item.path)], now=now, every_id=False)
    checked.problems.extend(_collisions(content, checked))
    fresh = next((i for i in checked.items if i.id == item_id), None)
    if fresh is None:
        return None
    found = next(entry for entry in preview_items(checked) if entry["id"] == item_id)
    loose = [p.as_dict() for p in checked.problems if p.path not in {i.rel for i in checked.items}]
    records = signoffs(config)
    return {"item": found, "loose": loose, "digest": fresh.digest, "signed_by": approved_by_page(fresh, records),
            "last_signoff": records.get(item_id)}


def _collisions(content: Content, checked) -> list:
    """validate's id check for one named file, against the page's last read of the folder."""
    named = {i.rel for i in checked.items}
    others = [i for i in content.items if i.rel not in named]
    return [p for p in duplicate_ids(others + checked.items) if p.path in named]


def post_page(config: Config, content: Content, item_id: str) -> dict | None:
    """One item's deliveries, each with its events (who, when, why) and posted parts."""
    item = content.fresh(item_id)
    ledger = open_configured(config, readonly=True)
    deliveries = []
    if ledger is not None:
        try:
            langs = languages(config)
            ids = [item_id] + [f"{item_id}{PAIR_SEPARATOR}{lang}" for lang in (langs.order if langs else ())]
            for row in ledger.deliveries(items=ids):
                deliveries.append({**ledger.as_public(row), "commit_sha": row["commit_sha"], "author": row["author"],
                                   "approved_by": row["approved_by"], "source": row["source"],
                                   "hold_reason": row["hold_reason"], "events": ledger.events(delivery_id=row["id"]),
                                   "parts": ledger.parts(row["id"])})
        finally:
            ledger.close()
    if item is None and not deliveries:
        return None
    planned = [] if item is None else [row for row in queue(config, items=[item], item=item_id,
                                                             verdicts=content.verdicts)
                                       if split_delivery_item(row["item"])[0] == item_id and row["id"] is None]
    records = signoffs(config)
    return {"id": item_id, "title": item.title if item else item_id, "source": item.rel if item else None,
            "approved_by": item.extra.get("approved_by") if item else None,
            "signed_by": approved_by_page(item, records) if item else None, "last_signoff": records.get(item_id),
            "signoffs": signoff_history(config, item_id), "digest": item.digest if item else None,
            "deliveries": deliveries, "planned": planned}


def reports_page(config: Config, months: int = 12, now: datetime | None = None) -> dict:
    """Posts per channel per month (the local month each went out), from `history`.

    Inbox response times join this page when the inbox lands."""
    now = now or utcnow()
    today = now.astimezone(config.timezone).date()
    firsts = [today.replace(day=1)]
    while len(firsts) < months:
        firsts.append((firsts[-1] - timedelta(days=1)).replace(day=1))
    firsts.reverse()
    since = _day_start(firsts[0], config)
    counts: dict[str, dict[str, int]] = {name: {f"{d:%Y-%m}": 0 for d in firsts} for name in config.channels}
    for row in history(config, since=since):
        if row["state"] != "posted" or not row["posted_at"]:
            continue
        month = datetime.fromisoformat(row["posted_at"]).astimezone(config.timezone).strftime("%Y-%m")
        per_channel = counts.setdefault(row["channel"], {f"{d:%Y-%m}": 0 for d in firsts})
        if month in per_channel:
            per_channel[month] += 1
    labels = [(f"{d:%Y-%m}", f"{d:%b %Y}") for d in firsts]
    top = max([n for per in counts.values() for n in per.values()] + [1])
    return {"months": labels, "counts": counts, "top": top,
            "total": sum(n for per in counts.values() for n in per.values())}
