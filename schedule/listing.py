"""`bot.py queue` and `bot.py history`: deliveries in one public shape (see Ledger.as_public)."""
from __future__ import annotations

from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from .config import Config
from .scanner import ContentScanner
from .database import open_configured
from .ledger import OPEN_STATES, public_row
from .gate import decide
from .signoff import records_in
from .render import Renderer
from .languages import PAIR_SEPARATOR, languages, split_delivery_item
from .plan import blackout_for, wanted
from .timeutil import human, iso_seconds, to_utc_key, utcnow

# Deliveries that may still go out, or wait for a person: "blocked" waits for its file's fix.
SHOWN_STATES = tuple(dict.fromkeys(OPEN_STATES + ("blocked",)))


def queue(config: Config, now: datetime | None = None, item: str | None = None, channel: str | None = None,
          until: datetime | None = None, items: list | None = None, since: datetime | None = None,
          verdicts=None) -> list[dict]:
    """Every planned delivery from now on, in time order, with its state.

    The content files say what is planned; the ledger (if the daemon has run) says what
    has happened to each, and its id (which `cancel` takes).  Open deliveries that are
    overdue (retrying, held, blocked) are included.  ``item`` (an id or a pattern such as
    "bins/*"), ``channel``, ``since`` (inclusive) and ``until`` (exclusive) narrow it; the
    time window and an exact item id are read from the ledger by SQL, and only the items
    inside the window are judged by the gate.  ``verdicts`` (a `verdicts.Verdicts`, kept by
    a long-running reader such as the web page) remembers the gate's verdicts per file.
    """
    def wanted_here(row: dict) -> bool:
        return _matches(row, item, channel, until, since)

    return _queue(config, now or utcnow(), items, wanted_here, since=since, until=until, item=item, verdicts=verdicts)


def _matches(row: dict, item: str | None, channel: str | None, until: datetime | None,
             since: datetime | None = None) -> bool:
    if item and not (fnmatchcase(row["item"], item) or fnmatchcase(split_delivery_item(row["item"])[0], item)):
        return False
    if channel and row["channel"] != channel:
        return False
    if since and datetime.fromisoformat(row["planned_at"]) < since:
        return False
    return not (until and datetime.fromisoformat(row["planned_at"]) >= until)


def by_item(rows: list[dict]) -> list[dict]:
    """One entry per item and planned time, with its channels (ids and states) in order:
    the shape of the queue table."""
    grouped: dict[tuple[str, str], dict] = {}
    for row in rows:
        base = split_delivery_item(row["item"])[0]
        key = (base, row["planned_at"][:16])          # a bilingual pair's posts are seconds apart
        entry = grouped.setdefault(key, {"item": base, "planned_at": row["planned_at"], "channels": [],
                                         "notes": []})
        # The gate's verdict shows as "blocked" (the ledger still says what happened so far).
        entry["channels"].append({"channel": row["channel"], "id": row["id"],
                                  "state": "blocked" if row.get("blocked") else row["state"],
                                  "lang": split_delivery_item(row["item"])[1]})
        if row.get("note") and row["note"] not in entry["notes"]:
            entry["notes"].append(row["note"])
    return list(grouped.values())


_GLOB = set("*?[")


