"""`bot.py inbox ...` (#11): thin wrappers over schedule/inbox/commands.py, kept beside the
inbox (bot.py registers the group) so the command line stays one short file per feature."""
from __future__ import annotations

import click

from ..cli_support import dump as _dump, handled, load as _config, parse_date as _date, table as _table


# ----- the inbox (#11): thin wrappers over schedule/inbox/commands.py ---------------------
@click.group(invoke_without_command=True)
@click.option("--state", help="new, assigned, answered or closed.")
@click.option("--channel", help="Only this channel (a [channels.NAME] in config.toml).")
@click.option("--item", help="Only replies to this content item (its id).")
@click.option("--flag", help="foi, complaint, urgent, abusive or welsh.")
@click.option("--since", help="Only messages written on or after this date (2027-03-01).")
@click.option("--limit", type=int, default=500, show_default=True, help="At most this many, newest first (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of messages.")
@click.pass_context
@handled
def inbox(ctx: click.Context, state, channel, item, flag, since, limit: int, as_json: bool) -> None:
    """What residents said back: replies, comments and mentions, newest first.

    Subcommands: fetch, show, assign, tag, note, close (each with --help)."""
    if ctx.invoked_subcommand is not None:
        return
    config = _config(ctx)
    if as_json:
        from schedule.inbox.commands import listed_json

        _write_list(listed_json(config, state, channel, item, flag, _date(since, config.timezone), limit))
        return
    from schedule.inbox.commands import list_messages

    rows = list_messages(config, state, channel, item, flag, _date(since, config.timezone), limit)
    for row in rows:
        row["flags_tags"] = " ".join(row["flags"] + [f"#{t}" for t in row["tags"]])
        row["text"] = (row["text"] or "")[:120] + (" [deleted]" if row["deleted"] else "")
    _table(rows, "Inbox", ("created_at", "channel", "item", "author", "state", "assignee", "flags_tags", "text"),
           config.timezone)


def _write_list(batches) -> None:
    """A JSON list, one message a line, each line compact JSON (docs/inbox.md), written a
    batch at a time as `listed_json` encodes them (orjson: a tenth of json's time), so the
    output starts before the last row is read and 100,000 messages never sit in memory."""
    first = True
    for lines in batches:
        if lines:
            click.echo((b"[\n  " if first else b",\n  ") + lines, nl=False)
            first = False
    click.echo(b"[]" if first else b"\n]")


def _inbox_action(ctx: click.Context, fn, *args, as_json: bool) -> None:
    row = fn(_config(ctx.find_root()), *args)
    if as_json:
        _dump(row)
    else:
        click.echo(f"{row['id']}: {row['state']}" + (f", assigned to {row['assignee']}" if row["assignee"] else "")
                   + (f", tags {' '.join(row['tags'])}" if row["tags"] else ""))


