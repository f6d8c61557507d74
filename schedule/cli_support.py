"""What every command of the command line shares: one-line errors, the config, dates, JSON
and tables.  bot.py and the command groups that live beside their feature (the inbox's
`schedule/inbox/cli.py`) import these, so every command prints and fails the same way."""
from __future__ import annotations

import json
import sys
from datetime import datetime
from functools import wraps

import click

from .errors import BotError


def console(stderr: bool = False):
    from rich.console import Console
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def handled(command):
    """Any BotError becomes one line on stderr and exit status 1; never a traceback."""
    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BotError as exc:
            from .secrets import mask
            click.echo(f"error: {mask(exc)}", err=True)
            sys.exit(1)
    return wrapper


def load(ctx: click.Context, dry_run: bool = False):
    from .config import load_config
    from .rehearsal import for_rehearsal
    return for_rehearsal(load_config(ctx.obj["config"]), dry_run)


def rehearsal_option(command):
    """`--dry-run`: act on the rehearsal's ledger (`run --dry-run`) instead of the real one."""
    return click.option("--dry-run", "dry_run", is_flag=True,
                        help="Act on the rehearsal (`run --dry-run`, its own ledger file) instead.")(command)


def dump(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def parse_date(value: str | None, tz) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: write it like 2027-03-01 or 2027-03-01T09:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def human(moment, tz) -> str:
    from .timeutil import human as local_time
    return local_time(moment, tz)


def listing(rows: list[dict], heading: str, tz) -> None:
    if not rows:
        return
    click.echo(heading)
    for row in rows:
        title = f": {row['title']}" if row.get("title") else ""
        click.echo(f"  {row['id']}  {human(row['planned_at'], tz)}  {row['item']} on {row['channel']}{title}")


def narrow_console():
    """At most 80 columns: a table that fits a standard terminal and an email."""
    screen = console()
    screen.width = min(screen.width, 80)
    return screen


def table(rows: list[dict], title: str, columns: tuple[str, ...], tz) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    table.add_column("id")
    for column in columns:
        table.add_column(column.replace("_", " "), overflow="fold", no_wrap=column.endswith("_at"))
    for row in rows:
        # Text, not markup: ids, titles and errors are shown as written ("[draft]" stays).
        table.add_row(str(row.get("id") or "-"), *[Text(cell(row.get(c), c, tz)) for c in columns])
    narrow_console().print(table if rows else f"{title}: nothing to show")


def cell(value, column: str, tz) -> str:
    if value is None:
        return ""
    return human(value, tz) if column.endswith("_at") else str(value)
