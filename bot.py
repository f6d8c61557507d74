#!/usr/bin/env python3
"""civicpost command line: each command is a thin wrapper over one function in schedule/.

Run `python bot.py --help`, or `python bot.py COMMAND --help`.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime
from functools import wraps

import click

from schedule.errors import BotError


def _console(stderr: bool = False):
    from rich.console import Console
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def handled(command):
    """Any BotError becomes one line on stderr and exit status 1; never a traceback."""
    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BotError as exc:
            from schedule.secrets import mask
            click.echo(f"error: {mask(exc)}", err=True)
            sys.exit(1)
    return wrapper


def _config(ctx: click.Context):
    from schedule.config import load_config
    return load_config(ctx.obj["config"])


def _dump(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _date(value: str | None, tz) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: write it like 2027-03-01 or 2027-03-01T09:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


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
@click.pass_context
@handled
def preview(ctx: click.Context, paths: tuple[str, ...], channel: str | None, as_json: bool) -> None:
    """Show exactly what each channel will get: time, every part's text and length, media
    with alt text, and problems.  Exits 1 if any error.  Needs no credentials."""
    from schedule.preview import preview as run_preview, print_preview

    items, loose = run_preview(ctx.obj["config"], paths or None, channel)
    if as_json:
        _dump(items)
    else:
        print_preview(items, loose, _console())
    failed = any(p.level == "error" for p in loose) or any(
        pr["level"] == "error" for i in items for pr in i["problems"] + [x for v in i["variants"] for x in v["problems"]])
    sys.exit(1 if failed else 0)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of deliveries.")
@click.pass_context
@handled
def queue(ctx: click.Context, as_json: bool) -> None:
    """Every planned delivery (item x channel x time) from now on, in time order, with its state."""
    from schedule.listing import queue as run_queue

    rows = run_queue(_config(ctx))
    if as_json:
        _dump(rows)
        return
    _table(rows, "Queue", ("planned_at", "item", "channel", "state", "note"))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of deliveries.")
@click.option("--since", help="Only deliveries planned on or after this date (2027-03-01).")
@click.option("--dry-run", "dry_run", is_flag=True, help="Show the rehearsal ledger (run --dry-run) instead.")
@click.pass_context
@handled
def history(ctx: click.Context, as_json: bool, since: str | None, dry_run: bool) -> None:
    """What went out, where and when, with links (and what failed or was missed)."""
    from schedule.listing import history as run_history

    config = _config(ctx)
    if dry_run:
        from schedule.daemon import dry_run_config
        config = dry_run_config(config)
    rows = run_history(config, _date(since, config.timezone), include_dry_run=dry_run)
    if as_json:
        _dump(rows)
        return
    _table(rows, "History", ("planned_at", "posted_at", "item", "channel", "state", "url", "error"))


@cli.command()
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Rehearse: log every post and record it in a separate ledger file; post nothing.")
@click.pass_context
@handled
def run(ctx: click.Context, dry_run: bool) -> None:
    """Run the daemon: keep the ledger in step with content/ and publish each delivery on time.

    Stops cleanly on SIGTERM or Ctrl-C; SIGHUP reloads config.toml.
    """
    import logging
    from schedule.daemon import run as run_daemon
    from schedule.logs import setup_logging

    setup_logging(logging.INFO)
    sys.exit(run_daemon(ctx.obj["config"], dry_run=dry_run))


@cli.command()
@click.option("--reason", required=True, help="Why (recorded with your user name, shown in status).")
@click.pass_context
@handled
def pause(ctx: click.Context, reason: str) -> None:
    """Stop all posting now (the kill switch).  Deliveries that come due are held."""
    from schedule.operator import pause as run_pause

    result = run_pause(_config(ctx), reason)
    click.echo(f"Paused by {result['by']}: {reason}. Nothing will be posted until `python bot.py resume`.")
    _say_unscheduled(result["unscheduled"])


@cli.command()
@click.option("--reason", default="", help="Optional note recorded with the action.")
@click.pass_context
@handled
def resume(ctx: click.Context, reason: str) -> None:
    """Lift a pause.  Held deliveries still within grace go out; the rest are listed and
    need `release ID` to go out late."""
    from schedule.operator import resume as run_resume

    result = run_resume(_config(ctx), reason)
    click.echo(f"Resumed by {result['by']}. {len(result['released'])} held delivery(ies) released.")
    for row in result["still_held"]:
        click.echo(f"  still held: {row['id']} {row['item']} on {row['channel']} (planned {row['planned_at']}): "
                   f"release with `python bot.py release {row['id']}`")


@cli.command()
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--reason", default="", help="Optional note recorded with the action.")
@click.pass_context
@handled
def release(ctx: click.Context, ids: tuple[int, ...], reason: str) -> None:
    """Let held or missed deliveries (by id) go out now, late."""
    from schedule.operator import release as run_release

    for row in run_release(_config(ctx), list(ids), reason):
        click.echo(f"released {row['id']}: {row['item']} on {row['channel']}")


@cli.command()
@click.argument("delivery_id", metavar="ID", type=int)
@click.option("--reason", default="", help="Optional note recorded with the action.")
@click.pass_context
@handled
def retry(ctx: click.Context, delivery_id: int, reason: str) -> None:
    """Try a failed, uncertain or missed delivery again now.  For an `uncertain` one,
    first check the account by hand: it may already be posted."""
    from schedule.operator import retry as run_retry

    row = run_retry(_config(ctx), delivery_id, reason)
    click.echo(f"retrying {row['id']}: {row['item']} on {row['channel']}")


@cli.command()
@click.argument("delivery_id", metavar="ID", type=int)
@click.option("--reason", default="", help="Optional note recorded with the action.")
@click.pass_context
@handled
def cancel(ctx: click.Context, delivery_id: int, reason: str) -> None:
    """Cancel one delivery (it will not be posted).  To stop an item for good, delete its
    file or mark it draft: true."""
    from schedule.operator import cancel as run_cancel

    row = run_cancel(_config(ctx), delivery_id, reason)
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
@click.pass_context
@handled
def status(ctx: click.Context, as_json: bool) -> None:
    """Is the daemon running or paused, when did it last rescan, what is next, and what
    needs attention (failed, missed, uncertain, held; channels with bad credentials)."""
    from schedule.operator import status as run_status

    result = run_status(_config(ctx))
    if as_json:
        _dump(result)
        return
    state = "running" if result["running"] else "NOT running"
    if result["stalled"]:
        state = (f"STALLED: process {result['pid']} is there but has not written its ledger since "
                 f"{result['heartbeat_at']} (is the disk full? see its log)")
    if result["paused"]:
        state += f", PAUSED by {result['paused_by']}: {result['paused_reason']}"
    click.echo(f"civicpost: {state}; last rescan {result['last_rescan'] or 'never'}")
    for name, error in result["bad_credentials"].items():
        click.echo(f"bad credentials: {name}: {error}")
    _table(result["attention"], "Needs attention", ("planned_at", "item", "channel", "state", "error"))
    _table(result["next"], "Next", ("planned_at", "item", "channel", "state"))


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
                           + (f"; WARNING: {r['warning']}" if r["warning"] else ""))
    sys.exit(1 if any(r["error"] for r in results) else 0)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="csv for spreadsheets, json for archives.")
@click.option("--since", help="Only deliveries planned on or after this date (2027-01-01).")
@click.option("--until", help="Only deliveries planned before this date.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to this file instead of the screen.")
@click.pass_context
@handled
def export(ctx: click.Context, fmt: str, since: str | None, until: str | None, output: str | None) -> None:
    """Export the audit record: exact text posted, media and alt text, channel, planned
    and actual time, remote id and URL, author, approver, commit and every event."""
    from schedule.export import export as run_export

    config = _config(ctx)
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


def _table(rows: list[dict], title: str, columns: tuple[str, ...]) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("id")
    for column in columns:
        table.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(str(row.get("id") or "-"), *[_cell(row.get(c)) for c in columns])
    _console().print(table if rows else f"{title}: nothing to show")


def _cell(value) -> str:
    from rich.markup import escape

    if value is None:
        return ""
    text = str(value)
    if len(text) >= 19 and text[4] == "-" and text[10] == "T":
        return text[:16].replace("T", " ")
    return escape(text)          # ids, titles and errors are people's text, not rich markup


if __name__ == "__main__":
    cli()
