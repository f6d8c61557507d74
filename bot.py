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
    if value is None:
        return ""
    text = str(value)
    if len(text) >= 19 and text[4] == "-" and text[10] == "T":
        return text[:16].replace("T", " ")
    return text


if __name__ == "__main__":
    cli()
