"""What the Inbox pages show and do, through the functions behind `bot.py inbox ...`.

The list is `inbox` (store.messages, read one page at a time with limit/offset: never the
whole inbox), a conversation is `inbox show` (commands.show), the actions are
triage.assign/tag/note/close, moderate.hide and replies.reply_file (`inbox reply`), and
the report is `inbox report` (report.report).  The reply's verdict is `bot.py validate
FILE` (validate.check, which asks the gate's `decide`), the check the CLI tells the
officer to run.  Nothing here decides anything those functions do not already say.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Mapping

from ..config import Config
from ..errors import BotError
from ..inbox import commands, moderate, replies, report, store, triage
# The CLI's own opening of the inbox's ledger (SQLite; readonly and no file: None, no inbox).
from ..inbox.commands import _ledger
from ..validate import check

PER_PAGE = 50
# Plain words for each flag (the list and the conversation say them, not codes).
FLAG_WORDS = {"foi": "Possible Freedom of Information request", "complaint": "Complaint",
              "urgent": "Urgent or safeguarding", "abusive": "Abusive language",
              "welsh": "Welsh: the reply is expected in Welsh (Welsh Language Standards)"}
ACTIONS = {"assign": "Assign", "tag": "Tag", "note": "Add a note", "close": "Close",
           "hide": "Hide on the network", "reply": "Write a reply draft"}
# The form field each action reads, and its longest accepted value.
FIELDS = {"assign": ("name", 200), "tag": ("tag", 100), "note": ("text", 2000), "close": ("reason", 500),
          "hide": ("reason", 500), "reply": ("text", 5000)}


def foi_date(value: str | None) -> str:
    """`Thursday 21 January 2027` from the stored ISO date."""
    return date.fromisoformat(value).strftime("%A %d %B %Y") if value else ""


# ----- the list ------------------------------------------------------------------------
@dataclass
class Filters:
    state: str = ""
    channel: str = ""
    item: str = ""
    flag: str = ""
    since: str = ""
    page: int = 1

    def query(self, **changes) -> dict:
        """The filters as URL parameters (empty ones left out), with ``changes``."""
        values = {**asdict(self), **changes}
        return {k: v for k, v in values.items() if v and not (k == "page" and v == 1)}


def filters_from(args: Mapping[str, str], config: Config) -> Filters:
    """The list's filters from the query string, refused with the CLI's own sentences."""
    f = Filters(*(str(args.get(k) or "").strip()[:200] for k in ("state", "channel", "item", "flag", "since")))
    if f.state and f.state not in commands.STATES:
        raise BotError(f"inbox --state {f.state!r}: use one of {', '.join(commands.STATES)}")
    if f.flag and f.flag not in commands.FLAGS:
        raise BotError(f"inbox --flag {f.flag!r}: use one of {', '.join(commands.FLAGS)}")
    if f.channel and f.channel not in config.channels:
        raise BotError(f"inbox --channel {f.channel!r}: no [channels.{f.channel}] in {config.path.name}")
    since_moment(f.since, config)
    page = str(args.get("page") or "1")
    f.page = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    return f


def since_moment(value: str, config: Config) -> datetime | None:
    """As `inbox --since`: a date or date-time, in the config's zone unless it says one."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BotError(f"{value!r} is not a date: write it like 2027-03-01 or 2027-03-01T09:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=config.timezone)


def list_page(config: Config, f: Filters, per_page: int = PER_PAGE) -> dict:
    """One page of `inbox` (newest first): one more row than shown says whether there is a
    next page, so no count of the whole inbox is needed."""
    rows: list[dict] = []
    with _ledger(config, readonly=True) as ledger:
        if ledger is not None:
            rows = store.messages(ledger, state=f.state or None, channel=f.channel or None, item=f.item or None,
                                  flag=f.flag or None, since=since_moment(f.since, config),
                                  limit=per_page + 1, offset=(f.page - 1) * per_page)
    shown = [commands.public_message(row, config.timezone) for row in rows[:per_page]]
    return {"messages": shown, "filters": f, "has_next": len(rows) > per_page, "per_page": per_page,
            "first": (f.page - 1) * per_page + 1, "states": commands.STATES, "flags": commands.FLAGS,
            "flag_words": FLAG_WORDS, "channels": list(config.channels)}