def _ledger_rows(ledger, now: datetime, since: datetime | None, until: datetime | None,
                 item: str | None) -> list[dict]:
    """The ledger rows a queue in [since, until) can show or look up: those planned from
    now (or ``since``) on, whatever their state, and the overdue ones still open.  Two
    indexed range reads instead of the whole ledger; an exact item id narrows both."""
    where, args = [], []
    if item and not _GLOB & set(item):
        # The id itself or one language of its bilingual pair ("<id>#<lang>"; ids have no '#').
        # substr, not a range on item: PostgreSQL's collation may not sort '#' by its code.
        where.append("(item = ? OR substr(item, 1, ?) = ?)")
        args += [item, len(item) + 1, item + PAIR_SEPARATOR]
    elif since is None and until is None:
        return ledger.deliveries()

    def read(extra: list[str], extra_args: list) -> list[dict]:
        clauses = where + extra
        return ledger._query("SELECT * FROM deliveries" + (" WHERE " + " AND ".join(clauses) if clauses else "")
                             + " ORDER BY planned_at, id", args + extra_args)

    low = max(now, since) if since else now
    ahead = ["planned_at >= ?"] + (["planned_at < ?"] if until else [])
    rows = read(ahead, [to_utc_key(low)] + ([to_utc_key(until)] if until else []))
    high = min(now, until) if until else now
    if since is None or since < high:
        overdue = [f"state IN ({', '.join('?' * len(SHOWN_STATES))})", "planned_at < ?"] + \
            (["planned_at >= ?"] if since else [])
        rows += read(overdue, [*SHOWN_STATES, to_utc_key(high)] + ([to_utc_key(since)] if since else []))
    return rows


def _in_window(item, low: datetime, until: datetime | None, overdue: set[str], gap: timedelta) -> bool:
    """Could this item have a delivery in the window (times plus a bilingual pair's gap)?"""
    if item.id in overdue:
        return True
    return any(when + gap >= low and (until is None or when < until) for when in item.times)


def _queue(config: Config, now: datetime, items: list | None = None, keep=lambda row: True,
           since: datetime | None = None, until: datetime | None = None, item: str | None = None,
           verdicts=None) -> list[dict]:
    ledger = open_configured(config, readonly=True)
    rows, records = {}, {}
    if ledger is not None:
        try:
            for row in _ledger_rows(ledger, now, since, until, item):
                rows[(row["item"], row["channel"], row["planned_at"])] = row
            records = records_in(ledger)               # page sign-offs count as approved_by:
        finally:
            ledger.close()
    renderer = verdicts.session() if verdicts is not None else Renderer(config)
    found = {}                                         # the gate's verdict, once per item
    tz = config.timezone
    out: dict[tuple, dict] = {}
    # items: a caller that keeps its own scanner (the web page) passes what it read.
    candidates = ContentScanner(config).scan().items if items is None else items
    if since is not None or until is not None:
        # Only items with a time in the window (or an overdue open delivery) are planned and judged.
        langs = languages(config)
        gap = timedelta(seconds=langs.pair_gap_seconds * (len(langs.order) - 1)) if langs else timedelta(0)
        overdue = {split_delivery_item(key[0])[0] for key, row in rows.items() if row["state"] in SHOWN_STATES}
        low = max(now, since) if since else now
        candidates = [i for i in candidates if _in_window(i, low, until, overdue, gap)]
    for want in wanted(candidates, config, now):
        row = rows.get(want.key)
        if want.when < now and (row is None or row["state"] not in SHOWN_STATES):
            continue
        entry = public_row(row, tz) if row else {
            "id": None, "item": want.delivery_item, "channel": want.channel, "network": want.network,
            "planned_at": iso_seconds(want.when, tz), "posted_at": None, "state": "scheduled",
            "remote_id": None, "url": None, "attempts": 0, "error": None, "dry_run": False}
        if not keep(entry):
            continue          # filtered out before the gate: `queue --item x` need not render every item
        window = blackout_for(want.item, want.when, config)
        entry["note"] = f"inside blackout '{window.reason}': will be held" if window else None
        # The gate (the daemon's own check): an error here means this delivery will not be sent.
        if want.item.id not in found:
            found[want.item.id] = verdicts.verdict(want.item, now, records, renderer) if verdicts is not None \
                else decide(want.item, config, renderer, now, advice=False, signoffs=records)
        errors = found[want.item.id].errors(want.channel)
        entry["blocked"] = str(errors[0]) if errors else None
        if errors:
            entry["note"] = f"will not be sent: {errors[0]}"
        out[want.key] = entry
    for key, row in rows.items():
        if key not in out and (row["planned_at"] >= to_utc_key(now) or row["state"] in SHOWN_STATES) \
                and not row.get("dry_run"):
            out[key] = {**public_row(row, tz), "note": None, "blocked": None}
    return sorted((entry for entry in out.values() if keep(entry)),
                  key=lambda d: (datetime.fromisoformat(d["planned_at"]), d["item"], d["channel"]))


