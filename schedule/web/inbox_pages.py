"""What the Inbox pages show and do, through the functions behind `bot.py inbox ...`.

The list is `inbox` (store.messages, read one page at a time with limit/offset: never the
whole inbox), a conversation is `inbox show` (commands.show), the actions are
triage.assign/tag/note/close, moderate.hide and replies.reply_file (`inbox reply`), and
the report is `inbox report` (report.report).  The reply's verdict is `bot.py validate
FILE` (validate.check, which asks the gate's `decide`), the check the CLI tells the
officer to run.  Nothing here decides anything those functions do not already say.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from ..config import Config
from ..counting import grapheme_clusters
from ..database import has_ledger
from ..errors import BotError
from ..inbox import commands, moderate, replies, report, store, triage
# The CLI's own opening of the inbox's ledger (SQLite; readonly and no file: None, no inbox).
from ..inbox.commands import _ledger
from ..validate import check

PER_PAGE = 50
MAX_ID = 2**63 - 1          # SQLite's largest INTEGER: no message id is above it
# Plain words for each flag (the list and the conversation say them, not codes).
FLAG_WORDS = {"foi": "Possible Freedom of Information request", "complaint": "Complaint",
              "urgent": "Urgent or safeguarding", "abusive": "Abusive language",
              "welsh": "Welsh: the reply is expected in Welsh (Welsh Language Standards)"}
ACTIONS = {"assign": "Assign", "tag": "Tag", "note": "Add a note", "close": "Close",
           "hide": "Hide on the network", "reply": "Write a reply draft"}
# The form field each action reads, and its longest accepted value.
FIELDS = {"assign": ("name", 200), "tag": ("tag", 100), "note": ("text", 2000), "close": ("reason", 500),
          "hide": ("reason", 500), "reply": ("text", 5000)}
# C0 controls and DEL, bar tab and line breaks: nothing a person types.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The id of each action's form control in inbox_message.html (where a refusal is said).
FIELD_IDS = {"assign": "assign-name", "tag": "tag-name", "note": "note-text", "close": "close-reason",
             "hide": "hide-reason", "reply": "reply-text"}


def foi_date(value: str | None) -> str:
    """`Thursday 21 January 2027` from the stored ISO date."""
    return date.fromisoformat(value).strftime("%A %d %B %Y") if value else ""


# A language tag as BCP 47 spells it (the detector's ISO 639-1 code, or what the network
# reported): only such a value goes into a lang="" attribute (WCAG 3.1.2, language of parts).
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


def shorten(text: str, longest: int = 160) -> str:
    """The list's glimpse of a message: at most ``longest`` user-perceived characters, cut
    between grapheme clusters (UAX #29), so a flag or a family emoji is never split into
    stray halves (Jinja's truncate counts code points)."""
    if len(text) <= longest:
        return text
    clusters = grapheme_clusters(text)
    return text if len(clusters) <= longest else "".join(clusters[:longest - 1]) + "…"


def language_tag(value: str | None) -> str | None:
    return value if value and value.lower() != "und" and LANGUAGE_TAG.fullmatch(value) else None


def web_link(value: str | None) -> bool:
    """Whether a message's link may be a link: only http(s).  A federated network (Mastodon)
    lets the resident's own server say what the URL is, so javascript:, data: and the like
    are shown as text, never followed."""
    return bool(value) and urlsplit(value).scheme.lower() in ("http", "https")


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


class FilterError(BotError):
    """A filter the list cannot use: ``field`` is the form control it belongs to (None for
    ``page``, which has no control), so the page can say it beside that field."""

    def __init__(self, field: str | None, message: str, filters: Filters):
        super().__init__(message)
        self.field, self.filters = field, filters


# A page number as typed in a URL: ASCII digits only (str.isdigit() also accepts "²" and
# other Unicode digits that int() refuses, and int() refuses over 4,300 digits).
PAGE_NUMBER = re.compile(r"[0-9]{1,5}")


def filters_from(args: Mapping[str, str], config: Config) -> Filters:
    """The list's filters from the query string, refused with the CLI's own sentences."""
    f = Filters(*(str(args.get(k) or "").strip()[:200] for k in ("state", "channel", "item", "flag", "since")))
    if f.state and f.state not in commands.STATES:
        raise FilterError("state", f"inbox --state {f.state!r}: use one of {', '.join(commands.STATES)}", f)
    if f.flag and f.flag not in commands.FLAGS:
        raise FilterError("flag", f"inbox --flag {f.flag!r}: use one of {', '.join(commands.FLAGS)}", f)
    if f.channel and f.channel not in config.channels:
        raise FilterError("channel", f"inbox --channel {f.channel!r}: no [channels.{f.channel}] in "
                          f"{config.path.name}", f)
    try:
        since_moment(f.since, config)
    except BotError as exc:
        raise FilterError("since", str(exc), f) from None
    page = str(args.get("page") or "1").strip()
    if not PAGE_NUMBER.fullmatch(page) or not 0 < int(page) < 100_000:
        raise FilterError(None, f"page={page[:20]!r}{'…' if len(page) > 20 else ''} is not a page number: "
                          "use a whole number from 1 to 99999, like page=2", f)
    f.page = int(page)
    return f


def since_moment(value: str, config: Config) -> datetime | None:
    """As `inbox --since`: a date or date-time, in the config's zone unless it says one."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=config.timezone)
        # The ledger compares in UTC: year 1 or 9999 with an offset has no UTC time.
        moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise BotError(f"{value!r} is not a date: write it like 2027-03-01 or 2027-03-01T09:00") from None
    return moment


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
    return {**empty_list(config, f, per_page), "messages": shown, "has_next": len(rows) > per_page}


def empty_list(config: Config, f: Filters, per_page: int = PER_PAGE) -> dict:
    """The list page's frame with no messages (also what a refused filter shows)."""
    return {"messages": [], "filters": f, "has_next": False, "per_page": per_page,
            "first": (f.page - 1) * per_page + 1, "states": commands.STATES, "flags": commands.FLAGS,
            "flag_words": FLAG_WORDS, "channels": list(config.channels)}


# ----- private correspondence ----------------------------------------------------------
PRIVATE_TEXT = "A direct message: only officers and admins can read it."
PRIVATE_AUTHOR = "a resident (private)"


def for_reader(data: dict, rights: set[str]) -> dict:
    """Direct messages are private correspondence to the council (UK GDPR: access on a
    need-to-know basis), so their words, authors and links are shown only to those who
    answer them (the ``triage`` right: officers and admins).  A viewer or approver still
    sees that one exists, its channel, state and flags (a safeguarding flag is the team's
    business), never what it says.  ``data`` is a list page or a conversation page."""
    if "triage" in rights:
        return data

    def private(message: dict | None) -> dict | None:
        if not message or message.get("kind") != "direct":
            return message
        return {**message, "text": PRIVATE_TEXT, "author": PRIVATE_AUTHOR, "url": None, "language": None}

    shown = dict(data)
    if "messages" in shown:
        shown["messages"] = [private(m) for m in shown["messages"]]
    if "message" in shown:
        direct = (shown["message"] or {}).get("kind") == "direct"
        shown["message"] = private(shown["message"])
        shown["conversation"] = [private({**m, "kind": "direct"} if direct else m)
                                 for m in shown.get("conversation", [])]
        if direct:
            shown["versions"] = [{**v, "text": PRIVATE_TEXT} for v in shown.get("versions", [])]
            shown["notes"] = []
    return shown


# ----- one conversation ----------------------------------------------------------------
def conversation_page(config: Config, message_id: int) -> dict | None:
    """`inbox show ID`, or None when there is no such message."""
    if not has_ledger(config):
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
    value = (form.get(field) or "").strip()
    control = CONTROL.search(value)
    if control:
        # A shell argument cannot carry these; a form can.  In a content file a NUL makes it
        # "not a text file" for every later scan, so refuse it here, by name.
        raise BotError(f"{ACTIONS[action]}: the text holds the control character U+{ord(control.group()):04X}, "
                       "which cannot go in the record or a content file; remove it (paste as plain text)")
    if len(value) > longest:
        # Refused, never cut: a reply or note cut short says something else than was written.
        raise BotError(f"{ACTIONS[action]}: {len(value)} characters is more than this page takes "
                       f"({longest}); shorten it")
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
        # Pause is not the gate's (validate cannot see it) but it holds replies too: say so,
        # as `bot.py status` would, rather than "the reply can be sent".
        paused = ({"by": ledger.get_meta("paused_by"), "reason": ledger.get_meta("paused_reason")}
                  if ledger.get_meta("paused") == "1" else None)
    return {"message": commands.public_message(row, config.timezone), "paused": paused,
            **verdict(config, path, row["channel"])}


def verdict(config: Config, path: Path, channel: str) -> dict:
    checked = check(config.path, [str(path)])
    shown = _shown_path(path, config)
    # The file's own findings (named as the content repository knows it when the file could
    # not even be read as an item, e.g. a NUL byte), and its channel's settings (a channel
    # missing one cannot send); everything if config.toml itself could not be read.
    mine = {item.rel for item in checked.items} | {str(path), shown}
    problems = [p.as_dict() for p in checked.problems
                if checked.config is None or p.path in mine or (p.code == "config" and p.channel == channel)]
    return {"path": shown, "file_text": path.read_text(encoding="utf-8", errors="replace"),
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
    field = None                  # the form field a refusal is about, so the page says it there
    try:
        # A bad [inbox] hours is the CLI's one clear line here too, not a broken page.
        shown["office_hours"] = "-".join(t.strftime("%H:%M") for t in report.office_hours(config))
        field = "since"
        since = since_moment(since_text, config)
        field = "until"
        until = since_moment(until_text, config)
    except BotError as exc:
        return {**shown, "error": str(exc), "error_field": field, "channels": []}
    results = report.report(config, since, until, now=now) if has_ledger(config) else []
    return {**shown, "error": None, "error_field": None, "channels": results}