# ----- one conversation ----------------------------------------------------------------
def conversation_page(config: Config, message_id: int) -> dict | None:
    """`inbox show ID`, or None when there is no such message."""
    if not config.database.exists():
        return None
    try:
        data = commands.show(config, message_id)
    except BotError:
        return None
    return {**data, "flag_words": FLAG_WORDS, "actions": ACTIONS}


# ----- actions -------------------------------------------------------------------------
def act(config: Config, message_id: int, action: str, form: Mapping[str, str], user: str) -> dict:
    """Do one officer action as `web:<user>` through the CLI's own function; returns what
    the done page shows.  The functions raise BotError with the CLI's sentence when refused."""
    actor = f"web:{user}"
    field, longest = FIELDS[action]
    value = (form.get(field) or "").strip()[:longest]
    if action == "reply":
        return reply_draft(config, message_id, value, actor)
    if action == "hide":
        row = moderate.hide(config, message_id, value, actor)
        return {"message": commands.public_message(row, config.timezone)}
    run = {"assign": triage.assign, "tag": triage.tag, "note": triage.note, "close": triage.close}[action]
    with _ledger(config) as ledger:
        row = run(ledger, message_id, value, actor)
    return {"message": commands.public_message(row, config.timezone)}


def reply_draft(config: Config, message_id: int, text: str, actor: str) -> dict:
    """`inbox reply ID --text TEXT` (replies.reply_file, the same file), an event saying who
    wrote it, and `validate FILE`'s findings for it: the gate's verdict."""
    path = replies.reply_file(config, message_id, text, author=actor)
    with _ledger(config) as ledger:
        row = store.message(ledger, message_id)
        store.event(ledger, "reply-drafted", row["channel"], message_id, actor=actor,
                    reason=_shown_path(path, config), detail={"path": str(path)})
    return {"message": commands.public_message(row, config.timezone), **verdict(config, path, row["channel"])}


def verdict(config: Config, path: Path, channel: str) -> dict:
    checked = check(config.path, [str(path)])
    rel = {item.rel for item in checked.items}
    # The file's own findings, and its channel's settings (a channel missing one cannot send).
    problems = [p.as_dict() for p in checked.problems
                if p.path in rel or p.path == str(path) or (p.code == "config" and p.channel == channel)]
    return {"path": _shown_path(path, config), "file_text": path.read_text(encoding="utf-8"),
            "problems": problems, "errors": sum(p["level"] == "error" for p in problems),
            "item_id": checked.items[0].id if checked.items else None}


def _shown_path(path: Path, config: Config) -> str:
    """The file as the content repository knows it (content/replies/...md)."""
    root = config.content_dir.parent
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# ----- the report ----------------------------------------------------------------------
def report_page(config: Config, args: Mapping[str, str], now: datetime | None = None) -> dict:
    """`inbox report --since --until` (the same function and numbers), shaped for charts."""
    since_text = str(args.get("since") or "").strip()[:40]
    until_text = str(args.get("until") or "").strip()[:40]
    shown = {"since": since_text, "until": until_text, "flag_words": FLAG_WORDS, "office_hours": "",
             "target_hours": float(config.section("inbox").get("target_hours", report.DEFAULT_TARGET_HOURS))}
    try:
        # A bad [inbox] hours is the CLI's one clear line here too, not a broken page.
        shown["office_hours"] = "-".join(t.strftime("%H:%M") for t in report.office_hours(config))
        since, until = since_moment(since_text, config), since_moment(until_text, config)
    except BotError as exc:
        return {**shown, "error": str(exc), "channels": []}
    results = report.report(config, since, until, now=now) if config.database.exists() else []
    return {**shown, "error": None, "channels": results}