def history(config: Config, since: datetime | None = None, include_dry_run: bool = False,
            until: datetime | None = None) -> list[dict]:
    """What went out (or was meant to and did not), newest last; ``until`` (exclusive)
    bounds the planned time as ``since`` does."""
    ledger = open_configured(config, readonly=True)
    if ledger is None:
        return []
    try:
        rows = [row for row in ledger.deliveries(states=["posted", "failed", "missed", "uncertain", "cancelled"],
                                                 since=since, until=until)
                if include_dry_run or not row.get("dry_run")]
        parts = _parts_of(ledger, [row["id"] for row in rows])
        return [{**ledger.as_public(row), "parts": parts.get(row["id"], [])} for row in rows]
    finally:
        ledger.close()


def _parts_of(ledger, ids: list[int]) -> dict[int, list[dict]]:
    """Delivery id -> its posted parts, in order: one query per 500 deliveries, not one each."""
    out: dict[int, list[dict]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for part in ledger._query(f"SELECT delivery_id, remote_id, url FROM parts WHERE delivery_id IN "
                                  f"({', '.join('?' * len(chunk))}) ORDER BY delivery_id, idx", chunk):
            out.setdefault(part["delivery_id"], []).append({"remote_id": part["remote_id"], "url": part["url"]})
    return out


def print_queue(entries: list[dict], tz, console) -> None:
    """One row per item and time; its channels, delivery ids and states one line each."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    if not entries:
        console.print("Queue: nothing planned")
        return
    table = Table(title="Queue", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("when", no_wrap=True)
    table.add_column("item", overflow="fold")
    table.add_column("channel", no_wrap=True)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True)
    unplanned = False
    for entry in entries:
        channels = entry["channels"]
        unplanned = unplanned or any(c["id"] is None for c in channels)
        item = Text(entry["item"])
        for note in entry["notes"]:
            item.append(f"\n! {note}", style="yellow")
        table.add_row(human(entry["planned_at"], tz), item,
                      Text("\n".join(c["channel"] + (f" ({c['lang']})" if c["lang"] else "") for c in channels)),
                      Text("\n".join(str(c["id"] or "") for c in channels)),
                      Text("\n".join(c["state"] for c in channels)))
    console.print(table)
    if unplanned:
        console.print(Text("A blank id: not in the ledger yet (the daemon adds it when it runs: `python bot.py "
                           "run`). `cancel ID` takes the ids shown; until there is one, set draft: true in the "
                           "file or remove the channel from it."))


def print_history(rows: list[dict], tz, console) -> None:
    """One row per delivery, fitting 80 columns: its times stacked in one column, and its link
    or error under the item (seven side-by-side columns left the item one letter wide)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    if not rows:
        console.print("History: nothing to show")
        return
    table = Table(title="History", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("planned\nposted", no_wrap=True)
    table.add_column("item, link or error", overflow="fold")
    table.add_column("channel", overflow="fold")
    table.add_column("state", no_wrap=True)
    for row in rows:
        when = human(row["planned_at"], tz)
        if row.get("posted_at"):
            when += f"\n{human(row['posted_at'], tz)}"
        item = Text(row["item"])          # Text, not markup: ids and errors are shown as written
        if row.get("url"):
            item.append(f"\n{row['url']}")
        if row.get("error"):
            item.append(f"\n! {row['error']}", style="yellow")
        table.add_row(str(row.get("id") or "-"), when, item, Text(row["channel"]), row["state"])
    console.print(table)
