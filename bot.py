#!/usr/bin/env python3
"""civicpost command line: each command is a thin wrapper over one function in schedule/.

Run `python bot.py --help`, or `python bot.py COMMAND --help`.
"""
from __future__ import annotations

import sys

import click

from schedule.cli_support import console as _console, dump as _dump, handled, human, listing as _listing
from schedule.cli_support import load as _config, narrow_console as _narrow_console, parse_date as _date
from schedule.cli_support import rehearsal_option, table as _table
from schedule.inbox.cli import inbox


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", default="config.toml", show_default=True, envvar="CIVICPOST_CONFIG",
              help="Path to config.toml (relative paths inside it are relative to its folder).")
@click.pass_context
def cli(ctx: click.Context, config_path: str) -> None:
    """civicpost: scheduled, multi-channel posting for public-sector comms teams."""
    ctx.obj = {"config": config_path}


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of problems instead of lines.")
@click.pass_context
@handled
def validate(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Check config, templates and content files (all, or the PATHS named).

    Prints one line per problem, `path:line: error|warning: message`, and exits 1 if
    there is any error.  Needs no credentials and no network.
    """
    from schedule.validate import validate as run_validate

    problems = run_validate(ctx.obj["config"], paths or None, progress=not as_json)
    if as_json:
        _dump([p.as_dict() for p in problems])
    else:
        for problem in problems:
            click.echo(str(problem))
        errors = sum(p.level == "error" for p in problems)
        click.echo(f"{errors} error(s), {len(problems) - errors} warning(s)", err=True)
    sys.exit(1 if any(p.level == "error" for p in problems) else 0)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--channel", help="Only this channel (a [channels.NAME] in config.toml).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the formatted preview.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="markdown: for a pull-request comment (docs/content-ci.yml).")
@click.pass_context
@handled
def preview(ctx: click.Context, paths: tuple[str, ...], channel: str | None, as_json: bool, fmt: str) -> None:
    """Show exactly what each channel will get: time, every part's text and length, media
    with alt text, and problems.  Exits 1 if any error.  Needs no credentials."""
    from schedule.preview import preview as run_preview, print_preview

    items, loose = run_preview(ctx.obj["config"], paths or None, channel)
    if as_json or fmt == "json":
        _dump(items)
    elif fmt == "markdown":
        from schedule.preview_markdown import to_markdown, zone_of
        click.echo(to_markdown(items, loose, zone_of(ctx.obj["config"])), nl=False)
    else:
        print_preview(items, loose, _console())
    failed = any(p.level == "error" for p in loose) or any(
        pr["level"] == "error" for i in items for pr in i["problems"] + [x for v in i["variants"] for x in v["problems"]])
    sys.exit(1 if failed else 0)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of deliveries (one per channel).")
@click.option("--item", "item", help="Only this item id (or a pattern such as 'bins/*').")
@click.option("--channel", help="Only this channel (a [channels.NAME] in config.toml).")
@click.option("--until", help="Only deliveries planned before this date (2027-03-01 or 2027-03-01T09:00).")
@rehearsal_option
@click.pass_context
@handled
def queue(ctx: click.Context, as_json: bool, item: str | None, channel: str | None, until: str | None,
          dry_run: bool) -> None:
    """Everything planned from now on, in time order: one row per item and time, with its
    channels, their states and the delivery ids `cancel` takes."""
    from schedule.listing import by_item, print_queue, queue as run_queue

    config = _config(ctx, dry_run)
    rows = run_queue(config, item=item, channel=channel, until=_date(until, config.timezone))
    if as_json:
        _dump(rows)
        return
    print_queue(by_item(rows), config.timezone, _narrow_console())


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of deliveries.")
@click.option("--since", help="Only deliveries planned on or after this date (2027-03-01).")
@click.option("--dry-run", "dry_run", is_flag=True, help="Show the rehearsal ledger (run --dry-run) instead.")
@click.pass_context
@handled
def history(ctx: click.Context, as_json: bool, since: str | None, dry_run: bool) -> None:
    """What went out, where and when, with links (and what failed or was missed)."""
    from schedule.listing import history as run_history, print_history

    config = _config(ctx, dry_run)
    rows = run_history(config, _date(since, config.timezone), include_dry_run=dry_run)
    if as_json:
        _dump(rows)
        return
    print_history(rows, config.timezone, _narrow_console())


@cli.command()
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Rehearse: log every post and record it in a separate ledger file; post nothing.")
@click.option("--play-next", "play_next", type=click.IntRange(min=0), default=5, show_default=True,
              help="Rehearsal only: play the next N deliveries at once (a few seconds apart) instead of "
                   "waiting for their planned times, which stay as they are.  0: wait for each.")
@click.pass_context
@handled
def run(ctx: click.Context, dry_run: bool, play_next: int) -> None:
    """Run the daemon: keep the ledger in step with content/ and publish each delivery on time.

    Stops cleanly on SIGTERM or Ctrl-C; SIGHUP reloads config.toml.  With --dry-run it is
    a rehearsal: the operator commands take --dry-run too (and `pause` stops it as well).
    """
    import logging
    from schedule.daemon import run as run_daemon
    from schedule.logs import setup_logging

    setup_logging(logging.INFO)
    sys.exit(run_daemon(ctx.obj["config"], dry_run=dry_run, play_next=play_next if dry_run else 0))


@cli.command()
@click.option("--reason", required=True, help="Why (recorded with your user name, shown in status).")
@rehearsal_option
@click.pass_context
@handled
def pause(ctx: click.Context, reason: str, dry_run: bool) -> None:
    """Stop all posting now (the kill switch).  Deliveries that come due are held.  A
    running rehearsal is paused too; with --dry-run only the rehearsal is."""
    from schedule.operator import pause as run_pause

    result = run_pause(_config(ctx, dry_run), reason)
    what = "The rehearsal is paused" if dry_run else "Paused"
    click.echo(f"{what} by {result['by']}: {reason}. Nothing will be posted until "
               f"`python bot.py resume{' --dry-run' if dry_run else ''}`.")
    if result["rehearsal"]:
        click.echo(f"The running rehearsal (process {result['rehearsal']['pid']}) is paused too; "
                   "`python bot.py resume --dry-run` lifts that.")
    _say_unscheduled(result["unscheduled"])


@cli.command()
@click.option("--reason", default="", help="Optional note recorded with the action.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (for scripts): resume after listing what goes out.")
@rehearsal_option
@click.pass_context
@handled
def resume(ctx: click.Context, reason: str, yes: bool, dry_run: bool) -> None:
    """Lift a pause, after listing what would go out at once and asking.  Held deliveries
    still within grace go out; the rest are listed and need `release ID` to go out late."""
    from schedule.operator import resume as run_resume, resume_plan

    config = _config(ctx, dry_run)
    plan = resume_plan(config)
    tz = config.timezone
    if plan["paused"]:
        click.echo(f"Paused by {plan['paused_by']} since {human(plan['paused_at'], tz)}: {plan['paused_reason']}")
    elif not plan["at_once"]:
        click.echo("Posting is not paused: nothing to resume.")
        _rehearsal_still_paused(plan)
        return
    else:
        click.echo("Posting is not paused, but some deliveries are held.")
    _listing(plan["at_once"], f"{len(plan['at_once'])} held delivery(ies) will go out AT ONCE:", tz)
    _listing(plan["next_day"], "Then, in the next 24 hours:", tz)
    _listing(plan["still_held"], "Staying held (too late, or in a blackout; `release ID` sends one):", tz)
    if not yes:
        try:
            agreed = click.confirm("Resume posting?", default=False)
        except click.Abort:
            click.echo()                 # end the unanswered prompt's line
            click.echo("error: resume asks first and there is no one to answer: run it in a terminal, or "
                       "add --yes once you have read the list above", err=True)
            sys.exit(1)
        if not agreed:
            click.echo("Not resumed: posting is still paused.")
            sys.exit(1)
    result = run_resume(config, reason)
    click.echo(f"Resumed by {result['by']}. {len(result['released'])} held delivery(ies) released.")
    for row in result["still_held"]:
        click.echo(f"  still held: {row['id']} {row['item']} on {row['channel']} (planned "
                   f"{human(row['planned_at'], tz)}): release with `python bot.py release {row['id']}`")
    _rehearsal_still_paused(plan)


def _rehearsal_still_paused(plan: dict) -> None:
    if plan.get("rehearsal") and plan["rehearsal"]["paused"]:
        click.echo(f"The running rehearsal (process {plan['rehearsal']['pid']}) is still paused: "
                   "`python bot.py resume --dry-run` lifts that.")


@cli.command()
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--reason", default="", help="Optional note recorded with the action.")
@rehearsal_option
@click.pass_context
@handled
def release(ctx: click.Context, ids: tuple[int, ...], reason: str, dry_run: bool) -> None:
    """Let held or missed deliveries (by id) go out now, late."""
    from schedule.operator import release as run_release

    for row in run_release(_config(ctx, dry_run), list(ids), reason):
        click.echo(f"released {row['id']}: {row['item']} on {row['channel']}")


@cli.command()
@click.argument("delivery_id", metavar="ID", type=int)
@click.option("--reason", default="", help="Optional note recorded with the action.")
@rehearsal_option
@click.pass_context
@handled
def retry(ctx: click.Context, delivery_id: int, reason: str, dry_run: bool) -> None:
    """Try a failed, uncertain or missed delivery again now.  For an `uncertain` one,
    first check the account by hand: it may already be posted."""
    from schedule.operator import retry as run_retry

    row = run_retry(_config(ctx, dry_run), delivery_id, reason)
    click.echo(f"retrying {row['id']}: {row['item']} on {row['channel']}")


@cli.command()
@click.argument("delivery_id", metavar="ID", type=int)
@click.option("--reason", default="", help="Optional note recorded with the action.")
@rehearsal_option
@click.pass_context
@handled
def cancel(ctx: click.Context, delivery_id: int, reason: str, dry_run: bool) -> None:
    """Cancel one delivery (it will not be posted).  To stop an item for good, delete its
    file or mark it draft: true."""
    from schedule.operator import cancel as run_cancel

    row = run_cancel(_config(ctx, dry_run), delivery_id, reason)
    click.echo(f"cancelled {row['id']}: {row['item']} on {row['channel']}")
    _say_unscheduled([row["unscheduled"]] if row.get("unscheduled") else [])


def _say_unscheduled(results: list[dict]) -> None:
    """Videos uploaded ahead that YouTube would have published by itself (schedule/unschedule.py)."""
    for done in results:
        if done["unscheduled"]:
            click.echo(f"  un-scheduled on {done['channel']}: {done['item']} (delivery {done['id']}, video "
                       f"{done['remote_id']}, was due {done['planned_at']}) is private and will not go public")
        else:
            click.echo(f"  WARNING: {done['item']} on {done['channel']} (delivery {done['id']}): {done['error']}",
                       err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@rehearsal_option
@click.pass_context
@handled
def status(ctx: click.Context, as_json: bool, dry_run: bool) -> None:
    """Is the daemon running or paused, when did it last rescan, what is next, and what
    needs attention (blocked, held, failed, missed, uncertain; channels with bad credentials).
    Also says when a rehearsal (`run --dry-run`) is running."""
    from schedule.operator import status as run_status

    config = _config(ctx, dry_run)
    result = run_status(config)
    if as_json:
        _dump(result)
        return
    tz = config.timezone
    state = "running" if result["running"] else "NOT running"
    if result["stalled"]:
        state = (f"STALLED: process {result['pid']} is there but has not written its ledger since "
                 f"{human(result['heartbeat_at'], tz)} (is the disk full? see its log)")
    if result["paused"]:
        state += f", PAUSED by {result['paused_by']}: {result['paused_reason']}"
    name = "civicpost rehearsal (run --dry-run)" if dry_run else "civicpost"
    click.echo(f"{name}: {state}; last rescan {human(result['last_rescan'], tz) or 'never'}")
    if not result["ledger_exists"]:
        click.echo(f"No ledger yet ({result['ledger']}): nothing has run. `python bot.py queue` shows what is "
                   f"planned; `python bot.py run{' --dry-run' if dry_run else ''}` starts posting.")
    practice = result.get("rehearsal")
    if practice:
        click.echo(f"A rehearsal (run --dry-run) is running as process {practice['pid']}"
                   f"{', PAUSED' if practice['paused'] else ''}: `python bot.py status --dry-run` shows it; "
                   "`pause` stops it too.")
    for node in result.get("nodes", []):        # several daemons on PostgreSQL (#12)
        doing = ", ".join(f"{p['what']} (id {p['id']})" for p in node["publishing"]) or "nothing"
        click.echo(f"node {node['id']} (host {node['host']}, PID {node['pid']}): {node['state']}"
                   f"{', leader' if node['leader'] else ''}; heartbeat {human(node['heartbeat_at'], tz)}; "
                   f"publishing {doing}")
    for channel_name, error in result["bad_credentials"].items():
        click.echo(f"bad credentials: {channel_name}: {error}")
    _table(result["attention"], "Needs attention", ("planned_at", "item", "channel", "state", "error"), tz)
    _table(result["next"], "Next", ("planned_at", "item", "channel", "state"), tz)


@cli.group()
def ledger() -> None:
    """Commands about the ledger itself (the database of deliveries and their events)."""


@ledger.command("copy")
@click.option("--to", "target", required=True, metavar="URL",
              help="Where to copy: a postgresql://host/db url (no password in it) or a SQLite file path.")
@click.option("--from", "source", metavar="URL",
              help="Copy this ledger instead of the configured one ([database] url or [paths] database).")
@click.pass_context
@handled
def ledger_copy(ctx: click.Context, target: str, source: str | None) -> None:
    """Copy every delivery, part, event and setting into an empty ledger elsewhere.

    Moves a SQLite ledger into PostgreSQL and back, with the whole trail and the same ids.
    Stop the daemon first; then point [database] url at the copy.
    """
    from schedule.database import ledger_spec
    from schedule.ledger_copy import copy_ledger

    config = _config(ctx.find_root())
    counts = copy_ledger(source or ledger_spec(config), target, config.timezone)
    click.echo("copied " + ", ".join(f"{n} {table}" for table, n in counts.items()) + f" to {target}")


@cli.group()
def channels() -> None:
    """Commands about the configured channels (accounts on each network)."""


@channels.command("check")
@click.option("--channel", help="Only this channel.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@handled
def channels_check(ctx: click.Context, channel: str | None, as_json: bool) -> None:
    """Check each channel's credentials against its network (who am I, token expiry).

    Warns [channels_check] token_warn_days (default 14) before a token expires; exits 1
    if any channel fails.
    """
    from schedule.accounts import check_channels

    results = check_channels(_config(ctx.find_root()), channel)
    if as_json:
        _dump(results)
    else:
        for r in results:
            if r["error"]:
                click.echo(f"{r['channel']} ({r['network']}): FAILED: {r['error']}")
            else:
                expiry = f", token expires {r['expires_at'][:10]}" if r["expires_at"] else ""
                click.echo(f"{r['channel']} ({r['network']}): ok, {r['account']}{expiry}"
                           + (f"; WARNING: {r['warning']}" if r["warning"] else "")
                           + (f"; inbox: {r['inbox']}" if r.get("inbox") else "")
                           + (f"; direct messages: {r['inbox_direct']}" if r.get("inbox_direct") else ""))
    sys.exit(1 if any(r["error"] for r in results) else 0)


@cli.command()
@click.option("--listen", metavar="HOST:PORT", help="Where to listen, instead of [web] listen (default 127.0.0.1:8080).")
@click.pass_context
@handled
def serve(ctx: click.Context, listen: str | None) -> None:
    """Run the team's web page (Now, Calendar, previews, post history, pause/resume/release/cancel).

    Put it behind the council's single sign-on proxy: it believes the user named in
    [web] user_header only from [web] trusted_proxies.  Needs CIVICPOST_WEB_SECRET.
    """
    import logging
    from schedule.logs import setup_logging
    from schedule.web.server import serve as run_server

    setup_logging(logging.INFO)
    run_server(ctx.obj["config"], listen)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="csv for spreadsheets, json for archives.")
@click.option("--since", help="Only deliveries planned on or after this date (2027-01-01).")
@click.option("--until", help="Only deliveries planned before this date.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to this file instead of the screen.")
@click.option("--inbox", "inbox_records", is_flag=True, help="Export the inbox's messages (with versions, notes and "
              "events) instead of the deliveries.")
@click.pass_context
@handled
def export(ctx: click.Context, fmt: str, since: str | None, until: str | None, output: str | None,
           inbox_records: bool) -> None:
    """Export the audit record: exact text posted, media and alt text, channel, planned
    and actual time, remote id and URL, author, approver, commit and every event."""
    from schedule.export import export as run_export

    config = _config(ctx)
    if inbox_records:
        from schedule.inbox.records import export_inbox as run_export  # noqa: F811 - same shape, other records
    text = run_export(config, fmt, _date(since, config.timezone), _date(until, config.timezone))
    if output:
        with open(output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--ics", "ics_path", type=click.Path(dir_okay=False), help="Write an iCalendar file (Outlook etc.).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write a self-contained web page.")
@click.pass_context
@handled
def calendar(ctx: click.Context, ics_path: str | None, html_path: str | None) -> None:
    """Write the planned schedule (and the last two weeks) as a calendar file or a web page;
    held, failed and missed deliveries are marked."""
    from schedule.calendar_view import to_html, to_ics

    if not ics_path and not html_path:
        raise click.UsageError("give --ics OUT.ics and/or --html OUT.html")
    config = _config(ctx)
    if ics_path:
        with open(ics_path, "wb") as handle:
            handle.write(to_ics(config))
        click.echo(f"wrote {ics_path}", err=True)
    if html_path:
        with open(html_path, "w", encoding="utf-8") as handle:
            handle.write(to_html(config))
        click.echo(f"wrote {html_path}", err=True)


# The inbox's commands live beside the inbox (schedule/inbox/cli.py).
cli.add_command(inbox)


if __name__ == "__main__":
    cli()