@inbox.command("fetch")
@click.option("--channel", help="Only this channel.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handled
def inbox_fetch(ctx: click.Context, channel: str | None, as_json: bool) -> None:
    """Read new replies, comments and mentions from every enabled channel now (one pass)."""
    from schedule.inbox.commands import fetch

    results = fetch(_config(ctx.find_root()), channel)
    if as_json:
        _dump(results)
        return
    for r in results:
        problems = "; ".join(r["errors"] + r["skipped"])
        click.echo(f"{r['channel']}: {r['new']} new, {r['edited']} edited, {r['deleted']} deleted, "
                   f"{r['answered']} answered" + (f" ({problems})" if problems else ""))


@inbox.command("show")
@click.argument("message_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handled
def inbox_show(ctx: click.Context, message_id: int, as_json: bool) -> None:
    """The whole conversation of message ID, with the council's original post."""
    from schedule.inbox.commands import show

    data = show(_config(ctx.find_root()), message_id)
    if as_json:
        _dump(data)
        return
    if data["original"]:
        o = data["original"]
        click.echo(f"Council post ({o['item']} on {o['channel']}, {o['posted_at']}): {o['url'] or ''}")
        click.echo(f"  {o['text'] or ''}")
    for m in data["conversation"]:
        mark = ">" if m["id"] == message_id else " "
        who = "council" if m["own"] else m["author"]
        click.echo(f"{mark} [{m['id']}] {m['created_at']} {who}: {m['text']}" + (" [deleted]" if m["deleted"] else ""))
    m = data["message"]
    click.echo(f"state {m['state']}; flags {', '.join(m['flags']) or '-'}; tags {', '.join(m['tags']) or '-'}"
               + (f"; FOI due {m['foi_due']}" if m["foi_due"] else "") + (f"; language {m['language']}"
                                                                            if m["language"] else ""))
    for n in data["notes"]:
        click.echo(f"note ({n['actor']}, {n['at'][:16]}): {n['text']}")


@inbox.command("assign")
@click.argument("message_id", metavar="ID", type=int)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the message as JSON.")
@click.pass_context
@handled
def inbox_assign(ctx: click.Context, message_id: int, name: str, as_json: bool) -> None:
    """Give message ID to NAME (recorded with your user name)."""
    from schedule.inbox.commands import assign

    _inbox_action(ctx, assign, message_id, name, as_json=as_json)


@inbox.command("tag")
@click.argument("message_id", metavar="ID", type=int)
@click.argument("tag")
@click.option("--json", "as_json", is_flag=True, help="Print the message as JSON.")
@click.pass_context
@handled
def inbox_tag(ctx: click.Context, message_id: int, tag: str, as_json: bool) -> None:
    """Add TAG (letters, digits, - or _) to message ID."""
    from schedule.inbox.commands import tag as run_tag

    _inbox_action(ctx, run_tag, message_id, tag, as_json=as_json)


@inbox.command("note")
@click.argument("message_id", metavar="ID", type=int)
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print the message as JSON.")
@click.pass_context
@handled
def inbox_note(ctx: click.Context, message_id: int, text: str, as_json: bool) -> None:
    """Add an internal note to message ID (never posted)."""
    from schedule.inbox.commands import note

    _inbox_action(ctx, note, message_id, text, as_json=as_json)


@inbox.command("close")
@click.argument("message_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="Why no (further) answer is needed; recorded with your name.")
@click.option("--json", "as_json", is_flag=True, help="Print the message as JSON.")
@click.pass_context
@handled
def inbox_close(ctx: click.Context, message_id: int, reason: str, as_json: bool) -> None:
    """Close message ID without a reply."""
    from schedule.inbox.commands import close

    _inbox_action(ctx, close, message_id, reason, as_json=as_json)


@inbox.command("reply")
@click.argument("message_id", metavar="ID", type=int)
@click.option("--text", required=True, help="The reply.  In Welsh for a Welsh message (Welsh Language Standards).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with the file written.")
@click.pass_context
@handled
def inbox_reply(ctx: click.Context, message_id: int, text: str, as_json: bool) -> None:
    """Write a reply to message ID as a content file (content/replies/...md, in_reply_to:).

    It goes through the same checks as every post (validate, approval when [inbox]
    reply_approval = true, blackout, pause); the daemon sends it as a native reply."""
    from schedule.inbox.replies import reply_file
    from schedule.ledger import operator

    path = reply_file(_config(ctx.find_root()), message_id, text, author=operator())
    if as_json:
        _dump({"message": message_id, "path": str(path)})
    else:
        click.echo(f"wrote {path}: commit it like any post; check it with `python bot.py validate {path}`")


@inbox.command("hide")
@click.argument("message_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="Why (e.g. the house rule); recorded with your name.")
@click.option("--json", "as_json", is_flag=True, help="Print the message as JSON.")
@click.pass_context
@handled
def inbox_hide(ctx: click.Context, message_id: int, reason: str, as_json: bool) -> None:
    """Hide message ID on its network where it allows (Facebook, Instagram, Threads, YouTube,
    X); its full text is recorded first and stays in the ledger."""
    from schedule.inbox.commands import public_message
    from schedule.inbox.moderate import hide
    from schedule.ledger import operator

    config = _config(ctx.find_root())
    row = public_message(hide(config, message_id, reason, operator()), config.timezone)
    if as_json:
        _dump(row)
    else:
        click.echo(f"{row['id']}: hidden on {row['channel']}; its text stays on record")


@inbox.command("report")
@click.option("--since", help="Messages written on or after this date (2027-03-01).")
@click.option("--until", help="Messages written before this date.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write a page with charts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handled
def inbox_report(ctx: click.Context, since, until, html_path, as_json: bool) -> None:
    """Per channel: first-response time in office hours (median, p90), the share answered
    within [inbox] target_hours, volumes by item and flag, and the oldest unanswered."""
    from schedule.inbox.report import report, to_html

    config = _config(ctx.find_root())
    results = report(config, _date(since, config.timezone), _date(until, config.timezone))
    if html_path:
        with open(html_path, "w", encoding="utf-8") as handle:
            handle.write(to_html(results))
        click.echo(f"wrote {html_path}", err=True)
    if as_json:
        _dump(results)
        return
    for r in results:
        fr = r["first_response_office_hours"]
        share = "-" if r["answered_within_target"] is None else f"{r['answered_within_target'] * 100:.0f}%"
        click.echo(f"{r['channel']}: {r['messages']} messages {r['states']}; first response median "
                   f"{fr['median']} h, p90 {fr['p90']} h (office hours); within {r['target_hours']:g} h: {share}")
        if r["oldest_unanswered"]:
            o = r["oldest_unanswered"]
            click.echo(f"  oldest unanswered: {o['id']} from {o['author']} ({o['office_hours_waiting']} office hours)")


@inbox.command("forget")
@click.option("--author", required=True, help="The handle or name, as `inbox` shows it.")
@click.option("--reason", default="", help="E.g. the erasure request's reference.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handled
def inbox_forget(ctx: click.Context, author: str, reason: str, as_json: bool) -> None:
    """Erase one person's messages (an erasure request): text, author and link are blanked,
    counts and response times are kept, and the erasure is recorded."""
    from schedule.inbox.records import forget
    from schedule.ledger import operator

    count = forget(_config(ctx.find_root()), author, operator(), reason)
    if as_json:
        _dump({"author": author, "erased": count})
    else:
        click.echo(f"erased {count} message(s) by {author}")
